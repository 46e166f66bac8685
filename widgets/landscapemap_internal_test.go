package widgets

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/landscape"
)

// lmFixture: a host with a NIC and a disk, a VM on it with a volume, a
// service on the VM, a folded group of cores.
func lmFixture() *landscape.Graph {
	n := func(id, layer, cat, typ string) landscape.Node {
		return landscape.Node{ID: id, Layer: layer, Category: cat, Type: typ, Name: id}
	}
	return landscape.NewGraph([]landscape.Node{
		n("host", landscape.Physical, landscape.Compute, "machine"),
		n("eth0", landscape.Physical, landscape.Network, "nic"),
		n("sda", landscape.Physical, landscape.Storage, "disk"),
		n(landscape.GroupID("host", "core"), landscape.Physical, landscape.Compute, "core"),
		n("vm1", landscape.Virtual, landscape.Compute, "vm"),
		n("vol1", landscape.Virtual, landscape.Storage, "volume"),
		n("web", landscape.Service, landscape.Compute, "service"),
	}, []landscape.Edge{
		{Source: "host", Target: "eth0", Label: landscape.Contains},
		{Source: "host", Target: "sda", Label: landscape.Contains},
		{Source: "host", Target: landscape.GroupID("host", "core"), Label: landscape.Contains},
		{Source: "vm1", Target: "host", Label: landscape.DeployedOn},
		{Source: "vm1", Target: "vol1", Label: landscape.Requires},
		{Source: "web", Target: "vm1", Label: landscape.RunsOn},
	})
}

func newTestMap(t testing.TB, size fyne.Size) (*LandscapeMap, *landscapeMapRenderer) {
	t.Helper()
	test.NewTempApp(t)
	m := NewLandscapeMap()
	w := test.NewTempWindow(t, m)
	w.SetPadded(false)
	w.Resize(size)
	return m, test.WidgetRenderer(m).(*landscapeMapRenderer)
}

func lmShow(m *LandscapeMap, g *landscape.Graph) {
	m.SetGraph(g, landscape.LayoutGraph(g), true)
}

func lmTexts(r *landscapeMapRenderer) []string {
	var out []string
	for _, o := range r.Objects() {
		if t, ok := o.(*canvas.Text); ok && !t.Hidden {
			out = append(out, t.Text)
		}
	}
	return out
}

func lmPixel(r *landscapeMapRenderer, p fyne.Position) color.NRGBA {
	img := r.draw(int(r.size.Width), int(r.size.Height)).(*image.NRGBA)
	return img.NRGBAAt(int(p.X), int(p.Y))
}

func TestLandscapeMapShowsLayersAndLabels(t *testing.T) {
	m, r := newTestMap(t, fyne.NewSize(900, 500))
	assert.Contains(t, lmTexts(r), "No landscape yet")
	lmShow(m, lmFixture())
	got := lmTexts(r)
	for _, want := range []string{"Services", "Virtual", "Physical", "host", "vm1", "web", "eth0"} {
		assert.Contains(t, got, want)
	}
	// Every node is inside the fitted view, in its layer's colour.
	for _, n := range m.Graph().Nodes {
		p, ok := m.NodeScreenPos(n.ID)
		require.True(t, ok)
		assert.True(t, p.X > 0 && p.Y > 0 && p.X < 900 && p.Y < 500, "%s at %v", n.ID, p)
		assert.Equal(t, lmLayerFill[n.Layer], lmPixel(r, p.AddXY(0, -4)), "fill of %s", n.ID)
	}
	web, _ := m.NodeScreenPos("web")
	vm, _ := m.NodeScreenPos("vm1")
	host, _ := m.NodeScreenPos("host")
	assert.Less(t, web.Y, vm.Y)
	assert.Less(t, vm.Y, host.Y)
}

func TestLandscapeMapSelectActivateMarks(t *testing.T) {
	m, r := newTestMap(t, fyne.NewSize(900, 500))
	lmShow(m, lmFixture())
	var selected, activated []string
	m.OnSelected = func(id string) { selected = append(selected, id) }
	m.OnActivated = func(id string) { activated = append(activated, id) }
	vm, _ := m.NodeScreenPos("vm1")
	test.TapAt(m, vm)
	test.TapAt(m, fyne.NewPos(3, 3))
	grp, _ := m.NodeScreenPos(landscape.GroupID("host", "core"))
	m.DoubleTapped(&fyne.PointEvent{Position: grp})
	assert.Equal(t, []string{"vm1", ""}, selected)
	assert.Equal(t, []string{landscape.GroupID("host", "core")}, activated)

	m.Select("web")
	assert.Equal(t, "web", m.Selected())
	web, _ := m.NodeScreenPos("web")
	// The selection has a dark outline just outside its box.
	hw := float32(landscape.NodeWidth / 2 * m.Zoom())
	assert.Equal(t, lmSelectInk, lmPixel(r, web.AddXY(-hw-1, 0)))

	// The selection's edges are labelled, and only those.
	assert.Contains(t, lmTexts(r), "runs on")
	assert.NotContains(t, lmTexts(r), "deployed on")
	m.Select("vm1")
	assert.Contains(t, lmTexts(r), "deployed on")
	assert.Contains(t, lmTexts(r), "requires")
	assert.NotContains(t, lmTexts(r), "contains")
	m.Select("web")

	// Hovering a node names it, its type and layer.
	m.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: vm}})
	assert.Equal(t, "vm1 · vm (virtual)", m.Hovered())
	m.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(2, 2)}})
	assert.Equal(t, "", m.Hovered())

	m.SetMarks(map[string]Mark{"vm1": MarkAdded})
	hw = float32(landscape.NodeWidth / 2 * m.Zoom())
	assert.Equal(t, lmMarkInk[MarkAdded], lmPixel(r, vm.AddXY(-hw-2, 0)))
	// A new graph keeps the selection when its node is still there.
	lmShow(m, lmFixture())
	assert.Equal(t, "web", m.Selected())
}

func TestLandscapeMapPanZoomFit(t *testing.T) {
	m, _ := newTestMap(t, fyne.NewSize(900, 500))
	lmShow(m, lmFixture())
	fitted := m.Zoom()
	before, _ := m.NodeScreenPos("host")
	m.Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(40, -10)})
	after, _ := m.NodeScreenPos("host")
	assert.InDelta(t, before.X+40, after.X, 0.01)
	assert.InDelta(t, before.Y-10, after.Y, 0.01)

	// Zooming keeps the point under the pointer in place.
	m.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: after}, Scrolled: fyne.NewDelta(0, 200)})
	assert.Greater(t, m.Zoom(), fitted)
	still, _ := m.NodeScreenPos("host")
	assert.InDelta(t, after.X, still.X, 0.5)
	assert.InDelta(t, after.Y, still.Y, 0.5)
	assert.Equal(t, "host", m.NodeAt(still))

	m.Fit()
	assert.InDelta(t, fitted, m.Zoom(), 1e-9)
	m.ZoomBy(0.5)
	assert.InDelta(t, fitted/2, m.Zoom(), 1e-9)
	m.CenterOn("web")
	c, _ := m.NodeScreenPos("web")
	assert.InDelta(t, 450, c.X, 0.5)
	assert.InDelta(t, 250, c.Y, 0.5)
}

func TestLandscapeMapLargeGraphDrawsWithoutLabels(t *testing.T) {
	m, r := newTestMap(t, fyne.NewSize(1280, 800))
	lmShow(m, landscape.Generate(10000, 1))
	// Fitted, 10 000 boxes are too small to label: only the band titles.
	assert.ElementsMatch(t, []string{"Services", "Virtual", "Physical"}, lmTexts(r))
	m.CenterOn("rack3-host2")
	assert.Contains(t, lmTexts(r), "rack3-host2")
	assert.LessOrEqual(t, len(lmTexts(r)), 2*lmMaxLabels+3)
}

// Panning draws from a cached picture of the whole map; it must show what
// drawing the view directly shows.
func TestLandscapeMapCachedFrameMatchesDirect(t *testing.T) {
	m, r := newTestMap(t, fyne.NewSize(900, 500))
	lmShow(m, lmFixture())
	m.Select("vm1")
	m.ZoomBy(1.5)
	r.draw(900, 500)
	r.draw(900, 500) // the second frame at this zoom builds the cache
	require.NotNil(t, r.scene)
	m.Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(37, -21)})
	cached := r.draw(900, 500).(*image.NRGBA)
	direct := image.NewNRGBA(image.Rect(0, 0, 900, 500))
	lmFill(direct, direct.Bounds(), lmPaper)
	r.drawScene(direct, m.offX, m.offY, m.zoom)
	for _, n := range m.Graph().Nodes {
		p, _ := m.NodeScreenPos(n.ID)
		for _, d := range []fyne.Position{{X: 0, Y: -4}, {X: -20, Y: 0}, {X: 30, Y: 5}} {
			q := p.Add(d)
			assert.Equal(t, direct.NRGBAAt(int(q.X), int(q.Y)), cached.NRGBAAt(int(q.X), int(q.Y)), "%s at %v", n.ID, q)
		}
	}
	// Between the bands, outside the drawing, both show the band tints.
	for _, b := range m.lay.Bands {
		y := int(m.ToScreen(0, (b.Y0+b.Y1)/2).Y)
		if y < 0 || y >= 500 {
			continue
		}
		assert.Equal(t, lmBandTint[b.Layer], cached.NRGBAAt(2, y), "band %s", b.Layer)
	}
}

// BenchmarkLandscapeMapFrame is one frame of a 1280×800 view of a
// 10 000-node landscape: move the view, place the labels and rasterise.
// "pan" frames drag the fitted view (everything visible) or a zoomed-in
// one; "zoom" frames scroll the fitted view in and out.
func BenchmarkLandscapeMapFrame(b *testing.B) {
	for _, c := range []struct {
		name         string
		zoomed, zoom bool
	}{{"pan-fitted", false, false}, {"pan-zoomed", true, false}, {"zoom-fitted", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			m, r := newTestMap(b, fyne.NewSize(1280, 800))
			lmShow(m, landscape.Generate(10000, 1))
			if c.zoomed {
				m.CenterOn("rack3-host2")
			}
			r.draw(1280, 800)
			b.ResetTimer()
			for i := range b.N {
				if c.zoom {
					dy := float32(60)
					if i%2 == 1 {
						dy = -60
					}
					m.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(640, 400)}, Scrolled: fyne.NewDelta(0, dy)})
				} else {
					m.Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(float32(i%3-1), 0)})
				}
				r.placeLabels()
				r.draw(1280, 800)
			}
		})
	}
}

var updateLandscapeMap = flag.Bool("update-landscapemap", false, "rewrite the landscape map's golden images under testdata/")

// The picture of a small landscape with a selection, a mark and a group:
// golden image.
func TestLandscapeMapImage(t *testing.T) {
	test.NewTempApp(t)
	m := NewLandscapeMap()
	w := test.NewTempWindow(t, m)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(700, 360))
	lmShow(m, lmFixture())
	m.Select("vm1")
	m.SetMarks(map[string]Mark{"web": MarkAdded, "eth0": MarkMatch})
	img := w.Canvas().Capture()
	const name = "landscapemap.png"
	if *updateLandscapeMap {
		f, err := os.Create(filepath.Join("testdata", name))
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, img))
		require.NoError(t, f.Close())
	}
	test.AssertImageMatches(t, name, img)
}
