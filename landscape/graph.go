// Package landscape is Flowscape's topology model: what is connected to
// what, from the physical machines through the virtual layer (VMs,
// containers, virtual networks and volumes) to the services on top. Nodes
// and typed edges carry versions valid over [from, to), so the graph at a
// time, the difference between two times and the history of one node are
// queries. The package also reads and writes the file formats a landscape
// travels in (landscaper node-link JSON, hwloc XML, Flowscape JSON, DOT)
// and lays a graph out in layers for the map.
package landscape

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Layers, from the bottom of the map to the top.
const (
	Physical = "physical"
	Virtual  = "virtual"
	Service  = "service"
)

// Categories.
const (
	Compute = "compute"
	Network = "network"
	Storage = "storage"
)

// Edge labels. Files may carry others (landscaper's INTERNAL, STATE); they
// are kept as they are.
const (
	Contains     = "CONTAINS"     // the source holds the target (machine → core)
	DeployedOn   = "DEPLOYED_ON"  // the source was placed on the target (VM → host)
	Requires     = "REQUIRES"     // the source needs the target (VM → vnic)
	RunsOn       = "RUNS_ON"      // the source executes on the target (service → cgroup)
	Communicates = "COMMUNICATES" // the two talk to each other
	AttachedTo   = "ATTACHED_TO"  // the source is plugged into the target (port → bridge)
	Internal     = "INTERNAL"     // landscaper's containment label
)

// Layers lists the layers from bottom to top.
var Layers = []string{Physical, Virtual, Service}

// Node is one thing in the landscape.
type Node struct {
	ID       string // unique identity, stable across versions
	Layer    string // Physical, Virtual or Service
	Category string // Compute, Network or Storage
	Type     string // e.g. machine, core, vm, vnic, service
	Name     string // what to show; ID when empty
	// Attrs are the node's other properties. Values are text; a value that
	// came from a file as a JSON number, list or object holds that JSON text
	// and its key is in JSONAttrs, so it is written back the same way.
	Attrs     map[string]string
	JSONAttrs map[string]bool
}

// Label is the name to show: Name, or ID when there is none.
func (n *Node) Label() string {
	if n.Name != "" {
		return n.Name
	}
	return n.ID
}

// Equal reports whether two nodes have the same fields and attributes.
func (n *Node) Equal(o *Node) bool {
	return n.ID == o.ID && n.Layer == o.Layer && n.Category == o.Category &&
		n.Type == o.Type && n.Name == o.Name && attrsEqual(n.Attrs, o.Attrs) &&
		boolsEqual(n.JSONAttrs, o.JSONAttrs)
}

func attrsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func boolsEqual(a, b map[string]bool) bool {
	n := 0
	for k, v := range a {
		if v {
			n++
			if !b[k] {
				return false
			}
		}
	}
	for _, v := range b {
		if v {
			n--
		}
	}
	return n == 0
}

// Clone returns a copy that shares no maps with n.
func (n Node) Clone() Node {
	n.Attrs = maps.Clone(n.Attrs)
	n.JSONAttrs = maps.Clone(n.JSONAttrs)
	return n
}

// Edge is a directed, typed link between two nodes, identified by its
// source, target and label.
type Edge struct {
	Source, Target string // node IDs
	Label          string // Contains, RunsOn, …
}

func (e Edge) String() string { return e.Source + " -" + e.Label + "-> " + e.Target }

func edgeLess(a, b Edge) int {
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	if c := strings.Compare(a.Target, b.Target); c != 0 {
		return c
	}
	return strings.Compare(a.Label, b.Label)
}

// Graph is the landscape at one time: nodes sorted by ID and edges sorted
// by source, target and label. Build one with NewGraph; a Graph is not
// changed after that, so it can be shared between goroutines.
type Graph struct {
	Nodes []Node
	Edges []Edge
	index map[string]int
}

// NewGraph sorts nodes and edges into a graph. Duplicates are kept (the
// last of a node's duplicates is the one Node finds) so that Validate can
// report them.
func NewGraph(nodes []Node, edges []Edge) *Graph {
	g := &Graph{Nodes: nodes, Edges: edges}
	sort.SliceStable(g.Nodes, func(i, j int) bool { return g.Nodes[i].ID < g.Nodes[j].ID })
	slices.SortStableFunc(g.Edges, edgeLess)
	g.index = make(map[string]int, len(nodes))
	for i := range g.Nodes {
		g.index[g.Nodes[i].ID] = i
	}
	return g
}

// Node returns the node with id, or nil.
func (g *Graph) Node(id string) *Node {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return &g.Nodes[i]
}

// Index returns the index of node id in Nodes, or -1.
func (g *Graph) Index(id string) int {
	if i, ok := g.index[id]; ok {
		return i
	}
	return -1
}

// EdgesOf returns the edges that start or end at id.
func (g *Graph) EdgesOf(id string) []Edge {
	var out []Edge
	for _, e := range g.Edges {
		if e.Source == id || e.Target == id {
			out = append(out, e)
		}
	}
	return out
}

// CountByType counts the nodes of each type.
func (g *Graph) CountByType() map[string]int {
	c := map[string]int{}
	for i := range g.Nodes {
		c[g.Nodes[i].Type]++
	}
	return c
}

// Merge returns a new graph holding both graphs; neither is changed. A node
// present in both takes o's non-empty fields, and its attributes are the
// union with o's values winning. Edges are united.
func (g *Graph) Merge(o *Graph) *Graph {
	nodes := make([]Node, 0, len(g.Nodes)+len(o.Nodes))
	at := map[string]int{}
	for _, src := range []*Graph{g, o} {
		for _, n := range src.Nodes {
			i, ok := at[n.ID]
			if !ok {
				at[n.ID] = len(nodes)
				nodes = append(nodes, n.Clone())
				continue
			}
			m := &nodes[i]
			for _, f := range []struct {
				dst *string
				v   string
			}{
				{&m.Layer, n.Layer}, {&m.Category, n.Category}, {&m.Type, n.Type}, {&m.Name, n.Name},
			} {
				if f.v != "" {
					*f.dst = f.v
				}
			}
			for k, v := range n.Attrs {
				if m.Attrs == nil {
					m.Attrs = map[string]string{}
				}
				m.Attrs[k] = v
				if n.JSONAttrs[k] {
					if m.JSONAttrs == nil {
						m.JSONAttrs = map[string]bool{}
					}
					m.JSONAttrs[k] = true
				} else {
					delete(m.JSONAttrs, k)
				}
			}
		}
	}
	seen := map[Edge]bool{}
	var edges []Edge
	for _, src := range []*Graph{g, o} {
		for _, e := range src.Edges {
			if !seen[e] {
				seen[e] = true
				edges = append(edges, e)
			}
		}
	}
	return NewGraph(nodes, edges)
}

// Problem kinds Validate reports; test with errors.Is.
var (
	ErrEmptyID      = errors.New("node without an id")
	ErrDuplicateID  = errors.New("duplicate node id")
	ErrBadLayer     = errors.New("unknown layer")
	ErrBadCategory  = errors.New("unknown category")
	ErrMissingNode  = errors.New("edge to a missing node")
	ErrCycle        = errors.New("containment cycle")
	ErrDuplicateKey = errors.New("duplicate edge")
)

// Validate checks the graph: every node has an id, ids are unique, layers
// and categories are known (empty is allowed), edges join existing nodes,
// no edge is listed twice and containment (CONTAINS, INTERNAL) has no
// cycle. It returns every problem found, joined.
func (g *Graph) Validate() error {
	var errs []error
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch {
		case n.ID == "":
			errs = append(errs, fmt.Errorf("node %d (%q): %w", i, n.Name, ErrEmptyID))
		case i > 0 && g.Nodes[i-1].ID == n.ID:
			errs = append(errs, fmt.Errorf("node %q: %w", n.ID, ErrDuplicateID))
		}
		if n.Layer != "" && !slices.Contains(Layers, n.Layer) {
			errs = append(errs, fmt.Errorf("node %q: %w %q (want physical, virtual or service)", n.ID, ErrBadLayer, n.Layer))
		}
		if n.Category != "" && n.Category != Compute && n.Category != Network && n.Category != Storage {
			errs = append(errs, fmt.Errorf("node %q: %w %q (want compute, network or storage)", n.ID, ErrBadCategory, n.Category))
		}
	}
	for i, e := range g.Edges {
		if g.Node(e.Source) == nil {
			errs = append(errs, fmt.Errorf("edge %s: source: %w", e, ErrMissingNode))
		}
		if g.Node(e.Target) == nil {
			errs = append(errs, fmt.Errorf("edge %s: target: %w", e, ErrMissingNode))
		}
		if i > 0 && g.Edges[i-1] == e {
			errs = append(errs, fmt.Errorf("edge %s: %w", e, ErrDuplicateKey))
		}
	}
	if c := g.containmentCycle(); c != nil {
		errs = append(errs, fmt.Errorf("%w: %s", ErrCycle, strings.Join(c, " → ")))
	}
	return errors.Join(errs...)
}

// IsContainment reports whether an edge label means "holds" (parent to
// child).
func IsContainment(label string) bool { return label == Contains || label == Internal }

// containmentCycle returns one cycle of containment edges, or nil.
func (g *Graph) containmentCycle() []string {
	children := map[string][]string{}
	for _, e := range g.Edges {
		if IsContainment(e.Label) {
			children[e.Source] = append(children[e.Source], e.Target)
		}
	}
	const (
		white = iota
		grey
		black
	)
	colour := map[string]int{}
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		colour[id] = grey
		stack = append(stack, id)
		for _, c := range children[id] {
			switch colour[c] {
			case grey:
				i := slices.Index(stack, c)
				found = append(slices.Clone(stack[i:]), c)
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		colour[id] = black
		return false
	}
	keys := slices.Sorted(maps.Keys(children))
	for _, id := range keys {
		if colour[id] == white && visit(id) {
			return found
		}
	}
	return nil
}

// Join keys: the attribute names telemetry is joined on.
const (
	KeyHostname = "hostname" // a machine's host name (Prometheus instance)
	KeyMAC      = "mac"      // an interface's hardware address
	KeyDevice   = "device"   // a kernel device name: eth0, vda, dm-0
	KeyCPU      = "cpu"      // a hardware thread's index, as in /proc/stat
	KeyCgroup   = "cgroup"   // a cgroup path, e.g. /system.slice/ssh.service
	KeyUUID     = "uuid"     // an OpenStack resource's UUID
)

// JoinKey is one way to find a node from outside data.
type JoinKey struct {
	Kind  string // one of the Key… constants
	Value string
}

// JoinKeys lists the keys telemetry can use to find n. Besides the Key…
// attributes it reads landscaper's names (an osdev_network's "address" is
// its MAC, its "name" its device) and takes an id that is a UUID as one.
func (n *Node) JoinKeys() []JoinKey {
	var out []JoinKey
	for _, k := range []string{KeyHostname, KeyMAC, KeyDevice, KeyCPU, KeyCgroup, KeyUUID} {
		if v := n.Attrs[k]; v != "" {
			out = append(out, JoinKey{k, v})
		}
	}
	if strings.HasPrefix(n.Type, "osdev_") {
		if v := n.Attrs["address"]; v != "" && n.Attrs[KeyMAC] == "" && n.Type == "osdev_network" {
			out = append(out, JoinKey{KeyMAC, v})
		}
		if v := n.Attrs["name"]; v != "" && n.Attrs[KeyDevice] == "" {
			out = append(out, JoinKey{KeyDevice, v})
		}
	}
	if isUUID(n.ID) && n.Attrs[KeyUUID] == "" {
		out = append(out, JoinKey{KeyUUID, n.ID})
	}
	return out
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Lookup returns the ids of the nodes that have key, in id order.
func (g *Graph) Lookup(key JoinKey) []string {
	var out []string
	for i := range g.Nodes {
		for _, k := range g.Nodes[i].JoinKeys() {
			if k == key {
				out = append(out, g.Nodes[i].ID)
				break
			}
		}
	}
	return out
}
