package landscape

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Fold says which parts of a graph to show as one node.
type Fold struct {
	// Types are folded per owner: every node of a folded type that belongs
	// to the same machine (or rack, or other containment root) becomes one
	// group node "N × type".
	Types map[string]bool
	// Open lists group node IDs unfolded one by one.
	Open map[string]bool
	// Machines fold everything a node contains (transitively) into it.
	Machines map[string]bool
}

// GroupPrefix starts the ID of every group node Collapse makes.
const GroupPrefix = "group:"

// GroupID is the ID of the group of the nodes of type typ that belong to
// owner.
func GroupID(owner, typ string) string { return GroupPrefix + owner + ":" + typ }

// Owner returns, for every node, the containment root it belongs to: its
// machine (or rack). A node outside any containment tree belongs to what
// it runs on or is deployed on, transitively, or else to the owner of the
// one node that requires it (a VM's volume); failing that, to itself.
func Owner(g *Graph) map[string]string {
	parent := map[string]string{}
	host := map[string]string{}
	requiredBy := map[string]string{} // "" when required by several
	for _, e := range g.Edges {
		switch {
		case IsContainment(e.Label):
			if _, ok := parent[e.Target]; !ok && e.Source != e.Target {
				parent[e.Target] = e.Source
			}
		case e.Label == RunsOn || e.Label == DeployedOn:
			if _, ok := host[e.Source]; !ok && e.Source != e.Target {
				host[e.Source] = e.Target
			}
		case e.Label == Requires && e.Source != e.Target:
			if _, ok := requiredBy[e.Target]; ok {
				requiredBy[e.Target] = ""
			} else {
				requiredBy[e.Target] = e.Source
			}
		}
	}
	owner := make(map[string]string, len(g.Nodes))
	var find func(id string, depth int) string
	find = func(id string, depth int) string {
		if o, ok := owner[id]; ok {
			return o
		}
		if depth > 64 { // a cycle
			return id
		}
		o := id
		if p, ok := parent[id]; ok {
			o = find(p, depth+1)
		} else if h, ok := host[id]; ok {
			o = find(h, depth+1)
		} else if r := requiredBy[id]; r != "" {
			o = find(r, depth+1)
		}
		owner[id] = o
		return o
	}
	for i := range g.Nodes {
		find(g.Nodes[i].ID, 0)
	}
	return owner
}

// Collapse returns the graph with fold applied and, for each group or
// folded machine, the IDs of the nodes it stands for.
func Collapse(g *Graph, fold Fold) (*Graph, map[string][]string) {
	members := map[string][]string{}
	if len(fold.Types) == 0 && len(fold.Machines) == 0 {
		return g, members
	}
	owner := Owner(g)
	parent := map[string]string{}
	for _, e := range g.Edges {
		if IsContainment(e.Label) {
			if _, ok := parent[e.Target]; !ok {
				parent[e.Target] = e.Source
			}
		}
	}
	rep := make(map[string]string, len(g.Nodes))
	// Machines first: a folded machine swallows its whole subtree.
	if len(fold.Machines) > 0 {
		for i := range g.Nodes {
			id := g.Nodes[i].ID
			for p, k := parent[id], 0; p != "" && k < 64; p, k = parent[p], k+1 {
				if fold.Machines[p] {
					rep[id] = p
				}
			}
		}
	}
	count := map[string]int{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if _, ok := rep[n.ID]; ok || !fold.Types[n.Type] {
			continue
		}
		gid := GroupID(owner[n.ID], n.Type)
		if fold.Open[gid] {
			continue
		}
		count[gid]++
	}
	var nodes []Node
	groups := map[string]*Node{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if r, ok := rep[n.ID]; ok {
			members[r] = append(members[r], n.ID)
			continue
		}
		gid := GroupID(owner[n.ID], n.Type)
		if !fold.Types[n.Type] || fold.Open[gid] || count[gid] < 2 {
			nodes = append(nodes, *n)
			continue
		}
		rep[n.ID] = gid
		members[gid] = append(members[gid], n.ID)
		if groups[gid] == nil {
			groups[gid] = &Node{ID: gid, Layer: n.Layer, Category: n.Category, Type: n.Type,
				Name:  fmt.Sprintf("%d × %s", count[gid], n.Type),
				Attrs: map[string]string{"group": n.Type, "members": strconv.Itoa(count[gid]), "owner": owner[n.ID]}}
		}
	}
	for _, gid := range slices.Sorted(maps.Keys(groups)) {
		nodes = append(nodes, *groups[gid])
	}
	for i := range nodes {
		if m := members[nodes[i].ID]; len(m) > 0 && !strings.HasPrefix(nodes[i].ID, GroupPrefix) {
			nodes[i] = nodes[i].Clone()
			if nodes[i].Attrs == nil {
				nodes[i].Attrs = map[string]string{}
			}
			nodes[i].Attrs["folded"] = strconv.Itoa(len(m)) + " nodes inside"
		}
	}
	seen := map[Edge]bool{}
	var edges []Edge
	for _, e := range g.Edges {
		s, t := e.Source, e.Target
		if r, ok := rep[s]; ok {
			s = r
		}
		if r, ok := rep[t]; ok {
			t = r
		}
		ne := Edge{s, t, e.Label}
		if s == t || seen[ne] {
			continue
		}
		seen[ne] = true
		edges = append(edges, ne)
	}
	return NewGraph(nodes, edges), members
}

// DefaultFold is how a graph starts: a small graph (up to limit nodes)
// shows everything; a larger one folds every type that has more than three
// nodes under one owner.
func DefaultFold(g *Graph, limit int) Fold {
	f := Fold{Types: map[string]bool{}, Open: map[string]bool{}, Machines: map[string]bool{}}
	if len(g.Nodes) <= limit {
		return f
	}
	owner := Owner(g)
	per := map[[2]string]int{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		k := [2]string{owner[n.ID], n.Type}
		per[k]++
		if per[k] > 3 {
			f.Types[n.Type] = true
		}
	}
	return f
}
