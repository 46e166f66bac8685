package widgets

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"flowscape/tracer"
)

// FlowTree shows a trace's code flow as a tree: one root per thread, a child
// per call, in call order. Rows show the function, file:line, the duration
// once returned and the time since the trace started. Repeated consecutive
// calls of one function can be folded into one "×N" row.
type FlowTree struct {
	widget.BaseWidget

	// OnSelected is called when a call row is selected.
	OnSelected func(n tracer.Node)
	// OnOpen is called when a call row is double-clicked.
	OnOpen func(n tracer.Node)

	tree    *widget.Tree
	trace   *tracer.Trace
	visible *tracer.Visible
	fold    bool

	closedSet map[string]struct{}
	opened    map[string]struct{} // rows Update opened by itself
	groups    map[string]tracer.Group
	topLevel  map[uint32]map[string]bool // per thread, the rows last listed at its top level
	finished  bool
}

var _ fyne.Widget = (*FlowTree)(nil)

// NewFlowTree returns an empty flow tree; give it a trace with SetTrace.
func NewFlowTree() *FlowTree {
	ft := &FlowTree{fold: true}
	ft.tree = widget.NewTree(ft.childUIDs, ft.isBranch, ft.create, ft.update)
	ft.closedSet = map[string]struct{}{}
	ft.opened = map[string]struct{}{}
	ft.groups = map[string]tracer.Group{}
	ft.topLevel = map[uint32]map[string]bool{}
	ft.tree.OnBranchClosed = func(uid widget.TreeNodeID) { ft.closedSet[uid] = struct{}{} }
	ft.tree.OnBranchOpened = func(uid widget.TreeNodeID) { delete(ft.closedSet, uid) }
	ft.tree.OnSelected = func(uid widget.TreeNodeID) {
		if n, ok := ft.nodeOf(uid); ok && ft.OnSelected != nil {
			ft.OnSelected(n)
		}
	}
	ft.ExtendBaseWidget(ft)
	return ft
}

// CreateRenderer implements fyne.Widget.
func (ft *FlowTree) CreateRenderer() fyne.WidgetRenderer {
	return &flowTreeRenderer{ft: ft}
}

// SetTrace shows t (nil clears the tree). Call on the UI goroutine.
func (ft *FlowTree) SetTrace(t *tracer.Trace) {
	ft.trace = t
	ft.visible = nil
	ft.tree.CloseAllBranches()
	ft.tree.UnselectAll()
	ft.closedSet = map[string]struct{}{}
	ft.opened = map[string]struct{}{}
	ft.groups = map[string]tracer.Group{}
	ft.topLevel = map[uint32]map[string]bool{}
	ft.finished = false
	ft.tree.Refresh()
}

// Trace returns the trace shown.
func (ft *FlowTree) Trace() *tracer.Trace { return ft.trace }

// SetVisible limits the tree to the given nodes (nil shows all), as computed
// by Trace.Filter off the UI goroutine.
func (ft *FlowTree) SetVisible(v *tracer.Visible) {
	ft.visible = v
	ft.tree.Refresh()
}

// SetFold turns folding of repeated consecutive calls on or off.
func (ft *FlowTree) SetFold(on bool) {
	ft.fold = on
	ft.tree.CloseAllBranches()
	ft.opened = map[string]struct{}{}
	ft.closedSet = map[string]struct{}{}
	ft.Update()
}

// autoOpenDepth is how deep Update opens new calls by itself (0: the
// threads' top-level calls), so a newcomer sees the flow without clicking.
const autoOpenDepth = 1

// autoOpenRoots is how many of a thread's top-level calls (and of each
// opened call's children) Update opens by itself: every branch opened
// redraws the whole tree, and a trace file read at full speed brings
// thousands of calls per refresh.
const autoOpenRoots = 10

// Update re-reads the trace (new events, threads) and redraws. It opens the
// rows of new threads and their first levels of calls, except those the
// user closed.
func (ft *FlowTree) Update() {
	if ft.trace != nil {
		for _, th := range ft.trace.Threads() {
			uid := threadUID(th.TID)
			ft.autoOpen(uid)
			roots := ft.trace.Roots(th.TID)
			for _, root := range roots[:min(len(roots), autoOpenRoots)] {
				ft.autoOpenBelow(root, 0)
			}
		}
	}
	ft.tree.Refresh()
}

func (ft *FlowTree) autoOpenBelow(id tracer.NodeID, depth int) {
	n, ok := ft.trace.Node(id)
	if !ok || !n.HasChildren {
		return
	}
	ft.autoOpen(id.String())
	if depth < autoOpenDepth {
		// the first calls only: a call with a million children (a loop in
		// a big trace file) would redraw the tree once per child
		kids := ft.trace.Children(id)
		for _, c := range kids[:min(len(kids), autoOpenRoots)] {
			ft.autoOpenBelow(c, depth+1)
		}
	}
}

// autoOpen opens uid once; a row the user closed stays closed.
func (ft *FlowTree) autoOpen(uid string) {
	if _, done := ft.opened[uid]; done || ft.closed(uid) {
		return
	}
	ft.opened[uid] = struct{}{}
	ft.tree.OpenBranch(uid)
}

// SetFinished says the traced program has ended: calls still open are
// shown as never returned rather than running.
func (ft *FlowTree) SetFinished(done bool) {
	ft.finished = done
	ft.tree.Refresh()
}

// closed reports whether the user closed the row uid, so Update does not
// reopen it.
func (ft *FlowTree) closed(uid string) bool {
	_, ok := ft.closedSet[uid]
	return ok
}

// Select selects the row of node id.
func (ft *FlowTree) Select(id tracer.NodeID) {
	ft.tree.Select(id.String())
}

// ---- tree callbacks ----

func threadUID(tid uint32) string { return "t" + strconv.FormatUint(uint64(tid), 10) }

// groupUID names a folded group: "g" + parent uid + "|" + first + "|" + count.
func groupUID(parent string, g tracer.Group) string {
	return fmt.Sprintf("g%s|%s|%d", parent, g.First, g.Count)
}

func parseGroupUID(uid string) (parent string, first tracer.NodeID, count int, ok bool) {
	s := uid[1:]
	i := strings.LastIndexByte(s, '|')
	if i < 0 {
		return
	}
	count, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return
	}
	s = s[:i]
	j := strings.LastIndexByte(s, '|')
	if j < 0 {
		return
	}
	first, err = tracer.ParseNodeID(s[j+1:])
	if err != nil {
		return
	}
	return s[:j], first, count, true
}

func (ft *FlowTree) childUIDs(uid widget.TreeNodeID) []widget.TreeNodeID {
	t := ft.trace
	if t == nil {
		return nil
	}
	switch {
	case uid == "":
		var out []string
		for _, th := range t.Threads() {
			out = append(out, threadUID(th.TID))
		}
		return out
	case uid[0] == 't':
		tid, err := strconv.ParseUint(uid[1:], 10, 32)
		if err != nil {
			return nil
		}
		var out []string
		if ft.fold {
			out = ft.groupUIDs(uid, t.RootsFolded(uint32(tid)))
		} else {
			out = ft.nodeUIDs(t.Roots(uint32(tid)))
		}
		top := make(map[string]bool, len(out))
		for _, u := range out {
			top[u] = true
		}
		ft.topLevel[uint32(tid)] = top
		return out
	case uid[0] == 'g':
		parent, first, count, ok := parseGroupUID(uid)
		if !ok {
			return nil
		}
		var sibs []tracer.NodeID
		if parent[0] == 't' {
			tid, _ := strconv.ParseUint(parent[1:], 10, 32)
			sibs = t.Roots(uint32(tid))
		} else if pid, err := tracer.ParseNodeID(parent); err == nil {
			sibs = t.Children(pid)
		}
		for i, s := range sibs {
			if s == first {
				end := min(i+count, len(sibs))
				return ft.nodeUIDs(sibs[i:end])
			}
		}
		return nil
	default:
		id, err := tracer.ParseNodeID(uid)
		if err != nil {
			return nil
		}
		if ft.fold {
			return ft.groupUIDs(uid, t.ChildrenFolded(id))
		}
		return ft.nodeUIDs(t.Children(id))
	}
}

func (ft *FlowTree) nodeUIDs(ids []tracer.NodeID) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if ft.visible.Contains(id) {
			out = append(out, id.String())
		}
	}
	return out
}

func (ft *FlowTree) groupUIDs(parent string, gs []tracer.Group) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		if !ft.visible.Contains(g.First) {
			continue
		}
		if g.Count > 1 {
			uid := groupUID(parent, g)
			ft.groups[uid] = g
			out = append(out, uid)
		} else {
			out = append(out, g.First.String())
		}
	}
	return out
}

func (ft *FlowTree) isBranch(uid widget.TreeNodeID) bool {
	if uid == "" || uid[0] == 't' || uid[0] == 'g' {
		return true
	}
	n, ok := ft.nodeOf(uid)
	return ok && n.HasChildren
}

// nodeOf resolves a call row (or the first call of a folded group).
func (ft *FlowTree) nodeOf(uid string) (tracer.Node, bool) {
	if ft.trace == nil || uid == "" || uid[0] == 't' {
		return tracer.Node{}, false
	}
	if uid[0] == 'g' {
		_, first, _, ok := parseGroupUID(uid)
		if !ok {
			return tracer.Node{}, false
		}
		return ft.trace.Node(first)
	}
	id, err := tracer.ParseNodeID(uid)
	if err != nil {
		return tracer.Node{}, false
	}
	return ft.trace.Node(id)
}

func (ft *FlowTree) create(bool) fyne.CanvasObject { return newFlowRow(ft) }

func (ft *FlowTree) update(uid widget.TreeNodeID, _ bool, o fyne.CanvasObject) {
	r := o.(*flowRow)
	r.uid = uid
	t := ft.trace
	if t == nil {
		return
	}
	if uid[0] == 't' {
		tid, _ := strconv.ParseUint(uid[1:], 10, 32)
		name := ""
		for _, th := range t.Threads() {
			if th.TID == uint32(tid) {
				name = th.Name
			}
		}
		if name == "" {
			name = "thread"
		}
		r.set(fmt.Sprintf("%s  (tid %d)", name, tid), "", "", "", true)
		return
	}
	n, ok := ft.nodeOf(uid)
	if !ok {
		r.set("?", "", "", "", false)
		return
	}
	name := n.Frame.Func
	dur := ""
	if uid[0] == 'g' {
		_, _, count, _ := parseGroupUID(uid)
		name = fmt.Sprintf("%s  ×%d", name, count)
		if g, ok := ft.groups[uid]; ok && g.Total > 0 {
			dur = tracer.FormatDuration(time.Duration(g.Total)) + " in all"
		}
	} else if n.Open && ft.finished {
		dur = "no return seen"
	} else if n.Open {
		dur = "running"
	} else {
		dur = tracer.FormatDuration(time.Duration(n.Duration()))
		if n.Unwound {
			dur += "  (exception)"
		}
	}
	loc := ""
	if !n.Frame.C {
		loc = fmt.Sprintf("%s:%d", filepath.Base(n.Frame.File), n.Frame.Line)
	}
	if n.Waiting && ft.topLevel[n.ID.TID][uid] {
		// read before its caller (a file in end order, still loading)
		loc = strings.TrimSpace(loc + "  · caller not read yet")
	}
	since := "+" + tracer.FormatDuration(time.Duration(n.Start-t.StartNS()))
	r.set(name, loc, dur, since, false)
	if n.Waiting {
		r.setWaiting(true)
	}
}

// ---- rows ----

// flowRow is one row of the tree: it selects on tap and opens on
// double-tap.
type flowRow struct {
	widget.BaseWidget
	ft                    *FlowTree
	uid                   string
	name, loc, dur, since *widget.Label
}

func newFlowRow(ft *FlowTree) *flowRow {
	r := &flowRow{
		ft:    ft,
		name:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		loc:   widget.NewLabel(""),
		dur:   widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true}),
		since: widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true}),
	}
	r.loc.Importance = widget.LowImportance
	r.since.Importance = widget.LowImportance
	r.ExtendBaseWidget(r)
	return r
}

func (r *flowRow) set(name, loc, dur, since string, thread bool) {
	r.setWaiting(false)
	r.name.SetText(name)
	r.loc.SetText(loc)
	r.dur.SetText(dur)
	r.since.SetText(since)
	if thread {
		r.name.Importance = widget.HighImportance
	} else {
		r.name.Importance = widget.MediumImportance
	}
}

// setWaiting draws the name of a call placed provisionally (its callers
// are still being read) in italics.
func (r *flowRow) setWaiting(w bool) {
	style := fyne.TextStyle{Bold: !w, Italic: w}
	if r.name.TextStyle != style {
		r.name.TextStyle = style
		r.name.Refresh()
	}
}

// Text is the row's text as a user reads it (for tests and accessibility).
func (r *flowRow) Text() string {
	return strings.TrimSpace(strings.Join([]string{r.name.Text, r.loc.Text, r.dur.Text, r.since.Text}, "  "))
}

func (r *flowRow) CreateRenderer() fyne.WidgetRenderer {
	right := container.NewHBox(r.dur, r.since)
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, container.NewHBox(r.name, r.loc), right))
}

// Tapped selects the row.
func (r *flowRow) Tapped(*fyne.PointEvent) {
	if r.uid != "" {
		r.ft.tree.Select(r.uid)
	}
}

// DoubleTapped opens the row's source.
func (r *flowRow) DoubleTapped(*fyne.PointEvent) {
	if n, ok := r.ft.nodeOf(r.uid); ok && r.ft.OnOpen != nil {
		r.ft.OnOpen(n)
	}
}

type flowTreeRenderer struct{ ft *FlowTree }

var _ fyne.WidgetRenderer = (*flowTreeRenderer)(nil)

func (r *flowTreeRenderer) Destroy()                     {}
func (r *flowTreeRenderer) Layout(s fyne.Size)           { r.ft.tree.Resize(s) }
func (r *flowTreeRenderer) MinSize() fyne.Size           { return r.ft.tree.MinSize() }
func (r *flowTreeRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.ft.tree} }
func (r *flowTreeRenderer) Refresh()                     { r.ft.tree.Refresh() }
