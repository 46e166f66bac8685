package tracer

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
)

// threadFunc is one function's callgraph counters on one thread.
type threadFunc struct {
	frame     FrameID
	onStack   int32 // open calls of this function on the thread's stack
	calls     int64
	incl      int64 // ns, counted once per stack
	excl      int64 // ns, own time minus direct children's
	firstTS   int64
	firstPath []FrameID // stack at the first call, root first, ending with frame

	// the last caller (local index) and its edge, to skip the map lookup
	// for repeated calls from the same place
	cacheCaller int32
	cacheEdge   int32
}

// edgeStat is one caller→callee edge on one thread.
type edgeStat struct {
	from, to FrameID
	calls    int64
	time     int64 // ns of the callee under this caller, once per stack
	onStack  int32
}

// localOf returns the index into th.fns for frame f, adding it when new.
func (th *threadStore) localOf(f FrameID) int32 {
	if int(f) < len(th.local) {
		if l := th.local[f]; l != 0 {
			return l - 1
		}
	} else {
		local := make([]int32, max(int(f)+1, 2*len(th.local), 64))
		copy(local, th.local)
		th.local = local
	}
	th.fns = append(th.fns, threadFunc{frame: f, cacheCaller: -1})
	l := int32(len(th.fns))
	th.local[f] = l
	return l - 1
}

// path returns the frames on the stack, root first, followed by f.
func (th *threadStore) path(f FrameID) []FrameID {
	p := make([]FrameID, len(th.stack)+1)
	for i := range th.stack {
		p[i] = th.stack[i].frame
	}
	p[len(th.stack)] = f
	return p
}

// edgeOf returns the index into th.edges of the edge caller→callee (local
// indexes), adding it when new.
func (th *threadStore) edgeOf(caller, callee int32) int32 {
	fn := &th.fns[callee]
	if fn.cacheCaller == caller {
		return fn.cacheEdge
	}
	key := uint64(uint32(caller))<<32 | uint64(uint32(callee))
	e, ok := th.edgeIdx[key]
	if !ok {
		e = int32(len(th.edges))
		th.edges = append(th.edges, edgeStat{from: th.fns[caller].frame, to: fn.frame})
		th.edgeIdx[key] = e
	}
	fn.cacheCaller, fn.cacheEdge = caller, e
	return e
}

// pop closes the top call of the stack at ts and accounts for its time.
func (th *threadStore) pop(ts int64) frameState {
	n := len(th.stack) - 1
	s := th.stack[n]
	th.stack = th.stack[:n]
	dur := max(ts-s.ts, 0)
	fn := &th.fns[s.local]
	fn.onStack--
	fn.excl += dur - s.child
	if !s.recur {
		fn.incl += dur
	}
	if n > 0 {
		th.stack[n-1].child += dur
	}
	if s.edge >= 0 {
		ed := &th.edges[s.edge]
		ed.onStack--
		if !s.edgeRecur {
			ed.time += dur
		}
	}
	return s
}

// Graph is a callgraph snapshot, pprof style: functions as nodes, calls as
// edges.
type Graph struct {
	Nodes   []GraphNode // by Inclusive, largest first, then by ID
	Edges   []GraphEdge // by Time, largest first, then by From and To
	StartNS int64       // the trace's StartNS
	LastTS  int64       // the latest event; open calls are counted up to it
	// Waiting is how many calls given in end order wait to be placed (see
	// Node.Waiting). Those kept in memory are counted, provisionally: their
	// callers' edges are missing until the callers are read, and recursive
	// edges count every level.
	Waiting int
}

// GraphNode is one function in a callgraph.
type GraphNode struct {
	ID    FrameID
	Frame Frame
	Calls int64 // entries, including generator resumptions
	// Inclusive is the time in ns spent in this function and everything it
	// called; a recursive call is counted once per stack.
	Inclusive int64
	// Exclusive is the time in ns spent in this function itself: every
	// call's time minus its direct children's.
	Exclusive int64
	// FirstReach is the time in ns from the trace's start to the first call.
	FirstReach int64
	// FirstPath is the stack at the first call, root first, ending with
	// this function.
	FirstPath []FrameID
	// Open is set when a call of this function had not returned when the
	// snapshot was taken; its time so far is included.
	Open bool
}

// GraphEdge is a caller→callee edge in a callgraph.
type GraphEdge struct {
	From, To FrameID
	Calls    int64 // calls of To made by From
	Time     int64 // ns spent in To (and below) under From, once per stack
}

// Node returns the node of function id, and whether the graph has it.
func (g *Graph) Node(id FrameID) (GraphNode, bool) {
	for _, n := range g.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return GraphNode{}, false
}

// Edge returns the edge from→to, and whether the graph has it.
func (g *Graph) Edge(from, to FrameID) (GraphEdge, bool) {
	for _, e := range g.Edges {
		if e.From == from && e.To == to {
			return e, true
		}
	}
	return GraphEdge{}, false
}

// Callgraph returns a snapshot of the callgraph over all threads, built from
// every event applied, including those not stored.
func (t *Trace) Callgraph() *Graph {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.graph(t.threads)
}

// CallgraphThread returns a snapshot of one thread's callgraph (empty when
// the thread is unknown).
func (t *Trace) CallgraphThread(tid uint32) *Graph {
	t.mu.RLock()
	defer t.mu.RUnlock()
	th := t.byTID[tid]
	if th == nil {
		return &Graph{StartNS: t.startNS(), LastTS: t.lastTS}
	}
	return t.graph([]*threadStore{th})
}

// graph merges the threads' counters and adds the calls still open. Call
// with t.mu held.
func (t *Trace) graph(threads []*threadStore) *Graph {
	g := &Graph{StartNS: t.startNS(), LastTS: t.lastTS}
	nodeIdx := make(map[FrameID]int)
	firstTS := []int64{}
	node := func(f FrameID) *GraphNode {
		i, ok := nodeIdx[f]
		if !ok {
			i = len(g.Nodes)
			nodeIdx[f] = i
			g.Nodes = append(g.Nodes, GraphNode{ID: f, Frame: t.frameOrStub(f)})
			firstTS = append(firstTS, 0)
		}
		return &g.Nodes[i]
	}
	edgeIdx := make(map[[2]FrameID]int)
	edge := func(from, to FrameID) *GraphEdge {
		k := [2]FrameID{from, to}
		i, ok := edgeIdx[k]
		if !ok {
			i = len(g.Edges)
			edgeIdx[k] = i
			g.Edges = append(g.Edges, GraphEdge{From: from, To: to})
		}
		return &g.Edges[i]
	}
	// add sums a thread's (or its waiting calls') functions and edges in
	add := func(fns []threadFunc, edges []edgeStat) {
		for i := range fns {
			fn := &fns[i]
			n := node(fn.frame)
			first := n.Calls == 0 || fn.firstTS < firstTS[nodeIdx[fn.frame]]
			n.Calls += fn.calls
			n.Inclusive += fn.incl
			n.Exclusive += fn.excl
			if first {
				firstTS[nodeIdx[fn.frame]] = fn.firstTS
				n.FirstPath = slices.Clone(fn.firstPath)
			}
		}
		for i := range edges {
			ed := &edges[i]
			e := edge(ed.from, ed.to)
			e.Calls += ed.calls
			e.Time += ed.time
		}
	}
	for _, th := range threads {
		if p := th.pend; p != nil {
			// calls waiting to be placed: their provisional counts, alone
			// while Settle places them (the thread's own counts are partial
			// until it is done)
			add(p.g.fns, p.g.edges)
			g.Waiting += int(p.arrived)
			if p.settling {
				continue
			}
		}
		add(th.fns, th.edges)
		// calls still open: their time so far, top of the stack first so
		// each frame knows its open child's time
		var openChild int64
		for i := len(th.stack) - 1; i >= 0; i-- {
			s := &th.stack[i]
			dur := max(t.lastTS-s.ts, 0)
			n := node(s.frame)
			n.Open = true
			n.Exclusive += dur - s.child - openChild
			if !s.recur {
				n.Inclusive += dur
			}
			if s.edge >= 0 && !s.edgeRecur {
				ed := &th.edges[s.edge]
				edge(ed.from, ed.to).Time += dur
			}
			openChild = dur
		}
	}
	start := g.StartNS
	for i := range g.Nodes {
		g.Nodes[i].FirstReach = firstTS[i] - start
	}
	slices.SortFunc(g.Nodes, func(a, b GraphNode) int {
		if c := cmp.Compare(b.Inclusive, a.Inclusive); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	slices.SortFunc(g.Edges, func(a, b GraphEdge) int {
		if c := cmp.Compare(b.Time, a.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.From, b.From); c != 0 {
			return c
		}
		return cmp.Compare(a.To, b.To)
	})
	return g
}

type jsonGraph struct {
	Nodes []jsonNode `json:"nodes"`
	Edges []jsonEdge `json:"edges"`
}

type jsonNode struct {
	ID          FrameID   `json:"id"`
	Function    string    `json:"function"`
	File        string    `json:"file"`
	Line        int       `json:"line"`
	C           bool      `json:"c,omitempty"`
	Calls       int64     `json:"calls"`
	InclusiveNS int64     `json:"inclusive_ns"`
	ExclusiveNS int64     `json:"exclusive_ns"`
	FirstReach  int64     `json:"first_reach_ns"`
	FirstPath   []FrameID `json:"first_path"`
	Open        bool      `json:"open,omitempty"`
}

type jsonEdge struct {
	From   FrameID `json:"from"`
	To     FrameID `json:"to"`
	Calls  int64   `json:"calls"`
	TimeNS int64   `json:"time_ns"`
}

// WriteJSON writes the graph as {"nodes":[…],"edges":[…]}, one line.
func (g *Graph) WriteJSON(w io.Writer) error {
	out := jsonGraph{Nodes: make([]jsonNode, len(g.Nodes)), Edges: make([]jsonEdge, len(g.Edges))}
	for i, n := range g.Nodes {
		out.Nodes[i] = jsonNode{
			ID:          n.ID,
			Function:    n.Frame.Func,
			File:        n.Frame.File,
			Line:        n.Frame.Line,
			C:           n.Frame.C,
			Calls:       n.Calls,
			InclusiveNS: n.Inclusive,
			ExclusiveNS: n.Exclusive,
			FirstReach:  n.FirstReach,
			FirstPath:   n.FirstPath,
			Open:        n.Open,
		}
		if out.Nodes[i].FirstPath == nil {
			out.Nodes[i].FirstPath = []FrameID{}
		}
	}
	for i, e := range g.Edges {
		out.Edges[i] = jsonEdge{From: e.From, To: e.To, Calls: e.Calls, TimeNS: e.Time}
	}
	return json.NewEncoder(w).Encode(out)
}
