package telemetry

import (
	"cmp"
	"math"
	"slices"

	"flowscape/landscape"
)

// NodeState is a node's anomaly state at one time.
type NodeState struct {
	ID     string
	Level  Level   // its own series' worst confirmed level; NoData without series
	Score  float64 // the worst series' score, in standard deviations (an equivalent when By is ByCUSUM)
	Metric string  // the worst series' metric
	By     Scorer  // the detector whose score Score is: a z-score, or the CUSUM's lasting shift
	// Since is when the current alarm of the worst series began (Unix ms;
	// 0 when the node is not anomalous).
	Since int64
	// ImpactedBy lists the anomalous nodes this node depends on, directly
	// or through others (Via says through which neighbour), by id.
	ImpactedBy []string
	Via        map[string]string // anomalous node → the neighbour the impact came through
	Rank       int               // 1 for the likeliest root cause; 0 when not anomalous
	RankScore  float64           // the ranking's weight (sums to 1 over the anomalous nodes)
}

// Anomalous reports whether the node has its own alarm.
func (n *NodeState) Anomalous() bool { return n.Level >= Warning }

// Impacted reports whether the node depends on an anomalous node.
func (n *NodeState) Impacted() bool { return len(n.ImpactedBy) > 0 }

// Assessment is the state of every node at one time.
type Assessment struct {
	At     int64                 // Unix ms
	Nodes  map[string]*NodeState // every node with a series or an impact
	Causes []string              // the anomalous nodes, likeliest root cause first
}

// State returns id's state, or a NoData state when nothing is known.
func (a *Assessment) State(id string) *NodeState {
	if n := a.Nodes[id]; n != nil {
		return n
	}
	return &NodeState{ID: id, Level: NoData}
}

// Anomalies lists the anomalous nodes by rank.
func (a *Assessment) Anomalies() []*NodeState {
	out := make([]*NodeState, 0, len(a.Causes))
	for _, id := range a.Causes {
		out = append(out, a.Nodes[id])
	}
	return out
}

// Counts returns how many nodes are critical, warning, impacted only.
func (a *Assessment) Counts() (critical, warning, impacted int) {
	for _, n := range a.Nodes {
		switch {
		case n.Level == Critical:
			critical++
		case n.Level == Warning:
			warning++
		case n.Impacted():
			impacted++
		}
	}
	return
}

// Dependency reports whether an edge with label makes its source depend
// on its target (impact flows from target to source). CONTAINS is taken
// the other way: a machine depends on the cores it contains.
func Dependency(e landscape.Edge) (dependent, dependee string, ok bool) {
	switch e.Label {
	case landscape.DeployedOn, landscape.Requires, landscape.RunsOn:
		return e.Source, e.Target, true
	case landscape.Contains, landscape.Internal:
		return e.Source, e.Target, true
	}
	return "", "", false
}

// Assess rolls the series up to their nodes at time t (the last point at
// or before t of each series; points older than stale ms are ignored when
// stale > 0), propagates impact along dependencies and ranks the
// anomalous nodes as root causes.
func (s *Store) Assess(t, stale int64) *Assessment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := &Assessment{At: t, Nodes: map[string]*NodeState{}}
	for _, se := range s.series {
		if se.Node == "" {
			continue
		}
		i := se.index(t)
		if i < 0 {
			continue
		}
		p := se.At(i)
		if stale > 0 && t-p.T > stale {
			continue
		}
		n := a.Nodes[se.Node]
		if n == nil {
			n = &NodeState{ID: se.Node, Level: OK}
			a.Nodes[se.Node] = n
		}
		score := float64(p.Score)
		if p.Level > n.Level || p.Level == n.Level && (score > n.Score || score == n.Score && se.Metric < n.Metric) {
			n.Level, n.Score, n.Metric, n.By = p.Level, score, se.Metric, p.By
			n.Since = 0
			if p.Level >= Warning {
				j := i
				for j > 0 && se.At(j-1).Level >= Warning {
					j--
				}
				n.Since = se.At(j).T
			}
		}
	}
	if s.graph != nil {
		propagate(s.graph, a)
		rank(s.graph, a)
	}
	return a
}

// dependents maps a node to the nodes that depend on it, and dependees a
// node to the nodes it depends on.
func dependencies(g *landscape.Graph) (dependents, dependees map[string][]string) {
	dependents, dependees = map[string][]string{}, map[string][]string{}
	for _, e := range g.Edges {
		if a, b, ok := Dependency(e); ok && a != b {
			dependents[b] = append(dependents[b], a)
			dependees[a] = append(dependees[a], b)
		}
	}
	return
}

// propagate marks every node that depends on an anomalous node, directly
// or not, as impacted by it.
func propagate(g *landscape.Graph, a *Assessment) {
	dependents, _ := dependencies(g)
	var roots []string
	for id, n := range a.Nodes {
		if n.Anomalous() {
			roots = append(roots, id)
		}
	}
	slices.Sort(roots)
	for _, r := range roots {
		seen := map[string]bool{r: true}
		type hop struct{ id, via string }
		queue := []hop{}
		for _, d := range dependents[r] {
			queue = append(queue, hop{d, r})
		}
		for len(queue) > 0 {
			h := queue[0]
			queue = queue[1:]
			if seen[h.id] {
				continue
			}
			seen[h.id] = true
			n := a.Nodes[h.id]
			if n == nil {
				n = &NodeState{ID: h.id, Level: NoData}
				a.Nodes[h.id] = n
			}
			n.ImpactedBy = append(n.ImpactedBy, r)
			if n.Via == nil {
				n.Via = map[string]string{}
			}
			n.Via[r] = h.via
			for _, d := range dependents[h.id] {
				queue = append(queue, hop{d, h.id})
			}
		}
	}
}

// RankDamping is the probability that the ranking's walk follows a
// dependency rather than restarting at an anomalous node.
const RankDamping = 0.85

// rank orders the anomalous nodes as root causes with a personalised
// PageRank over the anomalous subgraph: a walk starts at an anomalous node
// chosen in proportion to its score and moves from a node to the anomalous
// nodes it depends on (weighted by their scores), staying where it is when
// it depends on none. Mass gathers at the anomalous nodes that the other
// anomalies depend on.
func rank(g *landscape.Graph, a *Assessment) {
	var ids []string
	for id, n := range a.Nodes {
		if n.Anomalous() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	a.Causes = nil
	if len(ids) == 0 {
		return
	}
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	_, dependees := dependencies(g)
	weight := func(id string) float64 { return math.Log1p(a.Nodes[id].Score) + 1 }
	pers := make([]float64, len(ids))
	var total float64
	for i, id := range ids {
		pers[i] = weight(id)
		total += pers[i]
	}
	for i := range pers {
		pers[i] /= total
	}
	// Reachable anomalous dependees, directly or through non-anomalous
	// nodes (a service → its VM, impacted but silent → the host).
	out := make([][]int, len(ids))
	for i, id := range ids {
		seen := map[string]bool{id: true}
		stack := append([]string(nil), dependees[id]...)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[x] {
				continue
			}
			seen[x] = true
			if j, ok := at[x]; ok {
				out[i] = append(out[i], j)
				continue
			}
			stack = append(stack, dependees[x]...)
		}
		slices.Sort(out[i])
	}
	pr := slices.Clone(pers)
	next := make([]float64, len(ids))
	for range 50 {
		for i := range next {
			next[i] = (1 - RankDamping) * pers[i]
		}
		for i, o := range out {
			if len(o) == 0 {
				next[i] += RankDamping * pr[i]
				continue
			}
			var w float64
			for _, j := range o {
				w += weight(ids[j])
			}
			for _, j := range o {
				next[j] += RankDamping * pr[i] * weight(ids[j]) / w
			}
		}
		pr, next = next, pr
	}
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		if c := cmp.Compare(pr[y], pr[x]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Nodes[ids[y]].Score, a.Nodes[ids[x]].Score); c != 0 {
			return c
		}
		return cmp.Compare(ids[x], ids[y])
	})
	for r, i := range order {
		n := a.Nodes[ids[i]]
		n.Rank = r + 1
		n.RankScore = pr[i]
		a.Causes = append(a.Causes, ids[i])
	}
}
