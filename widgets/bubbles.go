package widgets

import (
	"cmp"
	"hash/fnv"
	"image/color"
	"math"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Bubble is one circle of a Bubbles view.
type Bubble struct {
	Key    string // identity across updates (e.g. "pid:comm")
	Label  string // first line, e.g. the process name
	Detail string // second line, e.g. "1.2k/s"
	Value  float64
	Color  color.Color
}

// Bubbles draws one circle per item, its area proportional to its value,
// packed without overlap around the centre. Between updates the circles
// move, grow and shrink smoothly; new ones grow from nothing, and ones no
// longer given (or with a value of 0) fade out.
type Bubbles struct {
	widget.BaseWidget

	// OnTapped is called with the key of the bubble tapped, or "" for
	// empty space.
	OnTapped func(key string)

	items    []*bubble
	byKey    map[string]*bubble
	selected string
	// ref is the radius, in sqrt(value) units, that fills the widget: it
	// follows the packing's size up at once and down slowly, so that
	// circles shrink when everything gets quieter.
	ref float64

	progress float64 // of the current move, 0 to 1
	anim     *fyne.Animation
	lastAni  time.Time
	manual   bool // tests step time with Tick; no fyne.Animation runs
}

var (
	_ fyne.Widget   = (*Bubbles)(nil)
	_ fyne.Tappable = (*Bubbles)(nil)
)

// BubbleMove is how long a move between two updates takes.
const BubbleMove = 600 * time.Millisecond

// refDecay is how much of the old fill radius is kept per update when the
// packing got smaller.
const refDecay = 0.85

// circle is a bubble's place: centre and radius in units of the fill
// radius (the packing fits in the unit circle), and opacity.
type circle struct{ x, y, r, a float64 }

func (c circle) lerp(d circle, t float64) circle {
	return circle{blerp(c.x, d.x, t), blerp(c.y, d.y, t), blerp(c.r, d.r, t), blerp(c.a, d.a, t)}
}

func blerp(a, b, t float64) float64 {
	return a + (b-a)*t
}

type bubble struct {
	b        Bubble
	from, to circle
	gone     bool // fading out; removed when the move ends
}

func (b *bubble) at(t float64) circle { return b.from.lerp(b.to, ease(t)) }

// ease is a smooth start and stop.
func ease(t float64) float64 {
	t = math.Max(0, math.Min(1, t))
	return t * t * (3 - 2*t)
}

// NewBubbles returns an empty bubble view.
func NewBubbles() *Bubbles {
	b := &Bubbles{byKey: map[string]*bubble{}, progress: 1}
	b.ExtendBaseWidget(b)
	return b
}

// SetBubbles starts a move to items. Call on the UI goroutine.
func (b *Bubbles) SetBubbles(items []Bubble) {
	now := b.progress
	for _, it := range b.items {
		it.from = it.at(now)
	}
	b.progress = 0
	seen := map[string]bool{}
	var live []Bubble
	for _, it := range items {
		if it.Value > 0 && !seen[it.Key] {
			seen[it.Key] = true
			live = append(live, it)
		}
	}
	pos, extent := pack(live)
	if extent > b.ref {
		b.ref = extent
	} else {
		b.ref = math.Max(extent, b.ref*refDecay)
	}
	scale := 1.0
	if b.ref > 0 {
		scale = 1 / b.ref
	}
	var keep []*bubble
	for i, it := range live {
		p := pos[i]
		to := circle{p.x * scale, p.y * scale, p.r * scale, 1}
		bb := b.byKey[it.Key]
		if bb == nil || bb.gone && bb.from.a < 0.05 {
			bb = &bubble{from: circle{to.x, to.y, 0, 0}}
			b.byKey[it.Key] = bb
		}
		bb.b, bb.to, bb.gone = it, to, false
		keep = append(keep, bb)
	}
	for _, old := range b.items {
		if seen[old.b.Key] {
			continue
		}
		if old.from.a < 0.01 {
			delete(b.byKey, old.b.Key)
			continue
		}
		old.gone = true
		old.to = circle{old.from.x, old.from.y, 0, 0}
		keep = append(keep, old)
	}
	b.items = keep
	b.Refresh()
	b.startAnimation()
}

// Tick advances the move by dt seconds; it reports whether there is more
// to animate.
func (b *Bubbles) Tick(dt float64) bool {
	if b.progress < 1 {
		b.progress = math.Min(1, b.progress+dt/BubbleMove.Seconds())
		if b.progress >= 1 {
			keep := b.items[:0]
			for _, it := range b.items {
				if it.gone {
					delete(b.byKey, it.b.Key)
					continue
				}
				keep = append(keep, it)
			}
			b.items = keep
		}
		b.Refresh()
	}
	return b.progress < 1
}

// Animating reports whether a move is under way.
func (b *Bubbles) Animating() bool { return b.progress < 1 }

func (b *Bubbles) startAnimation() {
	if b.anim != nil || b.manual || !b.Animating() {
		return
	}
	b.lastAni = time.Now()
	b.anim = fyne.NewAnimation(time.Hour, func(float32) {
		now := time.Now()
		dt := now.Sub(b.lastAni).Seconds()
		b.lastAni = now
		if !b.Tick(dt) && b.anim != nil {
			a := b.anim
			b.anim = nil
			a.Stop()
		}
	})
	b.anim.Curve = fyne.AnimationLinear
	b.anim.Start()
}

// Select outlines the bubble with key ("" for none) without calling
// OnTapped.
func (b *Bubbles) Select(key string) {
	b.selected = key
	b.Refresh()
}

// Selected returns the selected key.
func (b *Bubbles) Selected() string { return b.selected }

// geometry maps unit coordinates to the widget: centre and pixels per unit.
func (b *Bubbles) geometry(size fyne.Size) (cx, cy, unit float64) {
	cx, cy = float64(size.Width)/2, float64(size.Height)/2
	unit = math.Max(0, math.Min(cx, cy)-4)
	return
}

// At returns the key of the bubble at pos, or "".
func (b *Bubbles) At(pos fyne.Position) string {
	cx, cy, unit := b.geometry(b.Size())
	best, bestR := "", math.Inf(1)
	for _, it := range b.items {
		if it.gone {
			continue
		}
		c := it.at(b.progress)
		x, y, r := cx+c.x*unit, cy+c.y*unit, c.r*unit
		if math.Hypot(float64(pos.X)-x, float64(pos.Y)-y) <= r && r < bestR {
			best, bestR = it.b.Key, r
		}
	}
	return best
}

// Tapped selects the bubble under the pointer and calls OnTapped.
func (b *Bubbles) Tapped(ev *fyne.PointEvent) {
	key := b.At(ev.Position)
	b.Select(key)
	if b.OnTapped != nil {
		b.OnTapped(key)
	}
}

// CreateRenderer is part of fyne.Widget.
func (b *Bubbles) CreateRenderer() fyne.WidgetRenderer {
	r := &bubblesRenderer{b: b}
	r.empty = canvas.NewText("", theme.Color(theme.ColorNamePlaceHolder))
	r.empty.Alignment = fyne.TextAlignCenter
	return r
}

type bubbleObjs struct {
	circle        *canvas.Circle
	label, detail *canvas.Text
}

type bubblesRenderer struct {
	b     *Bubbles
	objs  []bubbleObjs
	empty *canvas.Text
	all   []fyne.CanvasObject
}

var _ fyne.WidgetRenderer = (*bubblesRenderer)(nil)

func (r *bubblesRenderer) Layout(fyne.Size) { r.Refresh() }

func (r *bubblesRenderer) MinSize() fyne.Size { return fyne.NewSize(120, 120) }

func (r *bubblesRenderer) Objects() []fyne.CanvasObject { return r.all }

func (r *bubblesRenderer) Destroy() {
	if a := r.b.anim; a != nil {
		r.b.anim = nil
		a.Stop()
	}
}

func withAlpha(c color.Color, a float64) color.Color {
	if c == nil {
		c = theme.Color(theme.ColorNamePrimary)
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	n.A = uint8(math.Round(float64(n.A) * math.Max(0, math.Min(1, a))))
	return n
}

func (r *bubblesRenderer) Refresh() {
	b := r.b
	size := b.Size()
	cx, cy, unit := b.geometry(size)
	for len(r.objs) < len(b.items) {
		o := bubbleObjs{circle: &canvas.Circle{}, label: canvas.NewText("", color.Black), detail: canvas.NewText("", color.Black)}
		o.label.Alignment, o.detail.Alignment = fyne.TextAlignCenter, fyne.TextAlignCenter
		o.label.TextStyle.Bold = true
		r.objs = append(r.objs, o)
	}
	// Draw the small ones last, so none hides under a big one mid-move.
	order := make([]int, len(b.items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(b.items[j].to.r, b.items[i].to.r) })
	r.all = r.all[:0]
	fg := theme.Color(theme.ColorNameForeground)
	textSize := float64(theme.TextSize())
	for k, i := range order {
		it, o := b.items[i], r.objs[k]
		c := it.at(b.progress)
		x, y, rad := cx+c.x*unit, cy+c.y*unit, c.r*unit
		o.circle.FillColor = withAlpha(it.b.Color, 0.75*c.a)
		o.circle.StrokeColor = withAlpha(it.b.Color, c.a)
		o.circle.StrokeWidth = 1
		if it.b.Key == b.selected && !it.gone {
			o.circle.StrokeColor = withAlpha(fg, c.a)
			o.circle.StrokeWidth = 3
		}
		o.circle.Position1 = fyne.NewPos(float32(x-rad), float32(y-rad))
		o.circle.Position2 = fyne.NewPos(float32(x+rad), float32(y+rad))
		o.circle.Refresh()
		r.all = append(r.all, o.circle)

		// Text scales with the circle and is left out when it cannot fit.
		ts := math.Max(9, math.Min(textSize*1.3, rad/3))
		label := fitText(it.b.Label, 1.8*rad, ts)
		if rad >= 16 && label != "" {
			o.label.Text, o.label.TextSize, o.label.Color = label, float32(ts), withAlpha(fg, c.a)
			lh := o.label.MinSize().Height
			o.detail.Text, o.detail.TextSize, o.detail.Color = fitText(it.b.Detail, 1.8*rad, ts*0.8), float32(ts*0.8), withAlpha(fg, 0.8*c.a)
			dh := o.detail.MinSize().Height
			if rad < 28 {
				o.detail.Text, dh = "", 0
			}
			top := float32(y) - (lh+dh)/2
			o.label.Move(fyne.NewPos(float32(x-rad), top))
			o.label.Resize(fyne.NewSize(float32(2*rad), lh))
			o.detail.Move(fyne.NewPos(float32(x-rad), top+lh))
			o.detail.Resize(fyne.NewSize(float32(2*rad), dh))
			o.label.Refresh()
			o.detail.Refresh()
			r.all = append(r.all, o.label, o.detail)
		}
	}
	if len(b.items) == 0 {
		r.empty.Text = "no activity yet"
		r.empty.Color = theme.Color(theme.ColorNamePlaceHolder)
		r.empty.Move(fyne.NewPos(0, float32(cy)-10))
		r.empty.Resize(fyne.NewSize(size.Width, 20))
		r.empty.Refresh()
		r.all = append(r.all, r.empty)
	}
}

// fitText cuts s to about width pixels at text size ts, with an ellipsis.
func fitText(s string, width, ts float64) string {
	maxRunes := int(width / (ts * 0.6))
	rs := []rune(s)
	if len(rs) <= maxRunes {
		return s
	}
	if maxRunes < 3 {
		return ""
	}
	return string(rs[:maxRunes-1]) + "…"
}

// placed is a packed circle, in sqrt(value) units.
type placed struct{ x, y, r float64 }

// pack places circles of area proportional to the items' values without
// overlap, as close to the origin as it can, biggest first, then centres
// them. It returns the circles in the items' order and the half-side of the
// origin-centred square holding them all.
func pack(items []Bubble) ([]placed, float64) {
	n := len(items)
	out := make([]placed, n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if c := cmp.Compare(items[b].Value, items[a].Value); c != 0 {
			return c
		}
		return cmp.Compare(items[a].Key, items[b].Key)
	})
	const gap = 0.04 // between circles, in units of the smaller radius
	var done []placed
	fits := func(p placed) bool {
		for _, q := range done {
			if math.Hypot(p.x-q.x, p.y-q.y) < p.r+q.r+gap*math.Min(p.r, q.r)-1e-9 {
				return false
			}
		}
		return true
	}
	for _, i := range idx {
		r := math.Sqrt(items[i].Value)
		p := placed{0, 0, r}
		if len(done) > 0 {
			best, bestD := placed{}, math.Inf(1)
			try := func(x, y float64) {
				q := placed{x, y, r}
				if d := math.Hypot(x, y); d < bestD && fits(q) {
					best, bestD = q, d
				}
			}
			for a, qa := range done {
				da := qa.r + r + gap*math.Min(qa.r, r)
				// Touching one circle, at a few angles.
				for k := 0; k < 12; k++ {
					ang := float64(k) * math.Pi / 6
					try(qa.x+da*math.Cos(ang), qa.y+da*math.Sin(ang))
				}
				// Touching two circles.
				for _, qb := range done[a+1:] {
					db := qb.r + r + gap*math.Min(qb.r, r)
					for _, pt := range intersect(qa.x, qa.y, da, qb.x, qb.y, db) {
						try(pt[0], pt[1])
					}
				}
			}
			p = best
		}
		out[i] = p
		done = append(done, p)
	}
	// Centre the packing's bounding box on the origin.
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range out {
		minX, maxX = math.Min(minX, p.x-p.r), math.Max(maxX, p.x+p.r)
		minY, maxY = math.Min(minY, p.y-p.r), math.Max(maxY, p.y+p.r)
	}
	extent := 0.0
	for i := range out {
		out[i].x -= (minX + maxX) / 2
		out[i].y -= (minY + maxY) / 2
		// The view is a square: what counts is the farther side.
		extent = math.Max(extent, math.Max(math.Abs(out[i].x)+out[i].r, math.Abs(out[i].y)+out[i].r))
	}
	return out, extent
}

// intersect returns the points where two circles meet.
func intersect(x0, y0, r0, x1, y1, r1 float64) [][2]float64 {
	dx, dy := x1-x0, y1-y0
	d := math.Hypot(dx, dy)
	if d == 0 || d > r0+r1 || d < math.Abs(r0-r1) {
		return nil
	}
	a := (r0*r0 - r1*r1 + d*d) / (2 * d)
	h := math.Sqrt(math.Max(0, r0*r0-a*a))
	mx, my := x0+a*dx/d, y0+a*dy/d
	return [][2]float64{{mx + h*dy/d, my - h*dx/d}, {mx - h*dy/d, my + h*dx/d}}
}

// bubblePalette is a set of colours that stay apart from each other and
// readable under dark and light text.
var bubblePalette = []color.NRGBA{
	{0x4e, 0x79, 0xa7, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}, {0xe1, 0x57, 0x59, 0xff},
	{0x76, 0xb7, 0xb2, 0xff}, {0x59, 0xa1, 0x4f, 0xff}, {0xed, 0xc9, 0x48, 0xff},
	{0xb0, 0x7a, 0xa1, 0xff}, {0xff, 0x9d, 0xa7, 0xff}, {0x9c, 0x75, 0x5f, 0xff},
	{0xba, 0xb0, 0xac, 0xff}, {0x86, 0xbc, 0xb6, 0xff}, {0xd3, 0x72, 0x95, 0xff},
}

// ColorFor returns a colour for a name, the same every time: bubbles of the
// same program share it.
func ColorFor(name string) color.Color {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return bubblePalette[h.Sum32()%uint32(len(bubblePalette))]
}
