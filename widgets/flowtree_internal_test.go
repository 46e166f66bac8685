package widgets

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"flowscape/tracer"
)

// demoTrace is a small trace: main calls a() twice (a calls b each time)
// and c once; c is still running.
func demoTrace() *tracer.Trace {
	tr := tracer.NewTrace(0)
	tr.Process(tracer.ProcessInfo{PID: 1, StartNS: 1000})
	tr.Frames([]tracer.Frame{
		{ID: 1, File: "/src/app.py", Func: "main", Line: 10},
		{ID: 2, File: "/src/app.py", Func: "a", Line: 20},
		{ID: 3, File: "/src/lib.py", Func: "b", Line: 5},
		{ID: 4, File: "/src/other.py", Func: "c", Line: 30},
	})
	tr.Thread(tracer.Thread{TID: 7, Name: "MainThread"})
	tr.Events(7, []tracer.Event{
		{TS: 1100, Frame: 1, Line: 10, Kind: tracer.Call},
		{TS: 1200, Frame: 2, Line: 20, Kind: tracer.Call},
		{TS: 1300, Frame: 3, Line: 5, Kind: tracer.Call},
		{TS: 1400, Frame: 3, Line: 6, Kind: tracer.Return},
		{TS: 1500, Frame: 2, Line: 21, Kind: tracer.Return},
		{TS: 1600, Frame: 2, Line: 20, Kind: tracer.Call},
		{TS: 1700, Frame: 3, Line: 5, Kind: tracer.Call},
		{TS: 1800, Frame: 3, Line: 6, Kind: tracer.Return},
		{TS: 2600, Frame: 2, Line: 21, Kind: tracer.Return},
		{TS: 2700, Frame: 4, Line: 31, Kind: tracer.Call},
	})
	return tr
}

// rows returns the texts of the rows on screen, in order.
func rows(ft *FlowTree) []string {
	var out []string
	for _, o := range test.LaidOutObjects(ft) {
		if r, ok := o.(*flowRow); ok && r.Visible() && r.uid != "" {
			out = append(out, r.Text())
		}
	}
	return out
}

func rowFor(t *testing.T, ft *FlowTree, prefix string) *flowRow {
	t.Helper()
	for _, o := range test.LaidOutObjects(ft) {
		if r, ok := o.(*flowRow); ok && r.Visible() && strings.HasPrefix(r.Text(), prefix) {
			return r
		}
	}
	t.Fatalf("no row starting with %q in %q", prefix, rows(ft))
	return nil
}

// newTestTree shows an empty flow tree in a test window.
func newTestTree(t *testing.T) *FlowTree {
	t.Helper()
	test.NewTempApp(t)
	ft := NewFlowTree()
	w := test.NewTempWindow(t, ft)
	w.Resize(fyne.NewSize(700, 500))
	return ft
}

func TestFlowTreeGrowsAndFolds(t *testing.T) {
	ft := newTestTree(t)
	tr := demoTrace()
	ft.SetTrace(tr)
	ft.Update()
	// The thread and its first calls open by themselves; a() twice in a
	// row folds into one ×2 row, then c().
	got := rows(ft)
	if len(got) != 4 || !strings.HasPrefix(got[0], "MainThread  (tid 7)") || !strings.HasPrefix(got[1], "main  app.py:10  running") || !strings.HasPrefix(got[2], "a  ×2  app.py:20  1.30µs in all") || !strings.HasPrefix(got[3], "c  other.py:30  running") {
		t.Fatalf("rows after opening main = %q", got)
	}
	// The program goes on: c returns, a new thread starts.
	tr.Events(7, []tracer.Event{{TS: 3700, Frame: 4, Line: 32, Kind: tracer.Return}})
	tr.Thread(tracer.Thread{TID: 8, Name: "worker"})
	tr.Events(8, []tracer.Event{{TS: 3000, Frame: 3, Line: 5, Kind: tracer.Call}, {TS: 3100, Frame: 3, Line: 6, Kind: tracer.Return}})
	ft.Update()
	got = rows(ft)
	if len(got) != 6 || !strings.HasPrefix(got[3], "c  other.py:30  1.00µs") || !strings.HasPrefix(got[4], "worker  (tid 8)") || !strings.HasPrefix(got[5], "b  lib.py:5  100ns") {
		t.Fatalf("rows after more events = %q", got)
	}
	// Unfolded, both calls of a() have their own row with their duration.
	ft.SetFold(false)
	got = rows(ft)
	if len(got) != 9 || !strings.HasPrefix(got[2], "a  app.py:20  300ns  +200ns") || !strings.HasPrefix(got[4], "a  app.py:20  1.00µs  +600ns") {
		t.Fatalf("unfolded rows = %q", got)
	}
	// A row the user closes stays closed as events arrive.
	ft.tree.CloseBranch(tracer.NodeID{TID: 7, Index: 0}.String())
	ft.Update()
	if got = rows(ft); len(got) != 4 {
		t.Fatalf("rows after closing main = %q", got)
	}
	// Once the program has ended, an open call never returned.
	ft.SetFinished(true)
	ft.tree.OpenBranch(tracer.NodeID{TID: 7, Index: 0}.String())
	if r := rowFor(t, ft, "main"); !strings.Contains(r.Text(), "no return seen") {
		t.Errorf("main row after the end = %q", r.Text())
	}
}

func TestFlowTreeFilter(t *testing.T) {
	ft := newTestTree(t)
	tr := demoTrace()
	ft.SetTrace(tr)
	ft.SetFold(false)
	ft.tree.OpenAllBranches()
	ft.SetVisible(tr.Filter("lib"))
	ft.SetVisible(tr.Filter("OTHER"))
	got := rows(ft)
	for _, r := range got {
		if strings.HasPrefix(r, "a ") || strings.HasPrefix(r, "b ") {
			t.Errorf("row %q shown, but neither it nor its calls match the filter", r)
		}
	}
	if len(got) != 3 {
		t.Errorf("rows = %q, want thread, main and c", got)
	}
}

func TestFlowTreeDoubleTapOpensSource(t *testing.T) {
	ft := newTestTree(t)
	ft.SetTrace(demoTrace())
	ft.SetFold(false)
	ft.Update()
	ft.tree.OpenBranch(tracer.NodeID{TID: 7, Index: 0}.String())
	var opened []tracer.Node
	ft.OnOpen = func(n tracer.Node) { opened = append(opened, n) }
	test.DoubleTap(rowFor(t, ft, "c  other.py:30"))
	if len(opened) != 1 || opened[0].Frame.File != "/src/other.py" || opened[0].Frame.Line != 30 || opened[0].Line != 31 {
		t.Fatalf("opened %+v, want c at /src/other.py:30 (current line 31)", opened)
	}
	var selected []tracer.Node
	ft.OnSelected = func(n tracer.Node) { selected = append(selected, n) }
	test.Tap(rowFor(t, ft, "main"))
	if len(selected) != 1 || selected[0].Frame.Func != "main" {
		t.Fatalf("selected %+v, want main", selected)
	}
}

// A file written in end order (VizTracer) shows its calls while it loads:
// those whose caller is not read yet sit at the thread's top level, in
// italics and saying so; once the caller comes they move under it, and
// when the thread is settled they are ordinary rows.
func TestFlowTreeWaitingRows(t *testing.T) {
	ft := newTestTree(t)
	tr := tracer.NewTrace(0)
	tr.Process(tracer.ProcessInfo{PID: 1, StartNS: 1000})
	tr.Frames([]tracer.Frame{
		{ID: 1, File: "/src/app.py", Func: "main", Line: 10},
		{ID: 2, File: "/src/app.py", Func: "a", Line: 20},
	})
	tr.Thread(tracer.Thread{TID: 7, Name: "MainThread"})
	// a() returned twice; main() has not been read yet
	tr.Returned(7, []tracer.CallSpan{{Start: 1200, End: 1500, Frame: 2}, {Start: 1600, End: 2600, Frame: 2}})
	ft.SetTrace(tr)
	ft.SetFold(false)
	ft.Update()
	r := rowFor(t, ft, "a")
	if !strings.Contains(r.Text(), "caller not read yet") || !r.name.TextStyle.Italic {
		t.Fatalf("a waiting call reads %q (italic %v)", r.Text(), r.name.TextStyle.Italic)
	}
	// main() returns: both calls of a() are its children now
	tr.Returned(7, []tracer.CallSpan{{Start: 1100, End: 3000, Frame: 1}})
	ft.Update()
	got := rows(ft)
	if len(got) != 4 || !strings.HasPrefix(got[1], "main  app.py:10  · caller not read yet") || !strings.HasPrefix(got[2], "a  app.py:20  300ns") {
		t.Fatalf("rows once main was read = %q", got)
	}
	tr.Settle(7)
	ft.SetTrace(tr)
	ft.Update()
	ft.tree.OpenAllBranches()
	for _, row := range []string{"main", "a"} {
		r := rowFor(t, ft, row)
		if strings.Contains(r.Text(), "not read yet") || r.name.TextStyle.Italic {
			t.Errorf("settled, %s reads %q (italic %v)", row, r.Text(), r.name.TextStyle.Italic)
		}
	}
}
