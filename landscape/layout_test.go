package landscape_test

import (
	"bytes"
	"math"
	"os/exec"
	"testing"
	"time"

	"flowscape/landscape"
)

// overlapping reports two boxes of one row that overlap.
func overlapping(g *landscape.Graph, lay *landscape.Layout) (string, string, bool) {
	byRow := map[int][]int{}
	for i, p := range lay.Pos {
		byRow[p.Row] = append(byRow[p.Row], i)
	}
	for _, members := range byRow {
		xs := map[int]float64{}
		for _, i := range members {
			xs[i] = lay.Pos[i].X
		}
		for a := range members {
			for b := a + 1; b < len(members) && b < a+50; b++ {
				i, j := members[a], members[b]
				if math.Abs(xs[i]-xs[j]) < landscape.NodeWidth-1e-6 {
					return g.Nodes[i].ID, g.Nodes[j].ID, true
				}
			}
		}
	}
	return "", "", false
}

func TestLayoutLayers(t *testing.T) {
	for _, name := range []string{"test_landscape.json", "machine-A_hwloc.xml"} {
		t.Run(name, func(t *testing.T) {
			g := load(t, name).Latest()
			lay := landscape.LayoutGraph(g)
			if len(lay.Pos) != len(g.Nodes) {
				t.Fatalf("%d positions for %d nodes", len(lay.Pos), len(g.Nodes))
			}
			// Service above virtual above physical.
			top := map[string]float64{}
			bottom := map[string]float64{}
			for i, n := range g.Nodes {
				y := lay.Pos[i].Y
				if v, ok := top[n.Layer]; !ok || y < v {
					top[n.Layer] = y
				}
				bottom[n.Layer] = max(bottom[n.Layer], y)
			}
			if len(top) == 3 && !(bottom[landscape.Service] < top[landscape.Virtual] && bottom[landscape.Virtual] < top[landscape.Physical]) {
				t.Errorf("layers out of order: top %v bottom %v", top, bottom)
			}
			// A contained node is below its container, in the same layer.
			for _, e := range g.Edges {
				if !landscape.IsContainment(e.Label) {
					continue
				}
				s, tg := index(g, e.Source), index(g, e.Target)
				if g.Nodes[s].Layer == g.Nodes[tg].Layer && lay.Pos[tg].Y <= lay.Pos[s].Y {
					t.Errorf("%s is not below its container %s", e.Target, e.Source)
				}
			}
			if a, b, bad := overlapping(g, lay); bad {
				t.Errorf("%s and %s overlap", a, b)
			}
			for i, p := range lay.Pos {
				if p.X < 0 || p.X > lay.Width || p.Y < 0 || p.Y > lay.Height {
					t.Errorf("%s at (%v, %v) outside %v × %v", g.Nodes[i].ID, p.X, p.Y, lay.Width, lay.Height)
				}
			}
		})
	}
}

func index(g *landscape.Graph, id string) int {
	for i := range g.Nodes {
		if g.Nodes[i].ID == id {
			return i
		}
	}
	return -1
}

func TestLayoutParentOverChildren(t *testing.T) {
	g := load(t, "machine-A_hwloc.xml").Latest()
	lay := landscape.LayoutGraph(g)
	// The machine's box is above the middle of the whole tree.
	m := index(g, "machine-A")
	if d := math.Abs(lay.Pos[m].X - lay.Width/2); d > lay.Width/4 {
		t.Errorf("machine at x=%v, tree width %v", lay.Pos[m].X, lay.Width)
	}
	// Threads of one core sit next to each other.
	for _, e := range g.Edges {
		s, tg := index(g, e.Source), index(g, e.Target)
		if g.Nodes[s].Type == "core" && g.Nodes[tg].Type == "pu" {
			if d := math.Abs(lay.Pos[s].X - lay.Pos[tg].X); d > landscape.NodeWidth {
				t.Errorf("pu %s is %v away from its core", e.Target, d)
			}
		}
	}
}

func TestLayoutSurvivesCyclesAndEmpty(t *testing.T) {
	if lay := landscape.LayoutGraph(landscape.NewGraph(nil, nil)); len(lay.Pos) != 0 {
		t.Error("positions for an empty graph")
	}
	g := landscape.NewGraph([]landscape.Node{{ID: "a"}, {ID: "b"}, {ID: "c", Layer: "service"}},
		[]landscape.Edge{{Source: "a", Target: "b", Label: "CONTAINS"}, {Source: "b", Target: "a", Label: "CONTAINS"}, {Source: "c", Target: "c", Label: "RUNS_ON"}})
	lay := landscape.LayoutGraph(g)
	if len(lay.Pos) != 3 {
		t.Fatal("not every node placed")
	}
	if _, _, bad := overlapping(g, lay); bad {
		t.Error("overlap")
	}
}

func TestGenerate(t *testing.T) {
	g := landscape.Generate(1000, 1)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) < 1000 || len(g.Nodes) > 1010 {
		t.Errorf("%d nodes, want about 1000", len(g.Nodes))
	}
	c := g.CountByType()
	for _, typ := range []string{"rack", "switch", "host", "disk", "vm", "volume", "network", "service"} {
		if c[typ] == 0 {
			t.Errorf("no %s", typ)
		}
	}
}

func TestGenerateHistory(t *testing.T) {
	l := landscape.GenerateHistory(500, 4, 1_700_000_000, 1)
	times := l.Times()
	if len(times) != 5 {
		t.Fatalf("times %v, want 5", times)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(times); i++ {
		d := l.Diff(times[i-1], times[i])
		if d.Empty() {
			t.Errorf("nothing changed at step %d", i)
		}
		for _, n := range append(d.AddedNodes, d.RemovedNodes...) {
			if n.Layer == landscape.Physical {
				t.Errorf("physical %s changed at step %d", n.ID, i)
			}
		}
	}
}

func benchLayout(b *testing.B, n int) {
	g := landscape.Generate(n, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		landscape.LayoutGraph(g)
	}
	b.ReportMetric(float64(len(g.Nodes)), "nodes")
}

func BenchmarkLayout1000(b *testing.B)  { benchLayout(b, 1000) }
func BenchmarkLayout10000(b *testing.B) { benchLayout(b, 10000) }

// BenchmarkLayoutVsSfdp lays the same generated graph out with Debian's
// native sfdp once and with LayoutGraph, and reports sfdp's time over
// ours.
func BenchmarkLayoutVsSfdp(b *testing.B) {
	sfdp, err := exec.LookPath("sfdp")
	if err != nil {
		b.Skip("Graphviz sfdp not installed")
	}
	for _, n := range []int{1000, 10000} {
		b.Run(itoa(n), func(b *testing.B) {
			g := landscape.Generate(n, 1)
			var dot bytes.Buffer
			if err := landscape.WriteDOT(&dot, g); err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(sfdp, "-Tplain")
			cmd.Stdin = bytes.NewReader(dot.Bytes())
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("sfdp: %v\n%.300s", err, out)
			}
			native := time.Since(start)
			b.ResetTimer()
			for b.Loop() {
				landscape.LayoutGraph(g)
			}
			ours := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(native.Seconds(), "sfdp-s")
			b.ReportMetric(float64(native)/float64(ours), "sfdp/ours")
		})
	}
}
