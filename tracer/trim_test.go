package tracer_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// funcs lists a graph's function names, sorted.
func funcs(g *tracer.Graph) []string {
	var out []string
	for _, n := range g.Nodes {
		out = append(out, n.Frame.Func)
	}
	slices.Sort(out)
	return out
}

// edgeNames lists a graph's edges as "a>b", sorted.
func edgeNames(g *tracer.Graph) []string {
	byID := map[tracer.FrameID]string{}
	for _, n := range g.Nodes {
		byID[n.ID] = n.Frame.Func
	}
	var out []string
	for _, e := range g.Edges {
		out = append(out, byID[e.From]+">"+byID[e.To])
	}
	slices.Sort(out)
	return out
}

// fanOut is main calling f1 … f5, fK taking K*10 ns, then a tiny call
// from f5 to f1.
const fanOut = `0 > main; 10 > f1; 20 < f1; 30 > f2; 50 < f2; 60 > f3; 90 < f3
	100 > f4; 140 < f4; 150 > f5; 151 > f1; 152 < f1; 200 < f5; 210 < main`

func TestTrim(t *testing.T) {
	chain := `0 > a; 10 > b; 20 > c; 30 > d; 40 > e; 50 < e; 60 < d; 70 < c; 80 > x; 90 < x; 95 < b; 100 < a`
	tests := []struct {
		name      string
		script    string
		opts      func(tr *tracer.Trace) tracer.TrimOptions
		wantNodes []string
		wantEdges []string
		wantSteps []tracer.TrimStep
	}{
		{
			name:      "nothing asked, nothing dropped",
			script:    fanOut,
			opts:      func(*tracer.Trace) tracer.TrimOptions { return tracer.TrimOptions{} },
			wantNodes: []string{"f1", "f2", "f3", "f4", "f5", "main"},
			wantEdges: []string{"f5>f1", "main>f1", "main>f2", "main>f3", "main>f4", "main>f5"},
		},
		{
			name:      "top 3 by inclusive time",
			script:    fanOut,
			opts:      func(*tracer.Trace) tracer.TrimOptions { return tracer.TrimOptions{MaxNodes: 3} },
			wantNodes: []string{"f4", "f5", "main"},
			wantEdges: []string{"main>f4", "main>f5"},
			wantSteps: []tracer.TrimStep{{Name: "top 3 by inclusive time", Nodes: 3, Edges: 4}},
		},
		{
			name:   "node fraction",
			script: fanOut,
			// total 210 ns: 14% is 29.4, so f1 (11) and f2 (20) go, f3 (30) stays
			opts:      func(*tracer.Trace) tracer.TrimOptions { return tracer.TrimOptions{NodeFraction: 0.14} },
			wantNodes: []string{"f3", "f4", "f5", "main"},
			wantEdges: []string{"main>f3", "main>f4", "main>f5"},
			wantSteps: []tracer.TrimStep{{Name: "inclusive time < 14% of total", Nodes: 2, Edges: 3}},
		},
		{
			name:   "edge fraction keeps a function's only way in",
			script: fanOut,
			// cut at 21 ns: f5>f1 (1 ns) goes since main>f1 (10) is the
			// strongest way into f1; main>f2 (20) is f2's only way in
			opts:      func(*tracer.Trace) tracer.TrimOptions { return tracer.TrimOptions{EdgeFraction: 0.1} },
			wantNodes: []string{"f1", "f2", "f3", "f4", "f5", "main"},
			wantEdges: []string{"main>f1", "main>f2", "main>f3", "main>f4", "main>f5"},
			wantSteps: []tracer.TrimStep{{Name: "edge time < 10% of total", Edges: 1}},
		},
		{
			name:   "focus one level",
			script: chain,
			opts: func(tr *tracer.Trace) tracer.TrimOptions {
				return tracer.TrimOptions{Focus: frameID(t, tr, "c"), FocusSet: true, FocusDepth: 1}
			},
			wantNodes: []string{"b", "c", "d"},
			wantEdges: []string{"b>c", "c>d"},
			wantSteps: []tracer.TrimStep{{Name: "focus on c (1 levels)", Nodes: 3, Edges: 3}},
		},
		{
			name:   "focus two levels: callers and callees only, not siblings",
			script: chain,
			opts: func(tr *tracer.Trace) tracer.TrimOptions {
				return tracer.TrimOptions{Focus: frameID(t, tr, "c"), FocusSet: true, FocusDepth: 2}
			},
			wantNodes: []string{"a", "b", "c", "d", "e"},
			wantEdges: []string{"a>b", "b>c", "c>d", "d>e"},
			wantSteps: []tracer.TrimStep{{Name: "focus on c (2 levels)", Nodes: 1, Edges: 1}},
		},
		{
			name:   "the focused function survives top N",
			script: fanOut,
			opts: func(tr *tracer.Trace) tracer.TrimOptions {
				return tracer.TrimOptions{Focus: frameID(t, tr, "main"), FocusSet: true, FocusDepth: 1, MaxNodes: 2}
			},
			wantNodes: []string{"f5", "main"},
			wantEdges: []string{"main>f5"},
			wantSteps: []tracer.TrimStep{
				{Name: "focus on main (1 levels)"},
				{Name: "top 2 by inclusive time", Nodes: 4, Edges: 5},
			},
		},
		{
			name:   "focus on a function not in the graph leaves nothing",
			script: fanOut,
			opts: func(*tracer.Trace) tracer.TrimOptions {
				return tracer.TrimOptions{Focus: 999, FocusSet: true}
			},
			wantSteps: []tracer.TrimStep{{Name: "focus on <frame 999> (1 levels)", Nodes: 6, Edges: 6}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := script(tt.script).trace(0, tracer.ProcessInfo{})
			g := tr.Callgraph()
			before := len(g.Nodes)
			got, rep := g.Trim(tt.opts(tr))
			assert.Equal(t, tt.wantNodes, funcs(got))
			assert.Equal(t, tt.wantEdges, edgeNames(got))
			assert.Equal(t, tt.wantSteps, rep.Steps)
			assert.Equal(t, len(got.Nodes), rep.KeptNodes)
			assert.Equal(t, len(got.Edges), rep.KeptEdges)
			assert.Equal(t, before, rep.Nodes)
			assert.Len(t, g.Nodes, before, "Trim changed its input")
			// kept nodes keep their counters
			for _, n := range got.Nodes {
				orig, ok := g.Node(n.ID)
				require.True(t, ok)
				assert.Equal(t, orig, n)
			}
		})
	}
}

func frameID(t *testing.T, tr *tracer.Trace, fn string) tracer.FrameID {
	t.Helper()
	for _, f := range tr.FrameList() {
		if f.Func == fn {
			return f.ID
		}
	}
	t.Fatalf("no frame %q", fn)
	return 0
}

// Ten thousand distinct functions are cut to the default 80, and the report
// says how many were hidden.
func TestTrimTenThousandFunctions(t *testing.T) {
	var b strings.Builder
	b.WriteString("0 > main\n")
	ts := 1
	for i := range 10_000 {
		fmt.Fprintf(&b, "%d > fn%d\n%d < fn%d\n", ts, i, ts+1+i%97, i)
		ts += 2 + i%97
	}
	fmt.Fprintf(&b, "%d < main\n", ts)
	tr := script(b.String()).trace(0, tracer.ProcessInfo{})
	g, rep := tr.Callgraph().Trim(tracer.TrimOptions{MaxNodes: tracer.DefaultMaxNodes})
	assert.Len(t, g.Nodes, 80)
	assert.Len(t, g.Edges, 79)
	assert.Equal(t, 10_001, rep.Nodes)
	assert.Equal(t, "showing 80 of 10001 functions, 79 of 10000 edges; hidden by top 80 by inclusive time: 9921 functions, 9921 edges", rep.String())
	assert.True(t, rep.Dropped())
	assert.Equal(t, "main", g.Nodes[0].Frame.Func)
	for _, n := range g.Nodes[1:] {
		assert.GreaterOrEqual(t, n.Inclusive, int64(1+95), "%s is not among the longest", n.Frame.Func)
	}
}

func TestTrimEmptyAndSingle(t *testing.T) {
	g, rep := tracer.NewTrace(0).Callgraph().Trim(tracer.TrimOptions{MaxNodes: 80, NodeFraction: 0.01, EdgeFraction: 0.01})
	assert.Empty(t, g.Nodes)
	assert.False(t, rep.Dropped())
	assert.Equal(t, "showing 0 of 0 functions, 0 of 0 edges", rep.String())

	g, rep = script(`0 > only; 5 < only`).trace(0, tracer.ProcessInfo{}).Callgraph().Trim(tracer.TrimOptions{MaxNodes: 80, NodeFraction: 0.5})
	assert.Equal(t, []string{"only"}, funcs(g))
	assert.Equal(t, int64(5), rep.Total)
}
