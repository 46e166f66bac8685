package landscape_test

import (
	"strings"
	"testing"

	"flowscape/landscape"
)

func TestCollapseLandscaperFixture(t *testing.T) {
	g := load(t, "test_landscape.json").Latest()
	fold := landscape.DefaultFold(g, 150)
	for _, typ := range []string{"cache", "pu", "core"} {
		if !fold.Types[typ] {
			t.Errorf("type %s not folded by default (%v)", typ, fold.Types)
		}
	}
	if fold.Types["machine"] || fold.Types["stack"] {
		t.Errorf("folded %v: machines and stacks are one per owner", fold.Types)
	}
	c, members := landscape.Collapse(g, fold)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) >= len(g.Nodes)/2 {
		t.Errorf("collapsed to %d of %d nodes", len(c.Nodes), len(g.Nodes))
	}
	gid := landscape.GroupID("machine-A", "pu")
	grp := c.Node(gid)
	if grp == nil || grp.Name != "8 × pu" || len(members[gid]) != 8 {
		t.Fatalf("group %s = %+v with %d members", gid, grp, len(members[gid]))
	}
	total := 0
	for _, n := range c.Nodes {
		if strings.HasPrefix(n.ID, landscape.GroupPrefix) {
			total += len(members[n.ID])
		} else {
			total++
		}
	}
	if total != len(g.Nodes) {
		t.Errorf("groups and nodes stand for %d nodes, want %d", total, len(g.Nodes))
	}
	// Opening one group shows its members again, and only those.
	fold.Open[gid] = true
	c2, _ := landscape.Collapse(g, fold)
	if c2.Node(gid) != nil || len(c2.Nodes) != len(c.Nodes)+7 {
		t.Errorf("opened %s: %d nodes, want %d", gid, len(c2.Nodes), len(c.Nodes)+7)
	}
	// Folding a machine hides its whole subtree in it.
	c3, m3 := landscape.Collapse(g, landscape.Fold{Machines: map[string]bool{"machine-A": true}})
	if err := c3.Validate(); err != nil {
		t.Fatal(err)
	}
	if c3.Node("machine-A_pu_0") != nil || len(m3["machine-A"]) == 0 || c3.Node("machine-A").Attrs["folded"] == "" {
		t.Errorf("machine-A folded: %d members, node %+v", len(m3["machine-A"]), c3.Node("machine-A"))
	}
	if len(c3.Nodes)+len(m3["machine-A"]) != len(g.Nodes) {
		t.Errorf("%d + %d nodes, want %d", len(c3.Nodes), len(m3["machine-A"]), len(g.Nodes))
	}
}

func TestSmallGraphNotFolded(t *testing.T) {
	g := load(t, "machine-A_hwloc.xml").Latest()
	if f := landscape.DefaultFold(g, 150); len(f.Types) != 0 {
		t.Errorf("a %d-node graph folds %v", len(g.Nodes), f.Types)
	}
}

func BenchmarkCollapseAndLayout10000(b *testing.B) {
	g := landscape.Generate(10000, 1)
	for b.Loop() {
		c, _ := landscape.Collapse(g, landscape.DefaultFold(g, 300))
		landscape.LayoutGraph(c)
	}
}
