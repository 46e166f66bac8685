package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources"
	"flowscape/tracer"
)

// Open trace… reads every format into the tree, and says how it read it.
func TestFlowTabOpensEveryFormat(t *testing.T) {
	u := newTestUI(t)
	for _, tt := range []struct{ file, format, root string }{
		{"speedscope_0.1.2_simple-sampled.speedscope.json", "speedscope", "a"},
		{"callgrind_callgrind.name-compression.log", "callgrind", "main"},
		{"stackcollapse_simple.txt", "collapsed", "a"},
		{"viztracer_logging_integration.json", "chrome", "builtins.exec"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			u.flow.openTrace(filepath.Join(interop, tt.file))
			got := waitStatus(t, u, "Finished")
			assert.Contains(t, got, "Read as "+tt.format)
			tr := u.flow.tree.Trace()
			require.NotNil(t, tr)
			th := tr.Threads()[0]
			roots := tr.Roots(th.TID)
			require.NotEmpty(t, roots)
			n, _ := tr.Node(roots[0])
			assert.Equal(t, tt.root, n.Frame.Func)
			assert.False(t, u.flow.load.row.Visible(), "the progress bar goes once the file is read")
		})
	}
	// VizTracer's log lines are instants: the Marks tab lists them in order
	assert.Contains(t, u.status.Text, "41 instant events (marks, not calls)")
	u.flow.tick()
	fyne.DoAndWait(func() {})
	m := u.flow.marks
	assert.Equal(t, "Marks (41)", m.tab.Text)
	assert.Equal(t, m.tab, m.tabs.Selected(), "a file with marks and no program output opens on them")
	assert.False(t, m.empty.Visible(), "no 'No marks' text over them")
	require.Len(t, m.lines, 41)
	assert.Regexp(t, `^\+\S+  process  logging - INFO:root:Recursive, working on 7$`, m.lines[0])

	u.flow.openTrace(filepath.Join(interop, "speedscope_invalid_incomplete-trace.json"))
	got := waitStatus(t, u, "Error")
	assert.Contains(t, got, "event 1")
	assert.Contains(t, got, "still open at the end")
}

// A followed file grows in the tree while it is written; the bar says how
// much was read, and Cancel stops reading and keeps what was read.
func TestFlowTabFollowAndCancel(t *testing.T) {
	u := newTestUI(t)
	path := filepath.Join(t.TempDir(), "live.json")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	write := func(i int) {
		_, err := fmt.Fprintf(f, `{"ph":"B","name":"step%d (a.py:%d)","ts":%d,"pid":1,"tid":1},`+"\n"+`{"ph":"E","ts":%d,"pid":1,"tid":1},`+"\n", i, i+1, 10*i, 10*i+5)
		require.NoError(t, err)
	}
	_, err = f.WriteString("[\n")
	require.NoError(t, err)
	write(0)

	u.flow.load.follow.SetChecked(true)
	u.flow.openTrace(path)
	assert.Contains(t, u.status.Text, "Following "+path)
	assert.True(t, u.flow.load.row.Visible())
	rows := func() int {
		tr := u.flow.tree.Trace()
		if len(tr.Threads()) == 0 {
			return 0
		}
		return len(tr.Roots(1))
	}
	for i := 1; i <= 3; i++ {
		write(i)
		deadline := time.Now().Add(20 * time.Second)
		for rows() < i+1 && time.Now().Before(deadline) {
			u.flow.tick()
			time.Sleep(10 * time.Millisecond)
		}
		require.Equal(t, i+1, rows(), "call %d shows while the file is written", i)
	}
	u.flow.tick()
	fyne.DoAndWait(func() {})
	assert.Contains(t, u.flow.load.label.Text, "following:")
	// the callgraph has them too, while the file is still being read
	u.callgraph.async = func(fn func()) { fn() }
	u.callgraph.tick()
	u.callgraph.mu.Lock()
	g := u.callgraph.full
	u.callgraph.mu.Unlock()
	require.NotNil(t, g)
	assert.Len(t, g.Nodes, 4)
	assert.True(t, u.flow.session.Load().Running())

	test.Tap(u.flow.load.cancel)
	got := waitStatus(t, u, "Stopped")
	assert.Contains(t, got, "8 events kept")
	assert.False(t, u.flow.load.row.Visible())
}

// The memory limit the user sets bounds the next trace, and reaching it is
// said in the status bar and the stats.
func TestFlowTabMemoryLimit(t *testing.T) {
	u := newTestUI(t)
	l := u.flow.load
	assert.Equal(t, "≤ 480 MB", l.memory.Selected)
	assert.Equal(t, tracer.DefaultLimit, l.limit())
	l.memory.SetSelected("≤ 120 MB")
	assert.Equal(t, 5_000_000, l.limit())
	assert.Equal(t, 120, fyne.CurrentApp().Preferences().Int(prefMemory), "the choice is kept")

	// 1 MB: 41 666 events; the file has 60 000
	l.memMB.Store(1)
	path := filepath.Join(t.TempDir(), "many.json")
	var b strings.Builder
	b.WriteString("[")
	for i := range 30_000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"ph":"X","name":"f (a.py:1)","ts":%d,"dur":1,"tid":1}`, 2*i)
	}
	b.WriteString("]")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	u.flow.openTrace(path)
	got := waitStatus(t, u, "Finished")
	assert.Contains(t, got, "the memory limit (1 MB, 41666 events) was reached: 18334 later events are not in the tree, the callgraph still counts them")
	assert.Contains(t, u.stats.Text, "memory limit: 18334 events not kept (callgraph exact)")
	assert.Equal(t, int64(30_000), u.flow.tree.Trace().Callgraph().Nodes[0].Calls)
}

// Double-clicking a call of a VizTracer file whose source is not on disk
// shows the source the file carried.
func TestFlowTabEmbeddedSource(t *testing.T) {
	u := newTestUI(t)
	u.flow.openTrace(filepath.Join(interop, "viztracer_multithread.json"))
	waitStatus(t, u, "Finished")
	tr := u.flow.tree.Trace()
	var fib tracer.Frame
	for _, f := range tr.FrameList() {
		if f.Func == "fib" {
			fib = f
		}
	}
	require.NotEmpty(t, fib.File)
	_, err := os.Stat(fib.File)
	require.True(t, os.IsNotExist(err), "the test wants %s not to exist", fib.File)
	u.flow.openSource(tracer.Node{Frame: fib, Line: int32(fib.Line)})
	fyne.DoAndWait(func() {})
	assert.Equal(t, "def fib(n):", u.flow.source.TargetText())
	assert.Contains(t, u.flow.source.Note(), "from the trace file")
	assert.Contains(t, u.status.Text, "fib  "+fib.File)
}

func TestLoadSourceOf(t *testing.T) {
	tr := tracer.NewTrace(0)
	tr.EmbeddedSource("/nowhere/x.py", "a = 1\n\tdef f():\n    pass\n")
	got, err := LoadSourceOf(tr, "/nowhere/x.py", 2)
	require.NoError(t, err)
	assert.Equal(t, SourceText{First: 1, Lines: []string{"a = 1", "    def f():", "    pass"}, Note: "from the trace file (/nowhere/x.py no longer exists)"}, got)
	_, err = LoadSourceOf(tr, "/nowhere/y.py", 1)
	assert.ErrorContains(t, err, "/nowhere/y.py no longer exists")
	_, err = LoadSourceOf(nil, "/nowhere/y.py", 1)
	assert.Error(t, err)
}

// Save as… writes the trace shown in the format the file name says.
func TestFlowTabSaveAs(t *testing.T) {
	u := newTestUI(t)
	u.flow.openTrace(filepath.Join(interop, "viztracer_multithread.json"))
	waitStatus(t, u, "Finished")
	want := callsByFunc(t, filepath.Join(interop, "viztracer_multithread.json"))
	dir := t.TempDir()
	for _, name := range []string{"out.speedscope.json", "callgrind.out.7", "out.json"} {
		path := filepath.Join(dir, name)
		w, err := os.Create(path)
		require.NoError(t, err)
		u.flow.load.save(u.flow.tree.Trace(), w, path)
		assert.Contains(t, u.status.Text, "Saved the trace to "+path)
		assert.Equal(t, want, callsByFunc(t, path), name)
	}
	path := filepath.Join(dir, "out.xyz")
	w, err := os.Create(path)
	require.NoError(t, err)
	u.flow.load.save(u.flow.tree.Trace(), w, path)
	assert.Contains(t, u.status.Text, "cannot tell the format of out.xyz")
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err), "the empty file is removed")
}

// While a file written in end order (VizTracer's) is read, its calls show
// before their callers are read, and the progress says so; once read they
// are in place.
func TestFlowTabShowsCallsBeforeTheirCallers(t *testing.T) {
	u := newTestUI(t)
	release := make(chan struct{})
	src := sources.FlowFunc(func(_ context.Context, rec tracer.Recorder) error {
		er, ok := rec.(tracer.EndOrderRecorder)
		if !ok {
			return fmt.Errorf("the session's trace does not take calls in end order")
		}
		rec.Frames([]tracer.Frame{{ID: 1, Func: "main", File: "m.py", Line: 1}, {ID: 2, Func: "step", File: "m.py", Line: 5}})
		er.Returned(1, []tracer.CallSpan{{Start: 10, End: 20, Frame: 2}, {Start: 30, End: 40, Frame: 2}})
		<-release
		er.Returned(1, []tracer.CallSpan{{Start: 0, End: 50, Frame: 1}})
		er.Settle(1)
		return nil
	})
	st := &loadState{path: "end-order.json"}
	st.size.Store(100)
	u.flow.load.start(src, st, "Opening end-order.json…")
	tr := u.flow.tree.Trace()
	deadline := time.Now().Add(20 * time.Second)
	for tr.Stats().Waiting < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	u.flow.tick()
	fyne.DoAndWait(func() {})
	assert.Contains(t, u.flow.load.label.Text, "2 calls shown before their callers")
	assert.Contains(t, u.stats.Text, "0 events + 2 calls to place")
	roots := tr.Roots(1)
	require.Len(t, roots, 2)
	n, _ := tr.Node(roots[0])
	assert.True(t, n.Waiting)
	assert.Equal(t, "step", n.Frame.Func)

	close(release)
	waitStatus(t, u, "Finished")
	roots = tr.Roots(1)
	require.Len(t, roots, 1)
	n, _ = tr.Node(roots[0])
	assert.Equal(t, "main", n.Frame.Func)
	assert.False(t, n.Waiting)
	assert.Len(t, tr.Children(roots[0]), 2)
	assert.Contains(t, u.stats.Text, "6 events · 1 threads")
}

// The memory limit covers calls of a file written in end order while they
// wait for their callers: beyond it they wait on disk, and the status bar
// says so; the callgraph counts every call.
func TestFlowTabEndOrderBeyondTheLimit(t *testing.T) {
	u := newTestUI(t)
	l := u.flow.load
	l.memMB.Store(1) // 41 666 events: 20 833 calls
	path := filepath.Join(t.TempDir(), "end.json")
	var b strings.Builder
	b.WriteString("[")
	const n = 30_000
	for i := range n {
		fmt.Fprintf(&b, `{"ph":"X","name":"f (a.py:1)","ts":%d,"dur":1,"tid":1},`, 2*i+1)
	}
	fmt.Fprintf(&b, `{"ph":"X","name":"main (a.py:9)","ts":0,"dur":%d,"tid":1}]`, 2*n+1)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	u.flow.openTrace(path)
	got := waitStatus(t, u, "Finished")
	assert.Contains(t, got, "the memory limit (1 MB, 41666 events) was reached")
	assert.Regexp(t, `\d+ calls came, in the file's end order, beyond the memory limit: they waited on disk`, got)
	g := byFunc(u.flow.tree.Trace().Callgraph())
	assert.Equal(t, int64(n), g["f"])
	assert.Equal(t, int64(1), g["main"])
}

func byFunc(g *tracer.Graph) map[string]int64 {
	out := map[string]int64{}
	for _, nd := range g.Nodes {
		out[nd.Frame.Func] += nd.Calls
	}
	return out
}

// A Chrome trace's counters show in the Marks tab, one line and sparkline
// per series.
func TestFlowTabShowsCounters(t *testing.T) {
	u := newTestUI(t)
	path := filepath.Join(t.TempDir(), "counters.json")
	require.NoError(t, os.WriteFile(path, []byte(`[
{"ph":"X","name":"main (m.py:1)","ts":0,"dur":100,"pid":1,"tid":1},
{"ph":"C","name":"mem","ts":10,"pid":1,"args":{"rss":1,"heap":7}},
{"ph":"C","name":"mem","ts":20,"pid":1,"args":{"rss":5,"heap":8}},
{"ph":"C","name":"mem","ts":30,"pid":1,"args":{"rss":2,"heap":9}},
{"ph":"i","name":"gc","ts":40,"pid":1,"tid":1,"s":"t"}]`), 0o600))
	u.flow.openTrace(path)
	waitStatus(t, u, "Finished")
	u.flow.tick()
	fyne.DoAndWait(func() {})
	m := u.flow.marks
	assert.Equal(t, "Marks (3)", m.tab.Text, "one instant and two series")
	assert.Equal(t, []string{"+40.0µs  tid 1  gc"}, m.lines)
	var labels []string
	for _, o := range m.counters.Objects {
		for _, c := range o.(*fyne.Container).Objects {
			if l, ok := c.(*widget.Label); ok {
				labels = append(labels, l.Text)
			}
		}
	}
	assert.Equal(t, []string{"mem.heap: 3 samples, 7 … 9, last 9", "mem.rss: 3 samples, 1 … 5, last 2"}, labels)
}
