package widgets

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/internal/gvlayout"
	"flowscape/tracer"
)

// cgFixture is a graph main → a, main → b, with a hand-made layout.
func cgFixture(calls int64, placeA, placeB gvlayout.Point, withB bool) (*tracer.Graph, *gvlayout.Layout) {
	g := &tracer.Graph{
		Nodes: []tracer.GraphNode{
			{ID: 1, Frame: tracer.Frame{ID: 1, Func: "main", File: "p.py", Line: 1}, Calls: 1, Inclusive: 100, Exclusive: 40},
			{ID: 2, Frame: tracer.Frame{ID: 2, Func: "a", File: "p.py", Line: 5}, Calls: calls, Inclusive: 50, Exclusive: 50, FirstReach: 10, FirstPath: []tracer.FrameID{1, 2}},
		},
		Edges: []tracer.GraphEdge{{From: 1, To: 2, Calls: calls, Time: 50}},
	}
	l := &gvlayout.Layout{Width: 320, Height: 200, Nodes: []gvlayout.Node{
		{Name: "n1", X: 150, Y: 30, W: 120, H: 50},
		{Name: "n2", X: placeA.X, Y: placeA.Y, W: 120, H: 50},
	}}
	l.Edges = []gvlayout.Edge{{Tail: "n1", Head: "n2", Points: []gvlayout.Point{{X: 150, Y: 50}, {X: 150, Y: 70}, {X: placeA.X, Y: placeA.Y - 40}, {X: placeA.X, Y: placeA.Y - 25}}, Arrow: gvlayout.Point{X: placeA.X, Y: placeA.Y - 20}, HasArrow: true}}
	if withB {
		g.Nodes = append(g.Nodes, tracer.GraphNode{ID: 3, Frame: tracer.Frame{ID: 3, Func: "b", File: "p.py", Line: 9}, Calls: 1, Inclusive: 10, Exclusive: 10, FirstReach: 70})
		g.Edges = append(g.Edges, tracer.GraphEdge{From: 1, To: 3, Calls: 1, Time: 10})
		l.Nodes = append(l.Nodes, gvlayout.Node{Name: "n3", X: placeB.X, Y: placeB.Y, W: 110, H: 50})
		l.Edges = append(l.Edges, gvlayout.Edge{Tail: "n1", Head: "n3", Points: []gvlayout.Point{{X: 150, Y: 50}, {X: placeB.X, Y: placeB.Y - 20}}})
	}
	return g, l
}

func newTestCallGraph(t *testing.T) (*CallGraph, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	cg := NewCallGraph()
	cg.manual = true
	w := test.NewTempWindow(t, cg)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(400, 330))
	return cg, w
}

// current is where node id is drawn now, in layout points, and its opacity.
func (g *CallGraph) current(id tracer.FrameID) (nodeBox, float64, bool) {
	n := g.byID[id]
	if n == nil {
		return nodeBox{}, 0, false
	}
	t := g.ease()
	return n.from.lerp(n.to, t), lerp(n.aFrom, n.aTo, t), true
}

func TestCallGraphMovesSmoothly(t *testing.T) {
	cg, _ := newTestCallGraph(t)
	g1, l1 := cgFixture(3, gvlayout.Point{X: 60, Y: 150}, gvlayout.Point{}, false)
	cg.SetGraph(g1, l1, 100, tracer.ByInclusive, nil)
	b, a, ok := cg.current(2)
	require.True(t, ok)
	assert.Equal(t, 60.0, b.x, "a new node appears where it belongs")
	assert.Equal(t, 0.0, a, "and fades in from transparent")
	cg.Tick(cgMoveTime / 2)
	_, a, _ = cg.current(2)
	assert.InDelta(t, 0.5, a, 0.01)
	cg.Tick(cgMoveTime)
	_, a, _ = cg.current(2)
	assert.Equal(t, 1.0, a)
	assert.False(t, cg.Animating())

	// the graph changes: a moves right, b appears; a glides, never jumps
	g2, l2 := cgFixture(3, gvlayout.Point{X: 250, Y: 150}, gvlayout.Point{X: 60, Y: 150}, true)
	cg.SetGraph(g2, l2, 100, tracer.ByInclusive, nil)
	prev := 60.0
	for range 10 {
		cg.Tick(cgMoveTime / 10)
		b, _, _ := cg.current(2)
		assert.GreaterOrEqual(t, b.x, prev)
		assert.Less(t, b.x-prev, 60.0, "a step of the move is small")
		prev = b.x
	}
	assert.Equal(t, 250.0, prev)
	_, aB, _ := cg.current(3)
	assert.Equal(t, 1.0, aB)

	// b leaves: it fades out, then is gone
	cg.SetGraph(g1, l1, 100, tracer.ByInclusive, nil)
	cg.Tick(cgMoveTime / 2)
	_, aB, ok = cg.current(3)
	require.True(t, ok, "a leaving node stays while it fades")
	assert.InDelta(t, 0.5, aB, 0.01)
	cg.Tick(cgMoveTime)
	_, _, ok = cg.current(3)
	assert.False(t, ok)
	assert.Len(t, cg.Nodes(), 2)
}

func TestCallGraphFlashesCalledFunctions(t *testing.T) {
	cg, _ := newTestCallGraph(t)
	g, l := cgFixture(3, gvlayout.Point{X: 60, Y: 150}, gvlayout.Point{}, false)
	cg.SetGraph(g, l, 100, tracer.ByInclusive, nil)
	cg.Settle()
	more, _ := cgFixture(5, gvlayout.Point{X: 60, Y: 150}, gvlayout.Point{}, false)
	cg.UpdateStats(more, 100)
	assert.Equal(t, 1.0, cg.byID[2].flash, "a was called")
	assert.Equal(t, 0.0, cg.byID[1].flash, "main was not")
	assert.Equal(t, int64(5), cg.byID[2].n.Calls, "the counters are the new ones")
	assert.True(t, cg.Animating())
	cg.Tick(cgFlashTime / 2)
	assert.InDelta(t, 0.5, cg.byID[2].flash, 0.01)
	cg.Tick(cgFlashTime)
	assert.False(t, cg.Animating())
}

func TestCallGraphSelectOpenHover(t *testing.T) {
	cg, _ := newTestCallGraph(t)
	g, l := cgFixture(3, gvlayout.Point{X: 60, Y: 150}, gvlayout.Point{}, false)
	cg.SetGraph(g, l, 100, tracer.ByInclusive, nil)
	cg.Settle()
	at := func(id tracer.FrameID) fyne.Position {
		b, _, _ := cg.current(id)
		return cg.toScreen(b.x, b.y)
	}
	var selected []string
	cg.OnSelected = func(n tracer.GraphNode, ok bool) {
		if ok {
			selected = append(selected, n.Frame.Func)
		} else {
			selected = append(selected, "-")
		}
	}
	var opened []string
	cg.OnOpen = func(n tracer.GraphNode) { opened = append(opened, n.Frame.Func) }
	test.TapAt(cg, at(2))
	test.TapAt(cg, fyne.NewPos(2, 2))
	cg.DoubleTapped(&fyne.PointEvent{Position: at(1)})
	assert.Equal(t, []string{"a", "-"}, selected)
	assert.Equal(t, []string{"main"}, opened)
	sel, ok := cg.Selected()
	assert.True(t, ok)
	assert.Equal(t, "main", sel.Frame.Func)

	cg.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at(2)}})
	assert.Contains(t, texts(cg), "reached at +10ns")
	cg.MouseOut()
	assert.NotContains(t, texts(cg), "reached at +10ns")
}

func TestCallGraphZoomAndFit(t *testing.T) {
	cg, _ := newTestCallGraph(t)
	g, l := cgFixture(3, gvlayout.Point{X: 60, Y: 150}, gvlayout.Point{}, false)
	cg.SetGraph(g, l, 100, tracer.ByInclusive, nil)
	cg.Settle()
	fitted := cg.Zoom()
	cg.ZoomIn()
	assert.InDelta(t, fitted*1.25, cg.Zoom(), 1e-4)
	cg.Dragged(&fyne.DragEvent{Dragged: fyne.Delta{DX: 30}})
	cg.Fit()
	test.WidgetRenderer(cg).Refresh()
	assert.InDelta(t, fitted, cg.Zoom(), 1e-4)
}

func TestCallGraphEmpty(t *testing.T) {
	cg, _ := newTestCallGraph(t)
	assert.Contains(t, texts(cg), "No calls yet")
	cg.SetGraph(&tracer.Graph{}, &gvlayout.Layout{}, 0, tracer.ByInclusive, nil)
	cg.Settle()
	assert.Contains(t, texts(cg), "No calls yet")
}

// The picture half-way through a move: golden image.
func TestCallGraphImageMidMove(t *testing.T) {
	cg, w := newTestCallGraph(t)
	g1, l1 := cgFixture(3, gvlayout.Point{X: 60, Y: 150}, gvlayout.Point{}, false)
	cg.SetGraph(g1, l1, 100, tracer.ByInclusive, []string{"showing 3 of 3"})
	cg.Settle()
	g2, l2 := cgFixture(3, gvlayout.Point{X: 250, Y: 150}, gvlayout.Point{X: 60, Y: 150}, true)
	cg.SetGraph(g2, l2, 100, tracer.ByInclusive, []string{"showing 3 of 3"})
	cg.Tick(cgMoveTime / 2)
	test.AssertImageMatches(t, "callgraph_mid_move.png", w.Canvas().Capture())
	cg.Tick(cgMoveTime)
	test.AssertImageMatches(t, "callgraph_settled.png", w.Canvas().Capture())
}

// texts lists the text drawn by the widget.
func texts(cg *CallGraph) []string {
	var out []string
	for _, o := range test.WidgetRenderer(cg).Objects() {
		if t, ok := o.(*canvas.Text); ok {
			out = append(out, t.Text)
		}
	}
	return out
}
