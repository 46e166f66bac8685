package landscape_test

import (
	"errors"
	"slices"
	"testing"

	"flowscape/landscape"
)

func node(id, layer, typ string, attrs ...string) landscape.Node {
	n := landscape.Node{ID: id, Layer: layer, Category: landscape.Compute, Type: typ, Name: id}
	if len(attrs) > 0 {
		n.Attrs = map[string]string{}
		for i := 0; i+1 < len(attrs); i += 2 {
			n.Attrs[attrs[i]] = attrs[i+1]
		}
	}
	return n
}

func ids(nodes []landscape.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

func TestRecordKeepsHistory(t *testing.T) {
	l := landscape.New()
	g1 := landscape.NewGraph([]landscape.Node{
		node("host", landscape.Physical, "machine"),
		node("eth0", landscape.Physical, "nic", "operstate", "up"),
		node("ctr", landscape.Virtual, "container"),
	}, []landscape.Edge{{Source: "host", Target: "eth0", Label: landscape.Contains}, {Source: "ctr", Target: "host", Label: landscape.RunsOn}})
	if d := l.Record(10, g1); len(d.AddedNodes) != 3 || len(d.AddedEdges) != 2 {
		t.Fatalf("first record: %v, want everything added", d)
	}
	if d := l.Record(15, g1); !d.Empty() {
		t.Errorf("recording the same graph again changed %v", d)
	}
	g2 := landscape.NewGraph([]landscape.Node{
		node("host", landscape.Physical, "machine"),
		node("eth0", landscape.Physical, "nic", "operstate", "down"),
		node("svc", landscape.Service, "service"),
	}, []landscape.Edge{{Source: "host", Target: "eth0", Label: landscape.Contains}, {Source: "svc", Target: "host", Label: landscape.RunsOn}})
	d := l.Record(20, g2)
	if !slices.Equal(ids(d.AddedNodes), []string{"svc"}) || !slices.Equal(ids(d.RemovedNodes), []string{"ctr"}) ||
		len(d.Changed) != 1 || d.Changed[0].Before.Attrs["operstate"] != "up" || d.Changed[0].After.Attrs["operstate"] != "down" ||
		len(d.AddedEdges) != 1 || len(d.RemovedEdges) != 1 {
		t.Fatalf("second record: %+v", d)
	}
	if got := ids(l.At(12).Nodes); !slices.Equal(got, []string{"ctr", "eth0", "host"}) {
		t.Errorf("at 12: %v", got)
	}
	if got := ids(l.At(25).Nodes); !slices.Equal(got, []string{"eth0", "host", "svc"}) {
		t.Errorf("at 25: %v", got)
	}
	if got := ids(l.At(5).Nodes); len(got) != 0 {
		t.Errorf("at 5 (before anything): %v", got)
	}
	h := l.History("eth0")
	if len(h) != 2 || h[0].From != 10 || h[0].To != 20 || h[1].From != 20 || h[1].To != landscape.Forever || h[0].Attrs["operstate"] != "up" {
		t.Errorf("eth0 history %+v", h)
	}
	if eh := l.EdgeHistory("host"); len(eh) != 3 {
		t.Errorf("host edge history %+v, want 3 versions", eh)
	}
	if got := l.Times(); !slices.Equal(got, []landscape.Time{10, 20}) {
		t.Errorf("times %v", got)
	}
	if diff := l.Diff(12, 25); !slices.Equal(ids(diff.RemovedNodes), []string{"ctr"}) {
		t.Errorf("Diff(12, 25) = %v", diff)
	}
	// The history is independent of the graphs recorded.
	g2.Node("eth0").Attrs["operstate"] = "changed later"
	if got := l.At(25).Node("eth0").Attrs["operstate"]; got != "down" {
		t.Errorf("the landscape shares maps with the recorded graph: %q", got)
	}
}

func TestPrune(t *testing.T) {
	l := landscape.New()
	a := landscape.NewGraph([]landscape.Node{node("h", "physical", "m", "state", "up"), node("x", "virtual", "v")},
		[]landscape.Edge{{Source: "x", Target: "h", Label: landscape.RunsOn}})
	b := landscape.NewGraph([]landscape.Node{node("h", "physical", "m", "state", "down")}, nil)
	l.Record(10, a)
	l.Record(20, b)
	l.Record(30, a)
	if n, e := l.Counts(); n != 5 || e != 2 {
		t.Fatalf("%d node and %d edge versions before pruning, want 5 and 2", n, e)
	}
	if n, e := l.Prune(20); n != 2 || e != 1 {
		t.Errorf("pruned %d node and %d edge versions, want 2 and 1", n, e)
	}
	if got := l.Times(); !slices.Equal(got, []landscape.Time{20, 30}) {
		t.Errorf("times after pruning %v", got)
	}
	if g := l.At(35); len(g.Nodes) != 2 || len(g.Edges) != 1 {
		t.Errorf("the present changed: %+v", g)
	}
	if g := l.At(15); len(g.Nodes) != 0 {
		t.Errorf("pruned past still there: %+v", g.Nodes)
	}
}

func TestAddOverlappingVersions(t *testing.T) {
	l := landscape.New()
	if err := l.AddNode(node("a", "", ""), 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.AddNode(node("a", "", ""), 10, 20); err != nil {
		t.Errorf("adjacent version refused: %v", err)
	}
	if err := l.AddNode(node("a", "", ""), 5, 15); !errors.Is(err, landscape.ErrDuplicateID) {
		t.Errorf("overlapping version: err %v", err)
	}
	if err := l.AddNode(node("b", "", ""), 7, 7); err == nil {
		t.Error("empty interval accepted")
	}
}

func TestMergeReturnsNewGraph(t *testing.T) {
	a := landscape.NewGraph([]landscape.Node{node("host", landscape.Physical, "machine", "hostname", "h1")}, nil)
	b := landscape.NewGraph([]landscape.Node{
		{ID: "host", Attrs: map[string]string{"uuid": "u1"}},
		node("vm", landscape.Virtual, "vm"),
	}, []landscape.Edge{{Source: "vm", Target: "host", Label: landscape.DeployedOn}})
	m := a.Merge(b)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	h := m.Node("host")
	if h.Type != "machine" || h.Attrs["hostname"] != "h1" || h.Attrs["uuid"] != "u1" {
		t.Errorf("merged host %+v: want type, hostname and uuid", h)
	}
	if len(m.Nodes) != 2 || len(m.Edges) != 1 {
		t.Errorf("merged %d nodes, %d edges", len(m.Nodes), len(m.Edges))
	}
	if len(a.Nodes) != 1 || a.Node("host").Attrs["uuid"] != "" || len(b.Nodes) != 2 {
		t.Error("Merge changed its inputs")
	}
	if got := m.Lookup(landscape.JoinKey{Kind: landscape.KeyUUID, Value: "u1"}); !slices.Equal(got, []string{"host"}) {
		t.Errorf("lookup by uuid: %v", got)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		nodes []landscape.Node
		edges []landscape.Edge
		want  []error
	}{
		{"ok", []landscape.Node{node("a", "physical", "m"), node("b", "virtual", "v")},
			[]landscape.Edge{{Source: "b", Target: "a", Label: "RUNS_ON"}, {Source: "a", Target: "b", Label: "COMMUNICATES"}}, nil},
		{"empty id", []landscape.Node{node("", "physical", "m")}, nil, []error{landscape.ErrEmptyID}},
		{"duplicate", []landscape.Node{node("a", "", ""), node("a", "", "")}, nil, []error{landscape.ErrDuplicateID}},
		{"dangling", []landscape.Node{node("a", "", "")}, []landscape.Edge{{Source: "a", Target: "zz", Label: "X"}}, []error{landscape.ErrMissingNode}},
		{"duplicate edge", []landscape.Node{node("a", "", ""), node("b", "", "")},
			[]landscape.Edge{{Source: "a", Target: "b", Label: "X"}, {Source: "a", Target: "b", Label: "X"}}, []error{landscape.ErrDuplicateKey}},
		{"self containment", []landscape.Node{node("a", "", "")}, []landscape.Edge{{Source: "a", Target: "a", Label: "CONTAINS"}}, []error{landscape.ErrCycle}},
		{"several", []landscape.Node{{ID: "a", Layer: "x", Category: "y"}}, nil, []error{landscape.ErrBadLayer, landscape.ErrBadCategory}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := landscape.NewGraph(c.nodes, c.edges).Validate()
			if len(c.want) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v is not %v", err, w)
				}
			}
		})
	}
}
