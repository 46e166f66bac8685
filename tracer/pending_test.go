package tracer_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// callTree is a program's calls on one thread, each strictly inside its
// caller, with gaps between siblings: its flow is the same however its
// calls are ordered.
type callTree struct {
	frames []tracer.Frame
	pre    []tracer.CallSpan // in order of start (callers first)
	post   []tracer.CallSpan // in order of end (callees first), as VizTracer writes them
	events []tracer.Event    // the entries and exits, in time order
}

// genTree returns about n calls of a program over funcs functions (so some
// recurse), up to 8 deep.
func genTree(seed int64, n, funcs int) callTree {
	rng := rand.New(rand.NewSource(seed))
	var t callTree
	for i := range funcs + 1 {
		t.frames = append(t.frames, tracer.Frame{ID: tracer.FrameID(i + 1), Func: fmt.Sprintf("f%d", i), File: "t.py", Line: 10 * i})
	}
	var gen func(start, end int64, depth int)
	gen = func(start, end int64, depth int) {
		c := tracer.CallSpan{Start: start, End: end, Frame: tracer.FrameID(2 + rng.Intn(funcs)), Line: int32(rng.Intn(50)), ExitLine: int32(rng.Intn(50))}
		if depth == 0 {
			c.Frame = 1
		}
		t.pre = append(t.pre, c)
		t.events = append(t.events, tracer.Event{TS: c.Start, Frame: c.Frame, Line: c.Line, Kind: tracer.Call})
		if k := rng.Intn(5); depth < 8 && end-start > 100 && len(t.pre) < n {
			w := (end - start - 2) / int64(k+1)
			for i := range k {
				s := start + 1 + int64(i)*w + w/4
				gen(s, s+w/2+int64(rng.Intn(int(w/4))), depth+1)
			}
		}
		t.events = append(t.events, tracer.Event{TS: c.End, Frame: c.Frame, Line: c.ExitLine, Kind: tracer.Return})
		t.post = append(t.post, c)
	}
	for ts := int64(1000); len(t.pre) < n; ts += 2_000_000 {
		gen(ts, ts+1_000_000+int64(rng.Intn(1000)), 0)
	}
	return t
}

// reference returns a trace given the tree's events in time order.
func (t callTree) reference(limit int) *tracer.Trace {
	tr := tracer.NewTrace(limit)
	tr.Frames(t.frames)
	tr.Events(1, t.events)
	return tr
}

// returned returns a trace given the calls in the given order, in
// batches, and settled.
func (t callTree) returned(limit int, calls []tracer.CallSpan) *tracer.Trace {
	tr := tracer.NewTrace(limit)
	tr.Frames(t.frames)
	for i := 0; i < len(calls); i += 1000 {
		tr.Returned(1, calls[i:min(i+1000, len(calls))])
	}
	tr.Settle(1)
	return tr
}

func flowText(t *testing.T, tr *tracer.Trace) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, tracer.WriteFlow(&b, tr))
	return b.String()
}

// Calls given in end order, in another order, or beyond the memory limit
// (then they wait on disk) are placed as the same calls given as events
// in time order: the same flow, the same stored events, the same
// callgraph.
func TestReturnedPlacesAsEvents(t *testing.T) {
	tree := genTree(1, 20_000, 12)
	shuffled := slices.Clone(tree.post)
	rand.New(rand.NewSource(2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tt := range []struct {
		name  string
		calls []tracer.CallSpan
		limit int
	}{
		{"end order", tree.post, 0},
		{"start order", tree.pre, 0},
		{"shuffled", shuffled, 0},
		{"end order beyond the limit", tree.post, 5_000},
		{"shuffled beyond the limit", shuffled, 5_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := tree.reference(tt.limit)
			got := tree.returned(tt.limit, tt.calls)
			assert.Equal(t, flowText(t, want), flowText(t, got))
			assert.Equal(t, want.Callgraph(), got.Callgraph())
			ws, gs := want.Stats(), got.Stats()
			assert.Equal(t, ws.Events, gs.Events)
			assert.Equal(t, ws.Dropped, gs.Dropped)
			assert.Zero(t, gs.Waiting)
			assert.NoError(t, gs.SpillError)
			if tt.limit > 0 {
				assert.Positive(t, gs.Spilled, "calls beyond the limit wait on disk")
			} else {
				assert.Zero(t, gs.Spilled)
			}
		})
	}
}

// While calls given in end order wait for their callers they count against
// the limit as the events they become, and what is beyond it waits on disk.
func TestReturnedMemoryLimit(t *testing.T) {
	tree := genTree(3, 20_000, 12)
	const limit = 6_000
	tr := tracer.NewTrace(limit)
	tr.Frames(tree.frames)
	// another thread's events share the limit
	tr.Events(2, tree.events[:1000])
	tr.Returned(1, tree.post)
	st := tr.Stats()
	assert.Equal(t, len(tree.post), st.Waiting)
	kept := st.Waiting - st.Spilled
	assert.LessOrEqual(t, st.Events+2*kept, limit, "stored events and calls kept in memory stay within the limit")
	assert.Greater(t, st.Events+2*kept, limit-2)
	// the other thread stores nothing more meanwhile: the limit is taken
	tr.Events(2, tree.events[1000:1010])
	assert.Equal(t, st.Events, tr.Stats().Events)
	tr.Settle(1)
	st = tr.Stats()
	assert.Equal(t, limit, st.Events)
	assert.Zero(t, st.Waiting)
	assert.Equal(t, int64(len(tree.post)), calls(tr.CallgraphThread(1)), "the callgraph counts every call")
}

func calls(g *tracer.Graph) int64 {
	var n int64
	for _, nd := range g.Nodes {
		n += nd.Calls
	}
	return n
}

// While calls given in end order wait, the flow tree shows them: those
// whose callers have not come at the thread's top level, in time order,
// each with the calls it made; the filter and the folding see them; the
// callgraph counts them. Once placed they show as any other calls.
func TestReturnedWaitingRows(t *testing.T) {
	sc := []tracer.Frame{
		{ID: 1, Func: "main", File: "m.py", Line: 1},
		{ID: 2, Func: "handle", File: "m.py", Line: 10},
		{ID: 3, Func: "parse", File: "m.py", Line: 20},
		{ID: 4, Func: "fib", File: "m.py", Line: 30},
	}
	tr := tracer.NewTrace(0)
	tr.Frames(sc)
	// main(0-100) > handle(10-40) > parse(12-15), fib(20-35) > fib(21-30) > fib(22-25);
	//               handle(50-90) > parse(55-60)
	// in end order, main not read yet
	tr.Returned(1, []tracer.CallSpan{
		{Start: 12, End: 15, Frame: 3},
		{Start: 22, End: 25, Frame: 4},
		{Start: 21, End: 30, Frame: 4},
		{Start: 20, End: 35, Frame: 4},
		{Start: 10, End: 40, Frame: 2, Line: 3},
		{Start: 55, End: 60, Frame: 3},
		{Start: 50, End: 90, Frame: 2},
	})
	funcs := func(ids []tracer.NodeID) string {
		var s []string
		for _, id := range ids {
			n, ok := tr.Node(id)
			require.True(t, ok)
			assert.True(t, n.Waiting)
			s = append(s, fmt.Sprintf("%s %d-%d", n.Frame.Func, n.Start, n.End))
		}
		return strings.Join(s, ", ")
	}
	roots := tr.Roots(1)
	assert.Equal(t, "handle 10-40, handle 50-90", funcs(roots))
	first, _ := tr.Node(roots[0])
	assert.True(t, first.HasChildren)
	assert.Equal(t, int32(3), first.Line)
	kids := tr.Children(roots[0])
	assert.Equal(t, "parse 12-15, fib 20-35", funcs(kids))
	assert.Equal(t, "fib 21-30", funcs(tr.Children(kids[1])))
	leaf, _ := tr.Node(kids[0])
	assert.False(t, leaf.HasChildren)

	folded := tr.RootsFolded(1)
	require.Len(t, folded, 1)
	assert.Equal(t, tracer.Group{First: roots[0], Count: 2, Frame: 2, Total: 70}, folded[0])

	v := tr.Filter("fib")
	assert.Equal(t, 3, v.Matches())
	assert.True(t, v.Contains(roots[0]), "contains a match")
	assert.False(t, v.Contains(roots[1]))
	assert.False(t, v.Contains(kids[0]))
	assert.True(t, v.Contains(kids[1]))

	g := byKey(tr.Callgraph())
	assert.Equal(t, fnStats{Calls: 3, Incl: 15, Excl: 15}, g["fib (m.py:30)"], "a recursive call counts once per stack")
	assert.Equal(t, fnStats{Calls: 2, Incl: 70, Excl: 70 - 3 - 15 - 5}, g["handle (m.py:10)"])
	assert.Equal(t, 7, tr.Stats().Waiting)
	assert.Equal(t, 7, tr.Callgraph().Waiting)

	// main comes last; then the thread is placed
	tr.Returned(1, []tracer.CallSpan{{Start: 0, End: 100, Frame: 1}})
	assert.Equal(t, "main 0-100", funcs(tr.Roots(1)))
	provisional := tr.Callgraph()
	tr.Settle(1)
	roots = tr.Roots(1)
	require.Len(t, roots, 1)
	n, _ := tr.Node(roots[0])
	assert.False(t, n.Waiting)
	assert.Equal(t, "main", n.Frame.Func)
	assert.Len(t, tr.Children(roots[0]), 2)
	final := tr.Callgraph()
	assert.Zero(t, final.Waiting)
	assert.Equal(t, byKey(final), byKey(provisional), "once every caller is read the provisional counts are the final ones")
	assert.Equal(t, 0, tr.Stats().Waiting)
}

// Readers read while calls are given in end order and placed (run with
// -race).
func TestReturnedConcurrentReaders(t *testing.T) {
	tree := genTree(5, 30_000, 12)
	tr := tracer.NewTrace(20_000)
	tr.Frames(tree.frames)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < len(tree.post); i += 500 {
			tr.Returned(1, tree.post[i:min(i+500, len(tree.post))])
		}
		tr.Settle(1)
	}()
	read := func() {
		for _, r := range tr.Roots(1) {
			tr.Node(r)
			for _, c := range tr.ChildrenFolded(r) {
				tr.Children(c.First)
			}
		}
		tr.RootsFolded(1)
		tr.Filter("f3").Contains(tracer.NodeID{TID: 1})
		tr.Callgraph()
		tr.Stats()
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					read()
					return
				default:
					read()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(len(tree.post)), calls(tr.Callgraph()))
	assert.Zero(t, tr.Stats().Waiting)
}

// Calls in any order, overlapping or not, are all placed: the callgraph
// counts each once, whether they waited in memory or on disk.
func FuzzReturned(f *testing.F) {
	f.Add([]byte{0, 0, 0, 100, 1, 0, 0, 10, 0, 20, 2, 0, 0, 30, 0, 5, 3, 1}, uint16(4))
	f.Add([]byte{0, 5, 0, 5, 1, 0, 0, 5, 0, 5, 1, 0, 0, 5, 0, 0, 2, 2, 0, 0, 255, 255, 3, 4}, uint16(2))
	f.Fuzz(func(t *testing.T, in []byte, limit uint16) {
		var cs []tracer.CallSpan
		frames := []tracer.Frame{{ID: 1, Func: "a"}, {ID: 2, Func: "b"}, {ID: 3, Func: "c"}, {ID: 4, Func: "d", C: true}}
		for ; len(in) >= 6; in = in[6:] {
			c := tracer.CallSpan{
				Start:   int64(in[0])<<8 | int64(in[1]),
				Frame:   tracer.FrameID(1 + in[4]%4),
				C:       in[4]%4 == 3,
				Unwound: in[5]&1 != 0,
			}
			c.End = c.Start + int64(in[2])<<8 | int64(in[3])
			if in[5]&2 != 0 {
				c.End = math.MaxInt64 // never returned
			}
			cs = append(cs, c)
		}
		run := func(limit int) *tracer.Trace {
			tr := tracer.NewTrace(limit)
			tr.Frames(frames)
			for i := 0; i < len(cs); i += 3 {
				tr.Returned(1, cs[i:min(i+3, len(cs))])
			}
			tr.Roots(1)
			tr.Callgraph()
			tr.Settle(1)
			return tr
		}
		all := run(0)
		st := all.Stats()
		require.Zero(t, st.Waiting)
		require.Equal(t, int64(len(cs)), calls(all.Callgraph()))
		small := run(2 + int(limit%64))
		require.Equal(t, all.Callgraph(), small.Callgraph(), "waiting on disk changes nothing")
	})
}

// When the temporary file cannot be written, calls beyond the limit wait
// in memory instead, and the trace says why; nothing is lost.
func TestReturnedNoTemporaryDirectory(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	tree := genTree(9, 5_000, 8)
	got := tree.returned(2_000, tree.post)
	want := tree.reference(2_000)
	assert.Equal(t, flowText(t, want), flowText(t, got))
	assert.Equal(t, want.Callgraph(), got.Callgraph())
	st := got.Stats()
	assert.Positive(t, st.Spilled)
	assert.ErrorContains(t, st.SpillError, "kept in memory, not on disk")
}
