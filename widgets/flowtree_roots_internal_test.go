package widgets

import (
	"testing"

	"flowscape/tracer"
)

// A thread with thousands of top-level calls (a trace file read at full
// speed) opens only its first calls by itself; the others stay closed
// until the user opens them.
func TestFlowTreeOpensFirstRootsOnly(t *testing.T) {
	ft := newTestTree(t)
	tr := tracer.NewTrace(0)
	tr.Frames([]tracer.Frame{{ID: 1, File: "/src/app.py", Func: "handle", Line: 1}, {ID: 2, File: "/src/app.py", Func: "parse", Line: 9}})
	var evs []tracer.Event
	for i := range int64(5000) {
		evs = append(evs,
			tracer.Event{TS: 10 * i, Frame: 1, Kind: tracer.Call},
			tracer.Event{TS: 10*i + 1, Frame: 2, Kind: tracer.Call},
			tracer.Event{TS: 10*i + 2, Frame: 2, Kind: tracer.Return},
			tracer.Event{TS: 10*i + 3, Frame: 1, Kind: tracer.Return})
	}
	tr.Events(1, evs)
	ft.SetFold(false)
	ft.SetTrace(tr)
	ft.Update()
	roots := tr.Roots(1)
	if len(roots) != 5000 {
		t.Fatalf("%d roots, want 5000", len(roots))
	}
	if !ft.tree.IsBranchOpen(roots[autoOpenRoots-1].String()) || ft.tree.IsBranchOpen(roots[autoOpenRoots].String()) {
		t.Errorf("want the first %d top-level calls open, the next closed", autoOpenRoots)
	}
	if len(ft.opened) != autoOpenRoots+1 {
		t.Errorf("Update opened %d rows, want the thread and %d calls", len(ft.opened), autoOpenRoots)
	}
}

// A call with thousands of children (a loop in a big trace file) opens
// only its first children by itself.
func TestFlowTreeOpensFirstChildrenOnly(t *testing.T) {
	ft := newTestTree(t)
	tr := tracer.NewTrace(0)
	tr.Frames([]tracer.Frame{{ID: 1, File: "/src/app.py", Func: "main", Line: 1}, {ID: 2, File: "/src/app.py", Func: "step", Line: 5}, {ID: 3, File: "/src/app.py", Func: "work", Line: 9}})
	evs := []tracer.Event{{TS: 0, Frame: 1, Kind: tracer.Call}}
	for i := range int64(5000) {
		evs = append(evs,
			tracer.Event{TS: 10*i + 1, Frame: 2, Kind: tracer.Call},
			tracer.Event{TS: 10*i + 2, Frame: 3, Kind: tracer.Call},
			tracer.Event{TS: 10*i + 3, Frame: 3, Kind: tracer.Return},
			tracer.Event{TS: 10*i + 4, Frame: 2, Kind: tracer.Return})
	}
	tr.Events(1, evs)
	ft.SetFold(false)
	ft.SetTrace(tr)
	ft.Update()
	kids := tr.Children(tr.Roots(1)[0])
	if len(kids) != 5000 {
		t.Fatalf("%d children, want 5000", len(kids))
	}
	if !ft.tree.IsBranchOpen(kids[autoOpenRoots-1].String()) || ft.tree.IsBranchOpen(kids[autoOpenRoots].String()) {
		t.Errorf("want the first %d children open, the next closed", autoOpenRoots)
	}
	if len(ft.opened) != autoOpenRoots+2 {
		t.Errorf("Update opened %d rows, want the thread, main and %d calls", len(ft.opened), autoOpenRoots)
	}
}
