package landscape

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
)

// Time is a point in time in seconds since the Unix epoch, the unit
// landscaper's from/to use.
type Time int64

// Forever is the end of a version that is still valid.
const Forever Time = math.MaxInt64

// NodeVersion is a node as it was over [From, To).
type NodeVersion struct {
	Node
	From, To Time
}

// EdgeVersion is an edge that existed over [From, To).
type EdgeVersion struct {
	Edge
	From, To Time
}

// Landscape is a versioned graph: every node and edge has versions with
// disjoint validity intervals. It is safe for one writer and concurrent
// readers.
type Landscape struct {
	mu    sync.RWMutex
	nodes map[string][]NodeVersion // by ID, sorted by From
	edges map[Edge][]EdgeVersion   // sorted by From
}

// New returns an empty landscape.
func New() *Landscape {
	return &Landscape{nodes: map[string][]NodeVersion{}, edges: map[Edge][]EdgeVersion{}}
}

// FromGraph returns a landscape holding g's nodes and edges over [from, Forever).
func FromGraph(g *Graph, from Time) *Landscape {
	l := New()
	l.Record(from, g)
	return l
}

// overlaps reports whether [a1,a2) and [b1,b2) intersect.
func overlaps(a1, a2, b1, b2 Time) bool { return a1 < b2 && b1 < a2 }

// AddNode adds a version of n valid over [from, to). It fails when the
// interval is empty or overlaps another version of the same node.
func (l *Landscape) AddNode(n Node, from, to Time) error {
	if from >= to {
		return fmt.Errorf("node %q: empty interval [%d, %d)", n.ID, from, to)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	vs := l.nodes[n.ID]
	for _, v := range vs {
		if overlaps(v.From, v.To, from, to) {
			return fmt.Errorf("node %q: %w: version [%d, %d) overlaps [%d, %d)", n.ID, ErrDuplicateID, from, to, v.From, v.To)
		}
	}
	vs = append(vs, NodeVersion{n.Clone(), from, to})
	sort.Slice(vs, func(i, j int) bool { return vs[i].From < vs[j].From })
	l.nodes[n.ID] = vs
	return nil
}

// AddEdge adds a version of e valid over [from, to). It fails when the
// interval is empty or overlaps another version of the same edge.
func (l *Landscape) AddEdge(e Edge, from, to Time) error {
	if from >= to {
		return fmt.Errorf("edge %s: empty interval [%d, %d)", e, from, to)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	vs := l.edges[e]
	for _, v := range vs {
		if overlaps(v.From, v.To, from, to) {
			return fmt.Errorf("edge %s: %w: version [%d, %d) overlaps [%d, %d)", e, ErrDuplicateKey, from, to, v.From, v.To)
		}
	}
	vs = append(vs, EdgeVersion{e, from, to})
	sort.Slice(vs, func(i, j int) bool { return vs[i].From < vs[j].From })
	l.edges[e] = vs
	return nil
}

// Record makes g the state from t on: versions of nodes and edges that are
// gone or changed end at t, new and changed ones start at t. It returns
// what changed. t must not be before the last recorded change.
func (l *Landscape) Record(t Time, g *Graph) Diff {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d Diff
	seen := make(map[string]bool, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if seen[n.ID] {
			continue // a duplicate: the first wins
		}
		seen[n.ID] = true
		vs := l.nodes[n.ID]
		cur := current(vs, t)
		switch {
		case cur >= 0 && vs[cur].Equal(n):
			continue
		case cur >= 0:
			d.Changed = append(d.Changed, NodeChange{Before: vs[cur].Node, After: *n})
			vs = endNode(vs, cur, t)
		default:
			d.AddedNodes = append(d.AddedNodes, *n)
		}
		l.nodes[n.ID] = append(vs, NodeVersion{n.Clone(), t, Forever})
	}
	for id, vs := range l.nodes {
		if seen[id] {
			continue
		}
		if cur := current(vs, t); cur >= 0 {
			d.RemovedNodes = append(d.RemovedNodes, vs[cur].Node)
			if vs = endNode(vs, cur, t); len(vs) == 0 {
				delete(l.nodes, id)
			} else {
				l.nodes[id] = vs
			}
		}
	}
	eseen := make(map[Edge]bool, len(g.Edges))
	for _, e := range g.Edges {
		if eseen[e] {
			continue
		}
		eseen[e] = true
		vs := l.edges[e]
		if currentEdge(vs, t) >= 0 {
			continue
		}
		d.AddedEdges = append(d.AddedEdges, e)
		l.edges[e] = append(vs, EdgeVersion{e, t, Forever})
	}
	for e, vs := range l.edges {
		if eseen[e] {
			continue
		}
		if cur := currentEdge(vs, t); cur >= 0 {
			d.RemovedEdges = append(d.RemovedEdges, e)
			if vs[cur].From >= t {
				vs = slices.Delete(vs, cur, cur+1)
			} else {
				vs[cur].To = t
			}
			if len(vs) == 0 {
				delete(l.edges, e)
			} else {
				l.edges[e] = vs
			}
		}
	}
	d.sort()
	return d
}

// current returns the index of the version valid at t that is still open.
func current(vs []NodeVersion, t Time) int {
	for i, v := range vs {
		if v.From <= t && t < v.To {
			return i
		}
	}
	return -1
}

func currentEdge(vs []EdgeVersion, t Time) int {
	for i, v := range vs {
		if v.From <= t && t < v.To {
			return i
		}
	}
	return -1
}

// endNode ends version i at t; a version that would be empty is dropped.
func endNode(vs []NodeVersion, i int, t Time) []NodeVersion {
	if vs[i].From >= t {
		return slices.Delete(vs, i, i+1)
	}
	vs[i].To = t
	return vs
}

// Prune forgets the versions that ended at or before t, so that a
// landscape recorded for a long time stays bounded. It returns how many
// node and edge versions it dropped.
func (l *Landscape) Prune(t Time) (nodes, edges int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, vs := range l.nodes {
		keep := slices.DeleteFunc(vs, func(v NodeVersion) bool { return v.To <= t })
		nodes += len(vs) - len(keep)
		if len(keep) == 0 {
			delete(l.nodes, id)
		} else {
			l.nodes[id] = keep
		}
	}
	for e, vs := range l.edges {
		keep := slices.DeleteFunc(vs, func(v EdgeVersion) bool { return v.To <= t })
		edges += len(vs) - len(keep)
		if len(keep) == 0 {
			delete(l.edges, e)
		} else {
			l.edges[e] = keep
		}
	}
	return nodes, edges
}

// At returns the graph as it was at t.
func (l *Landscape) At(t Time) *Graph {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var nodes []Node
	for _, vs := range l.nodes {
		if i := current(vs, t); i >= 0 {
			nodes = append(nodes, vs[i].Node)
		}
	}
	var edges []Edge
	for e, vs := range l.edges {
		if currentEdge(vs, t) >= 0 {
			edges = append(edges, e)
		}
	}
	return NewGraph(nodes, edges)
}

// Latest returns the graph at the last change (what is valid now for a
// live source, or at the end of a file's history).
func (l *Landscape) Latest() *Graph {
	ts := l.Times()
	if len(ts) == 0 {
		return NewGraph(nil, nil)
	}
	return l.At(ts[len(ts)-1])
}

// Times lists, in order, every time at which something started or ended
// (Forever excluded): the points where the graph can change.
func (l *Landscape) Times() []Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	set := map[Time]bool{}
	for _, vs := range l.nodes {
		for _, v := range vs {
			set[v.From] = true
			if v.To != Forever {
				set[v.To] = true
			}
		}
	}
	for _, vs := range l.edges {
		for _, v := range vs {
			set[v.From] = true
			if v.To != Forever {
				set[v.To] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// History returns the versions of node id, oldest first.
func (l *Landscape) History(id string) []NodeVersion {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]NodeVersion, len(l.nodes[id]))
	for i, v := range l.nodes[id] {
		out[i] = NodeVersion{v.Node.Clone(), v.From, v.To}
	}
	return out
}

// EdgeHistory returns the versions of the edges that start or end at id.
func (l *Landscape) EdgeHistory(id string) []EdgeVersion {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []EdgeVersion
	for e, vs := range l.edges {
		if e.Source == id || e.Target == id {
			out = append(out, vs...)
		}
	}
	slices.SortFunc(out, func(a, b EdgeVersion) int {
		if a.From != b.From {
			return cmpTime(a.From, b.From)
		}
		return edgeLess(a.Edge, b.Edge)
	})
	return out
}

func cmpTime(a, b Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Versions returns every node and edge version, sorted by id then time.
func (l *Landscape) Versions() ([]NodeVersion, []EdgeVersion) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var nodes []NodeVersion
	for _, id := range slices.Sorted(maps.Keys(l.nodes)) {
		nodes = append(nodes, l.nodes[id]...)
	}
	var edges []EdgeVersion
	keys := slices.SortedFunc(maps.Keys(l.edges), edgeLess)
	for _, e := range keys {
		edges = append(edges, l.edges[e]...)
	}
	return nodes, edges
}

// Counts returns how many node and edge versions the landscape holds.
func (l *Landscape) Counts() (nodes, edges int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, vs := range l.nodes {
		nodes += len(vs)
	}
	for _, vs := range l.edges {
		edges += len(vs)
	}
	return nodes, edges
}

// Validate checks every time slice of the landscape: the graph at each
// change time must be valid (see Graph.Validate). It reports the first
// time whose graph is not.
func (l *Landscape) Validate() error {
	for _, t := range l.Times() {
		if err := l.At(t).Validate(); err != nil {
			return fmt.Errorf("at %d: %w", t, err)
		}
	}
	return nil
}

// Equal reports whether two landscapes hold the same versions.
func (l *Landscape) Equal(o *Landscape) bool {
	an, ae := l.Versions()
	bn, be := o.Versions()
	if len(an) != len(bn) || !slices.Equal(ae, be) {
		return false
	}
	for i := range an {
		if an[i].From != bn[i].From || an[i].To != bn[i].To || !an[i].Equal(&bn[i].Node) {
			return false
		}
	}
	return true
}

// NodeChange is a node whose fields or attributes changed.
type NodeChange struct {
	Before, After Node
}

// Diff is what changed between two graphs.
type Diff struct {
	AddedNodes, RemovedNodes []Node
	Changed                  []NodeChange
	AddedEdges, RemovedEdges []Edge
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool {
	return len(d.AddedNodes)+len(d.RemovedNodes)+len(d.Changed)+len(d.AddedEdges)+len(d.RemovedEdges) == 0
}

func (d Diff) String() string {
	return fmt.Sprintf("+%d −%d ~%d nodes, +%d −%d edges",
		len(d.AddedNodes), len(d.RemovedNodes), len(d.Changed), len(d.AddedEdges), len(d.RemovedEdges))
}

func (d *Diff) sort() {
	byID := func(a, b Node) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	}
	slices.SortFunc(d.AddedNodes, byID)
	slices.SortFunc(d.RemovedNodes, byID)
	slices.SortFunc(d.Changed, func(a, b NodeChange) int { return byID(a.After, b.After) })
	slices.SortFunc(d.AddedEdges, edgeLess)
	slices.SortFunc(d.RemovedEdges, edgeLess)
}

// Compare returns what changed from graph a to graph b.
func Compare(a, b *Graph) Diff {
	var d Diff
	for i := range b.Nodes {
		n := &b.Nodes[i]
		switch old := a.Node(n.ID); {
		case old == nil:
			d.AddedNodes = append(d.AddedNodes, *n)
		case !old.Equal(n):
			d.Changed = append(d.Changed, NodeChange{*old, *n})
		}
	}
	for i := range a.Nodes {
		if b.Node(a.Nodes[i].ID) == nil {
			d.RemovedNodes = append(d.RemovedNodes, a.Nodes[i])
		}
	}
	ea := map[Edge]bool{}
	for _, e := range a.Edges {
		ea[e] = true
	}
	eb := map[Edge]bool{}
	for _, e := range b.Edges {
		eb[e] = true
		if !ea[e] {
			d.AddedEdges = append(d.AddedEdges, e)
		}
	}
	for _, e := range a.Edges {
		if !eb[e] {
			d.RemovedEdges = append(d.RemovedEdges, e)
		}
	}
	d.sort()
	return d
}

// Diff returns what changed between the graphs at t1 and t2.
func (l *Landscape) Diff(t1, t2 Time) Diff { return Compare(l.At(t1), l.At(t2)) }
