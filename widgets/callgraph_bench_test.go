package widgets

import (
	"fmt"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"flowscape/internal/gvlayout"
	"flowscape/tracer"
)

// bigGraph is n functions on a grid, each called by the one above it and
// the one above-left, with a layout placing them shifted by dx.
func bigGraph(n int, dx float64) (*tracer.Graph, *gvlayout.Layout) {
	const cols = 20
	g := &tracer.Graph{}
	l := &gvlayout.Layout{Width: cols*150 + dx, Height: float64(n/cols+1) * 90}
	for i := range n {
		id := tracer.FrameID(i + 1)
		g.Nodes = append(g.Nodes, tracer.GraphNode{ID: id, Frame: tracer.Frame{ID: id, Func: fmt.Sprintf("module.function_%d", i), File: "m.py", Line: i}, Calls: int64(1 + i%50), Inclusive: int64(1000 * (n - i)), Exclusive: int64(100 * (i % 7))})
		x, y := float64(i%cols)*150+75+dx, float64(i/cols)*90+45
		l.Nodes = append(l.Nodes, gvlayout.Node{Name: tracer.NodeName(id), X: x, Y: y, W: 130, H: 50})
		for _, p := range []int{i - cols, i - cols - 1} {
			if p < 0 || (p%cols) > (i%cols) {
				continue
			}
			pid := tracer.FrameID(p + 1)
			g.Edges = append(g.Edges, tracer.GraphEdge{From: pid, To: id, Calls: int64(1 + p%9), Time: 10})
			px, py := float64(p%cols)*150+75+dx, float64(p/cols)*90+45
			l.Edges = append(l.Edges, gvlayout.Edge{Tail: tracer.NodeName(pid), Head: tracer.NodeName(id),
				Points:   []gvlayout.Point{{X: px, Y: py + 25}, {X: px, Y: py + 45}, {X: x, Y: y - 45}, {X: x, Y: y - 30}},
				Arrow:    gvlayout.Point{X: x, Y: y - 25},
				HasArrow: true})
		}
	}
	return g, l
}

// BenchmarkCallGraphFrame is one animation frame of a 300-function graph
// while it moves: advance the animation, place every object, rasterise the
// edges at 1280×800. "capture" also paints the whole canvas with Fyne's
// software renderer (the GL driver does that part on the GPU).
func BenchmarkCallGraphFrame(b *testing.B) {
	for _, capture := range []bool{false, true} {
		b.Run(fmt.Sprintf("capture=%v", capture), func(b *testing.B) {
			test.NewTempApp(b)
			cg := NewCallGraph()
			cg.manual = true
			w := test.NewTempWindow(b, cg)
			w.SetPadded(false)
			w.Resize(fyne.NewSize(1280, 800))
			g1, l1 := bigGraph(300, 0)
			cg.SetGraph(g1, l1, 300_000, tracer.ByInclusive, []string{"showing 300 of 1000 functions"})
			cg.Settle()
			g2, l2 := bigGraph(300, 40)
			r := test.WidgetRenderer(cg).(*callGraphRenderer)
			b.ResetTimer()
			for i := range b.N {
				if i%30 == 0 { // a new layout every half second at 60 frames/s
					cg.SetGraph(g2, l2, 300_000, tracer.ByInclusive, nil)
					g1, l1, g2, l2 = g2, l2, g1, l1
				}
				cg.Tick(1.0 / 60)
				r.drawEdges(1280, 800)
				if capture {
					w.Canvas().Capture()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/frame")
		})
	}
}
