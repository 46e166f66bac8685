package tracer

import (
	"fmt"
	"strings"
)

// DefaultMaxNodes is how many functions a trimmed callgraph shows unless
// told otherwise.
const DefaultMaxNodes = 80

// TrimOptions say how to cut a callgraph down for display. The zero value
// keeps everything.
type TrimOptions struct {
	// Focus, when FocusSet, keeps only the function Focus, its callers and
	// its callees, up to FocusDepth levels away (1 when FocusDepth <= 0).
	Focus      FrameID
	FocusSet   bool
	FocusDepth int
	// NodeFraction drops functions whose inclusive time is below this
	// fraction of the total time (0 keeps all).
	NodeFraction float64
	// MaxNodes keeps only this many functions, those with the most
	// inclusive time (0 keeps all).
	MaxNodes int
	// EdgeFraction drops edges whose time is below this fraction of the
	// total time (0 keeps all).
	EdgeFraction float64
}

// TrimStep is what one trimming step dropped.
type TrimStep struct {
	Name  string // e.g. "top 80 by inclusive time"
	Nodes int    // functions dropped by this step
	Edges int    // edges dropped by this step, including those of dropped functions
}

// TrimReport says what a Trim kept and dropped, for the legend.
type TrimReport struct {
	Nodes, Edges         int // in the graph before trimming
	KeptNodes, KeptEdges int
	Total                int64 // ns: the time fractions are taken of
	Steps                []TrimStep
}

// Dropped reports whether anything was dropped.
func (r TrimReport) Dropped() bool { return r.KeptNodes < r.Nodes || r.KeptEdges < r.Edges }

// String describes the report in one line, e.g. "showing 80 of 10000
// functions, 95 of 12000 calls edges; hidden: 9920 functions (top 80 by
// inclusive time)".
func (r TrimReport) String() string {
	s := fmt.Sprintf("showing %d of %d functions, %d of %d edges", r.KeptNodes, r.Nodes, r.KeptEdges, r.Edges)
	var parts []string
	for _, st := range r.Steps {
		if st.Nodes == 0 && st.Edges == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d functions, %d edges", st.Name, st.Nodes, st.Edges))
	}
	if len(parts) > 0 {
		s += "; hidden by " + strings.Join(parts, "; ")
	}
	return s
}

// TotalTime is the time the graph covers: the sum of every function's
// exclusive time, which is the traced time summed over threads.
func (g *Graph) TotalTime() int64 {
	var total int64
	for _, n := range g.Nodes {
		total += max(n.Exclusive, 0)
	}
	return total
}

// Trim returns a copy of g cut down by o, in small named steps (focus,
// node fraction, top N, edge fraction), and a report of what each dropped.
// g is not changed. Edges whose ends were dropped go with them.
func (g *Graph) Trim(o TrimOptions) (*Graph, TrimReport) {
	out := &Graph{
		Nodes:   append([]GraphNode(nil), g.Nodes...),
		Edges:   append([]GraphEdge(nil), g.Edges...),
		StartNS: g.StartNS,
		LastTS:  g.LastTS,
		Waiting: g.Waiting,
	}
	r := TrimReport{Nodes: len(g.Nodes), Edges: len(g.Edges), Total: g.TotalTime()}
	if o.FocusSet {
		depth := max(o.FocusDepth, 1)
		r.Steps = append(r.Steps, out.step(fmt.Sprintf("focus on %s (%d levels)", g.name(o.Focus), depth), func() {
			out.focus(o.Focus, depth)
		}))
	}
	if o.NodeFraction > 0 {
		r.Steps = append(r.Steps, out.step(fmt.Sprintf("inclusive time < %s of total", percent(o.NodeFraction)), func() {
			out.discardLowFractionNodes(o.NodeFraction, r.Total)
		}))
	}
	if o.MaxNodes > 0 {
		r.Steps = append(r.Steps, out.step(fmt.Sprintf("top %d by inclusive time", o.MaxNodes), func() {
			out.selectTopNodes(o.MaxNodes, o.Focus, o.FocusSet)
		}))
	}
	if o.EdgeFraction > 0 {
		r.Steps = append(r.Steps, out.step(fmt.Sprintf("edge time < %s of total", percent(o.EdgeFraction)), func() {
			out.trimLowFractionEdges(o.EdgeFraction, r.Total)
		}))
	}
	r.KeptNodes, r.KeptEdges = len(out.Nodes), len(out.Edges)
	return out, r
}

func percent(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", 100*f), "0"), ".") + "%"
}

// name is the function name of id, or its number when g lacks it.
func (g *Graph) name(id FrameID) string {
	if n, ok := g.Node(id); ok {
		return n.Frame.Func
	}
	return fmt.Sprintf("<frame %d>", id)
}

// step runs one trimming step and reports what it dropped.
func (g *Graph) step(name string, run func()) TrimStep {
	nodes, edges := len(g.Nodes), len(g.Edges)
	run()
	g.dropDanglingEdges()
	return TrimStep{Name: name, Nodes: nodes - len(g.Nodes), Edges: edges - len(g.Edges)}
}

// keepNodes keeps the nodes for which keep is true, in order.
func (g *Graph) keepNodes(keep func(GraphNode) bool) {
	out := g.Nodes[:0]
	for _, n := range g.Nodes {
		if keep(n) {
			out = append(out, n)
		}
	}
	g.Nodes = out
}

// dropDanglingEdges drops edges whose caller or callee is not in g.
func (g *Graph) dropDanglingEdges() {
	in := make(map[FrameID]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		in[n.ID] = true
	}
	out := g.Edges[:0]
	for _, e := range g.Edges {
		if in[e.From] && in[e.To] {
			out = append(out, e)
		}
	}
	g.Edges = out
}

// focus keeps fn and the functions that reach it (callers) or that it
// reaches (callees) in at most depth calls, and the edges along those
// paths.
func (g *Graph) focus(fn FrameID, depth int) {
	callers := make(map[FrameID][]FrameID)
	callees := make(map[FrameID][]FrameID)
	for _, e := range g.Edges {
		callers[e.To] = append(callers[e.To], e.From)
		callees[e.From] = append(callees[e.From], e.To)
	}
	walk := func(next map[FrameID][]FrameID) map[FrameID]bool {
		seen := map[FrameID]bool{fn: true}
		frontier := []FrameID{fn}
		for range depth {
			var nextFrontier []FrameID
			for _, id := range frontier {
				for _, m := range next[id] {
					if !seen[m] {
						seen[m] = true
						nextFrontier = append(nextFrontier, m)
					}
				}
			}
			frontier = nextFrontier
		}
		return seen
	}
	up, down := walk(callers), walk(callees)
	if _, ok := g.Node(fn); !ok {
		up, down = nil, nil
	}
	g.keepNodes(func(n GraphNode) bool { return up[n.ID] || down[n.ID] })
	// keep only edges along caller chains (both ends above fn) or callee
	// chains (both ends below fn)
	out := g.Edges[:0]
	for _, e := range g.Edges {
		if (up[e.From] && up[e.To]) || (down[e.From] && down[e.To]) {
			out = append(out, e)
		}
	}
	g.Edges = out
}

// discardLowFractionNodes drops functions with inclusive time below
// fraction of total.
func (g *Graph) discardLowFractionNodes(fraction float64, total int64) {
	cut := int64(fraction * float64(total))
	g.keepNodes(func(n GraphNode) bool { return n.Inclusive >= cut })
}

// selectTopNodes keeps the n functions with the most inclusive time (the
// focused function always stays). g.Nodes is sorted by inclusive time.
func (g *Graph) selectTopNodes(n int, focus FrameID, focusSet bool) {
	if len(g.Nodes) <= n {
		return
	}
	kept := 0
	g.keepNodes(func(nd GraphNode) bool {
		if (focusSet && nd.ID == focus) || kept < n {
			kept++
			return true
		}
		return false
	})
	if len(g.Nodes) > n { // the focused function was past the cut
		g.Nodes = append(g.Nodes[:n-1], g.Nodes[n])
	}
}

// trimLowFractionEdges drops edges with time below fraction of total. The
// edge with the most time into each function stays, so no function floats
// unconnected because of this step.
func (g *Graph) trimLowFractionEdges(fraction float64, total int64) {
	cut := int64(fraction * float64(total))
	reached := make(map[FrameID]bool)
	out := g.Edges[:0]
	for _, e := range g.Edges { // by time, largest first
		if e.Time >= cut || !reached[e.To] {
			out = append(out, e)
			reached[e.To] = true
		}
	}
	g.Edges = out
}
