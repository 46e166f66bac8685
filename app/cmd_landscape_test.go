package app

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const landscaperFixture = "../landscape/testdata/test_landscape.json"

type landscapeJSON struct {
	Nodes []struct {
		ID, Layer, Category, Type, Name string
		Attrs                           map[string]any
	} `json:"nodes"`
	Edges []struct{ Source, Target, Label string } `json:"edges"`
}

func runLandscape(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"landscape"}, args...), nil, &out, &errb)
	return code, out.String(), errb.String()
}

func TestLandscapeCommandConvertsLandscaperFile(t *testing.T) {
	code, out, errs := runLandscape(t, "--format", "json", landscaperFixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc landscapeJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Nodes) != 242 || len(doc.Edges) != 262 {
		t.Errorf("%d nodes, %d edges; want 242 and 262", len(doc.Nodes), len(doc.Edges))
	}
	// The same through --source and -o, in landscaper's own format.
	path := filepath.Join(t.TempDir(), "out.json")
	code, _, errs = runLandscape(t, "--source", "file:"+landscaperFixture, "--format", "landscaper", "-o", path)
	if code != 0 || !strings.Contains(errs, "wrote 242 node and 262 edge versions") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ls struct {
		Nodes []map[string]any `json:"nodes"`
		Links []map[string]any `json:"links"`
	}
	if err := json.Unmarshal(data, &ls); err != nil || len(ls.Nodes) != 242 || len(ls.Links) != 262 {
		t.Errorf("landscaper output: %d nodes, %d links, %v", len(ls.Nodes), len(ls.Links), err)
	}
}

func TestLandscapeCommandAtTime(t *testing.T) {
	code, out, errs := runLandscape(t, "--at", "2017-08-15T15:27:00Z", "../landscape/testdata/test_landscape_with_states.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc landscapeJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	// 1502810820 is after the hosts appear (1502810801) and before the
	// first VM (1502810995): the physical layer only.
	if len(doc.Nodes) != 196 {
		t.Errorf("%d nodes, want the 196 physical ones", len(doc.Nodes))
	}
	for _, n := range doc.Nodes {
		if n.Layer != "physical" {
			t.Errorf("node %s (%s) at a time before any VM", n.ID, n.Layer)
		}
	}
}

func TestLandscapeCommandDOT(t *testing.T) {
	code, out, errs := runLandscape(t, "--format", "dot", landscaperFixture)
	if code != 0 || !strings.HasPrefix(out, "digraph landscape {") {
		t.Fatalf("exit %d: %s\n%.200s", code, errs, out)
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot not installed: cannot check the output parses")
	}
	cmd := exec.Command(dot, "-Tcanon")
	cmd.Stdin = strings.NewReader(out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("dot rejects the output: %v\n%.500s", err, msg)
	}
}

func TestLandscapeCommandLocal(t *testing.T) {
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		t.Skip("no /sys on this machine")
	}
	code, out, errs := runLandscape(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc landscapeJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/hostname")
	found := false
	for _, n := range doc.Nodes {
		if n.Type == "machine" && n.ID == strings.TrimSpace(string(host)) {
			found = true
		}
	}
	if !found {
		t.Errorf("no machine node named %q among %d nodes", strings.TrimSpace(string(host)), len(doc.Nodes))
	}
}

func TestLandscapeCommandMergesSources(t *testing.T) {
	hw := "../landscape/testdata/machine-A_hwloc.xml"
	code, out, errs := runLandscape(t, "--source", "file:"+landscaperFixture+",file:"+hw)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc landscapeJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	// hwloc names machine-A's objects machine-A_<type>_<n>, as landscaper
	// does: the shared ones are merged, the others added.
	ids := map[string]int{}
	for _, n := range doc.Nodes {
		ids[n.ID]++
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s listed %d times", id, c)
		}
	}
	if len(doc.Nodes) < 242 || ids["machine-A"] != 1 || ids["machine-A_pu_7"] != 1 {
		t.Errorf("%d nodes after merging", len(doc.Nodes))
	}
}

func TestLandscapeCommandBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{\"nodes\": [\n{\"id\": 1,}]}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{bad}, 1, bad + ": line 2"},
		{[]string{"no/such/file.json"}, 1, "no/such/file.json"},
		{[]string{"--source", "cloud"}, 2, `unknown source "cloud"`},
		{[]string{"--format", "svg", landscaperFixture}, 2, `unknown format "svg"`},
		{[]string{"--at", "yesterday", landscaperFixture}, 2, "RFC 3339"},
		{[]string{"--source", "local", landscaperFixture}, 2, "not both"},
		{[]string{"--source", "local,cloud"}, 2, `unknown source "cloud"`},
	}
	for _, c := range cases {
		code, _, errs := runLandscape(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}
