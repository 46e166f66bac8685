package tracer_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// wantNode is what a callgraph test expects of one function.
type wantNode struct {
	calls, incl, excl, reach int64
	path                     string // first path, "a>b"
	open                     bool
}

// wantEdge is what a callgraph test expects of one edge.
type wantEdge struct{ calls, time int64 }

// callgraphTests are synthetic traces with known answers. They also seed the
// round-trip tests.
var callgraphTests = []struct {
	name      string
	script    string
	start     int64 // ProcessInfo.StartNS
	nodes     map[string]wantNode
	edges     map[string]wantEdge // "caller>callee"
	unmatched int
	open      int
	stored    int
}{
	{
		name: "fib recursion",
		script: `0 > main; 10 > fib; 20 > fib; 30 > fib; 40 < fib; 50 < fib
			60 > fib; 70 < fib; 80 < fib; 90 < main`,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 90, excl: 20, reach: 0, path: "main"},
			"fib":  {calls: 4, incl: 70, excl: 70, reach: 10, path: "main>fib"},
		},
		edges: map[string]wantEdge{
			"main>fib": {calls: 1, time: 70},
			"fib>fib":  {calls: 3, time: 40}, // the innermost call is under a fib>fib edge already
		},
		stored: 10,
	},
	{
		name:   "start set by the source",
		script: `100 > main; 110 > a; 120 < a; 130 < main`,
		start:  40,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 30, excl: 20, reach: 60, path: "main"},
			"a":    {calls: 1, incl: 10, excl: 10, reach: 70, path: "main>a"},
		},
		edges:  map[string]wantEdge{"main>a": {calls: 1, time: 10}},
		stored: 4,
	},
	{
		name: "two threads",
		script: `@1; 0 > main; 10 > work; 30 < work; 40 < main
			@2; 5 > run; 15 > work; 45 < work; 50 < run`,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 40, excl: 20, reach: 0, path: "main"},
			"work": {calls: 2, incl: 50, excl: 50, reach: 10, path: "main>work"},
			"run":  {calls: 1, incl: 45, excl: 15, reach: 5, path: "run"},
		},
		edges: map[string]wantEdge{
			"main>work": {calls: 1, time: 20},
			"run>work":  {calls: 1, time: 30},
		},
		stored: 8,
	},
	{
		name: "generator resumed",
		script: `0 > main; 10 > gen; 20 < gen; 30 > gen; 40 < gen
			50 > gen; 60 < gen; 70 < main`,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 70, excl: 40, path: "main"},
			"gen":  {calls: 3, incl: 30, excl: 30, reach: 10, path: "main>gen"},
		},
		edges:  map[string]wantEdge{"main>gen": {calls: 3, time: 30}},
		stored: 8,
	},
	{
		name:   "exception unwinds two frames",
		script: `0 > main; 10 > a; 20 > b; 30 ! b; 35 ! a; 50 < main`,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 50, excl: 25, path: "main"},
			"a":    {calls: 1, incl: 25, excl: 15, reach: 10, path: "main>a"},
			"b":    {calls: 1, incl: 10, excl: 10, reach: 20, path: "main>a>b"},
		},
		edges: map[string]wantEdge{
			"main>a": {calls: 1, time: 25},
			"a>b":    {calls: 1, time: 10},
		},
		stored: 6,
	},
	{
		name:   "return of a lower frame closes the frames above",
		script: `0 > main; 10 > a; 20 > b; 30 < a; 50 < main`,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 50, excl: 30, path: "main"},
			"a":    {calls: 1, incl: 20, excl: 10, reach: 10, path: "main>a"},
			"b":    {calls: 1, incl: 10, excl: 10, reach: 20, path: "main>a>b"},
		},
		edges: map[string]wantEdge{
			"main>a": {calls: 1, time: 20},
			"a>b":    {calls: 1, time: 10},
		},
		stored: 5,
	},
	{
		name:   "C calls",
		script: `0 > main; 10 c> len; 15 c< len; 20 c> print; 30 c< print; 40 < main`,
		nodes: map[string]wantNode{
			"main":  {calls: 1, incl: 40, excl: 25, path: "main"},
			"len":   {calls: 1, incl: 5, excl: 5, reach: 10, path: "main>len"},
			"print": {calls: 1, incl: 10, excl: 10, reach: 20, path: "main>print"},
		},
		edges: map[string]wantEdge{
			"main>len":   {calls: 1, time: 5},
			"main>print": {calls: 1, time: 10},
		},
		stored: 6,
	},
	{
		name:   "exit of the frame the tracer started in",
		script: `0 > a; 10 < a; 20 < main; 30 > b; 40 < b`,
		nodes: map[string]wantNode{
			"a": {calls: 1, incl: 10, excl: 10, path: "a"},
			"b": {calls: 1, incl: 10, excl: 10, reach: 30, path: "b"},
		},
		edges:     map[string]wantEdge{},
		unmatched: 1,
		stored:    4,
	},
	{
		name:   "calls still open",
		script: `0 > main; 10 > a; 20 > b; 30 < b; 60 > c`,
		nodes: map[string]wantNode{
			"main": {calls: 1, incl: 60, excl: 10, path: "main", open: true},
			"a":    {calls: 1, incl: 50, excl: 40, reach: 10, path: "main>a", open: true},
			"b":    {calls: 1, incl: 10, excl: 10, reach: 20, path: "main>a>b"},
			"c":    {calls: 1, incl: 0, excl: 0, reach: 60, path: "main>a>c", open: true},
		},
		edges: map[string]wantEdge{
			"main>a": {calls: 1, time: 50},
			"a>b":    {calls: 1, time: 10},
			"a>c":    {calls: 1, time: 0},
		},
		open:   3,
		stored: 5,
	},
	{
		name: "mutual recursion",
		script: `0 > even; 10 > odd; 20 > even; 30 > odd; 40 < odd; 50 < even
			60 < odd; 70 < even`,
		nodes: map[string]wantNode{
			"even": {calls: 2, incl: 70, excl: 40, path: "even"},
			"odd":  {calls: 2, incl: 50, excl: 30, reach: 10, path: "even>odd"},
		},
		edges: map[string]wantEdge{
			"even>odd": {calls: 2, time: 50},
			"odd>even": {calls: 1, time: 30},
		},
		stored: 8,
	},
}

func TestCallgraph(t *testing.T) {
	for _, tt := range callgraphTests {
		t.Run(tt.name, func(t *testing.T) {
			sc := script(tt.script)
			tr := sc.trace(0, tracer.ProcessInfo{PID: 42, StartNS: tt.start})
			g := tr.Callgraph()

			got := map[string]wantNode{}
			for _, n := range g.Nodes {
				got[n.Frame.Func] = wantNode{
					calls: n.Calls, incl: n.Inclusive, excl: n.Exclusive,
					reach: n.FirstReach, path: names(tr, n.FirstPath), open: n.Open,
				}
			}
			assert.Equal(t, tt.nodes, got, "nodes")

			gotEdges := map[string]wantEdge{}
			for _, e := range g.Edges {
				from, _ := tr.Frame(e.From)
				to, _ := tr.Frame(e.To)
				gotEdges[from.Func+">"+to.Func] = wantEdge{calls: e.Calls, time: e.Time}
			}
			assert.Equal(t, tt.edges, gotEdges, "edges")

			st := tr.Stats()
			assert.Equal(t, tt.unmatched, st.Unmatched, "unmatched")
			assert.Equal(t, tt.open, st.Open, "open")
			assert.Equal(t, tt.stored, st.Events, "stored")
			assert.Zero(t, st.Dropped, "dropped")

			for i := 1; i < len(g.Nodes); i++ {
				a, b := g.Nodes[i-1], g.Nodes[i]
				assert.True(t, a.Inclusive > b.Inclusive || a.Inclusive == b.Inclusive && a.ID < b.ID, "node order")
			}
		})
	}
}

func TestCallgraphThread(t *testing.T) {
	sc := script(`@1; 0 > main; 10 > work; 30 < work; 40 < main
		@2; 5 > run; 15 > work; 45 < work; 50 < run`)
	tr := sc.trace(0, tracer.ProcessInfo{})

	g := tr.CallgraphThread(2)
	work, ok := nodeByFunc(g, "work")
	require.True(t, ok)
	assert.Equal(t, int64(1), work.Calls)
	assert.Equal(t, int64(30), work.Inclusive)
	assert.Equal(t, int64(15), work.FirstReach)
	assert.Equal(t, "run>work", names(tr, work.FirstPath))
	_, ok = nodeByFunc(g, "main")
	assert.False(t, ok, "main runs on thread 1 only")
	_, ok = g.Edge(sc.byName["run"], sc.byName["work"])
	assert.True(t, ok)

	assert.Empty(t, tr.CallgraphThread(99).Nodes)
}

func TestCallgraphLimit(t *testing.T) {
	// main calls f 49 times: 100 events, of which 10 fit
	var b strings.Builder
	b.WriteString("0 > main\n")
	ts := 10
	for range 49 {
		b.WriteString(strconv.Itoa(ts) + " > f\n" + strconv.Itoa(ts+5) + " < f\n")
		ts += 10
	}
	b.WriteString(strconv.Itoa(ts) + " < main\n")
	tr := script(b.String()).trace(10, tracer.ProcessInfo{})

	st := tr.Stats()
	assert.Equal(t, 10, st.Events)
	assert.Equal(t, 90, st.Dropped)
	assert.Equal(t, 10, st.Limit)
	assert.Zero(t, st.Open)

	g := tr.Callgraph()
	f, ok := nodeByFunc(g, "f")
	require.True(t, ok)
	assert.Equal(t, int64(49), f.Calls)
	assert.Equal(t, int64(49*5), f.Inclusive)
	main, ok := nodeByFunc(g, "main")
	require.True(t, ok)
	assert.Equal(t, int64(1), main.Calls)
	assert.Equal(t, int64(ts), main.Inclusive)
	assert.False(t, main.Open)

	roots := tr.Roots(1)
	require.Len(t, roots, 1)
	n, ok := tr.Node(roots[0])
	require.True(t, ok)
	assert.True(t, n.Truncated, "main returned after the store was full")
	assert.False(t, n.Open)
	assert.Zero(t, n.Duration())
	kids := tr.Children(roots[0])
	assert.Len(t, kids, 5, "4 complete calls of f and one whose return was dropped")
	last, _ := tr.Node(kids[4])
	assert.True(t, last.Truncated)
}

func TestGraphWriteJSON(t *testing.T) {
	tr := script(callgraphTests[0].script).trace(0, tracer.ProcessInfo{})
	var buf bytes.Buffer
	require.NoError(t, tr.Callgraph().WriteJSON(&buf))

	var got struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
	require.Len(t, got.Nodes, 2)
	require.Len(t, got.Edges, 2)
	for _, key := range []string{"id", "function", "file", "line", "calls", "inclusive_ns", "exclusive_ns", "first_reach_ns"} {
		assert.Contains(t, got.Nodes[0], key)
	}
	for _, key := range []string{"from", "to", "calls"} {
		assert.Contains(t, got.Edges[0], key)
	}
	assert.Equal(t, "main", got.Nodes[0]["function"])
	assert.Equal(t, 90.0, got.Nodes[0]["inclusive_ns"])
	assert.Equal(t, "prog.py", got.Nodes[0]["file"])
}
