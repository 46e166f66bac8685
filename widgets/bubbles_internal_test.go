package widgets

import (
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateBubbles = flag.Bool("update-bubbles", false, "rewrite the bubbles image goldens")

func newTestBubbles(t *testing.T) (*Bubbles, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	b := NewBubbles()
	b.manual = true
	w := test.NewTempWindow(t, b)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(300, 300))
	return b, w
}

func settle(b *Bubbles) {
	for i := 0; i < 100 && b.Tick(0.05); i++ {
	}
}

// shown returns the circles on screen by key, in pixels.
func shown(b *Bubbles) map[string]circle {
	cx, cy, unit := b.geometry(b.Size())
	out := map[string]circle{}
	for _, it := range b.items {
		c := it.at(b.progress)
		out[it.b.Key] = circle{cx + c.x*unit, cy + c.y*unit, c.r * unit, c.a}
	}
	return out
}

func procs(kv ...any) []Bubble {
	var out []Bubble
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		out = append(out, Bubble{Key: k, Label: k, Detail: "x/s", Value: kv[i+1].(float64), Color: ColorFor(k)})
	}
	return out
}

func TestBubblesAreaFollowsValueWithoutOverlap(t *testing.T) {
	b, _ := newTestBubbles(t)
	values := procs("nginx", 900.0, "postgres", 400.0, "sshd", 100.0, "cron", 25.0, "bash", 225.0, "python3", 49.0, "systemd", 4.0)
	b.SetBubbles(values)
	settle(b)
	got := shown(b)
	require.Len(t, got, len(values))
	for _, v := range values {
		c := got[v.Key]
		// area ∝ value: r²/value is the same for all.
		assert.InDelta(t, got["nginx"].r*got["nginx"].r/900, c.r*c.r/v.Value, 1e-6, v.Key)
		assert.InDelta(t, 1, c.a, 1e-9, "fully shown")
		assert.GreaterOrEqual(t, c.x-c.r, -0.5, "%s inside", v.Key)
		assert.LessOrEqual(t, c.x+c.r, 300.5, "%s inside", v.Key)
		assert.GreaterOrEqual(t, c.y-c.r, -0.5, "%s inside", v.Key)
		assert.LessOrEqual(t, c.y+c.r, 300.5, "%s inside", v.Key)
	}
	for _, a := range values {
		for _, o := range values {
			if a.Key < o.Key {
				ca, co := got[a.Key], got[o.Key]
				assert.GreaterOrEqual(t, math.Hypot(ca.x-co.x, ca.y-co.y), ca.r+co.r, "%s and %s overlap", a.Key, o.Key)
			}
		}
	}
	assert.Greater(t, got["nginx"].r, 60.0, "the packing fills the widget")
}

func TestBubblesGrowShrinkAppearAndFade(t *testing.T) {
	b, _ := newTestBubbles(t)
	b.SetBubbles(procs("a", 400.0, "b", 100.0))
	settle(b)
	before := shown(b)

	// a slows down, b works harder, c starts.
	b.SetBubbles(procs("a", 100.0, "b", 400.0, "c", 100.0))
	b.Tick(BubbleMove.Seconds() / 2)
	mid := shown(b)
	assert.True(t, b.Animating())
	assert.Less(t, mid["a"].r, before["a"].r, "a shrinks")
	assert.Greater(t, mid["b"].r, before["b"].r, "b grows")
	assert.Greater(t, mid["c"].a, 0.0, "c appears")
	assert.Less(t, mid["c"].a, 1.0, "c fades in")
	settle(b)
	after := shown(b)
	assert.False(t, b.Animating())
	assert.InDelta(t, after["b"].r, before["a"].r, 1e-6, "b now has a's old size")
	assert.InDelta(t, after["a"].r, after["c"].r, 1e-6)

	// b exits: it fades out where it is, then is gone.
	b.SetBubbles(procs("a", 100.0, "c", 100.0, "b", 0.0))
	b.Tick(BubbleMove.Seconds() / 2)
	fading := shown(b)
	require.Contains(t, fading, "b")
	assert.Less(t, fading["b"].a, 1.0)
	assert.InDelta(t, after["b"].x, fading["b"].x, 1e-6, "it fades in place")
	settle(b)
	assert.NotContains(t, shown(b), "b", "removed once faded")
	assert.NotEqual(t, "b", b.At(fyne.NewPos(float32(fading["b"].x), float32(fading["b"].y))), "a faded bubble cannot be tapped")
}

func TestBubblesShrinkWhenEverythingGetsQuieter(t *testing.T) {
	b, _ := newTestBubbles(t)
	b.SetBubbles(procs("a", 400.0))
	settle(b)
	loud := shown(b)["a"].r
	b.SetBubbles(procs("a", 100.0))
	settle(b)
	quiet := shown(b)["a"].r
	assert.Less(t, quiet, loud*0.7, "a quarter of the rate is drawn smaller")
	for i := 0; i < 30; i++ {
		b.SetBubbles(procs("a", 100.0))
		settle(b)
	}
	assert.InDelta(t, loud, shown(b)["a"].r, 1, "a steady rate fills the view again")
}

func TestBubblesTap(t *testing.T) {
	b, _ := newTestBubbles(t)
	var tapped []string
	b.OnTapped = func(key string) { tapped = append(tapped, key) }
	b.SetBubbles(procs("big", 900.0, "small", 100.0))
	settle(b)
	s, big := shown(b)["small"], shown(b)["big"]
	b.Tapped(&fyne.PointEvent{Position: fyne.NewPos(float32(big.x), float32(big.y))})
	b.Tapped(&fyne.PointEvent{Position: fyne.NewPos(float32(s.x), float32(s.y))})
	b.Tapped(&fyne.PointEvent{Position: fyne.NewPos(1, 1)})
	assert.Equal(t, []string{"big", "small", ""}, tapped)
	assert.Equal(t, "", b.Selected())
}

func TestBubblesEmpty(t *testing.T) {
	b, w := newTestBubbles(t)
	b.SetBubbles(nil)
	settle(b)
	assert.Empty(t, b.items)
	found := false
	for _, o := range test.LaidOutObjects(w.Content()) {
		if tt, ok := o.(*canvas.Text); ok && tt.Text == "no activity yet" {
			found = true
		}
	}
	assert.True(t, found, "an empty view says so")
}

func TestPackManyWithoutOverlap(t *testing.T) {
	var items []Bubble
	for i := 0; i < 60; i++ {
		items = append(items, Bubble{Key: string(rune('A' + i)), Value: float64(1 + (i*37)%500)})
	}
	pos, extent := pack(items)
	for i := range pos {
		assert.LessOrEqual(t, math.Abs(pos[i].x)+pos[i].r, extent+1e-9)
		assert.LessOrEqual(t, math.Abs(pos[i].y)+pos[i].r, extent+1e-9)
		for j := i + 1; j < len(pos); j++ {
			d := math.Hypot(pos[i].x-pos[j].x, pos[i].y-pos[j].y)
			require.GreaterOrEqual(t, d, pos[i].r+pos[j].r-1e-9, "%d and %d overlap", i, j)
		}
	}
	// Compact: the circles cover a good part of the enclosing circle.
	var area float64
	for _, p := range pos {
		area += p.r * p.r
	}
	assert.Greater(t, math.Pi*area/(4*extent*extent), 0.5, "covers over half the square")
}

func TestBubblesImages(t *testing.T) {
	b, w := newTestBubbles(t)
	b.SetBubbles(procs("nginx", 900.0, "postgres", 400.0, "sshd", 100.0, "bash", 225.0))
	settle(b)
	b.Select("postgres")
	b.SetBubbles(procs("nginx", 300.0, "postgres", 700.0, "bash", 225.0, "python3", 400.0))
	b.Tick(BubbleMove.Seconds() / 2)
	assertImage(t, w, "bubbles_mid_move.png")
	settle(b)
	assertImage(t, w, "bubbles_settled.png")
}

func assertImage(t *testing.T, w fyne.Window, name string) {
	t.Helper()
	img := w.Canvas().Capture()
	if *updateBubbles {
		f, err := os.Create(filepath.Join("testdata", name))
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, img))
		require.NoError(t, f.Close())
	}
	test.AssertImageMatches(t, name, img)
}
