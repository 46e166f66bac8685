package landscape_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"flowscape/landscape"
)

// The landscaper fixtures are real output of IntelLabsEurope/landscaper
// (see testdata/NOTICE).

func load(t testing.TB, name string) *landscape.Landscape {
	t.Helper()
	l, err := landscape.Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return l
}

func TestLandscaperFixtureImportsEveryNodeAndLink(t *testing.T) {
	g := load(t, "test_landscape.json").Latest()
	if len(g.Nodes) != 242 || len(g.Edges) != 262 {
		t.Fatalf("got %d nodes and %d edges, want 242 and 262", len(g.Nodes), len(g.Edges))
	}
	want := map[string]int{"machine": 5, "vm": 3, "vnic": 32, "stack": 2, "switch": 1, "volume": 1,
		"network": 4, "subnet": 4, "package": 5, "core": 20, "pu": 40, "cache": 65}
	got := g.CountByType()
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("%d nodes of type %s, want %d", got[typ], typ, n)
		}
	}
	labels := map[string]int{}
	for _, e := range g.Edges {
		labels[e.Label]++
	}
	wantLabels := map[string]int{"INTERNAL": 210, "REQUIRES": 40, "RUNS_ON": 7, "DEPLOYED_ON": 3, "COMMUNICATES": 2}
	for l, n := range wantLabels {
		if labels[l] != n {
			t.Errorf("%d %s edges, want %d", labels[l], l, n)
		}
	}
	if err := g.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	layers := map[string]int{}
	for _, n := range g.Nodes {
		layers[n.Layer]++
	}
	if layers[landscape.Physical] != 196 || layers[landscape.Virtual] != 44 || layers[landscape.Service] != 2 {
		t.Errorf("layers %v, want 196 physical, 44 virtual, 2 service", layers)
	}
}

func TestLandscaperAttributes(t *testing.T) {
	g := load(t, "test_landscape.json").Latest()
	// "osdev_network-name" is the device's own name, renamed by landscaper
	// so it does not clash with the node's name.
	var nic *landscape.Node
	for i := range g.Nodes {
		if g.Nodes[i].Type == "osdev_network" && strings.HasPrefix(g.Nodes[i].ID, "machine-A_") {
			nic = &g.Nodes[i]
			break
		}
	}
	if nic == nil {
		t.Fatal("no osdev_network node on machine-A")
	}
	if nic.Attrs["name"] == "" || nic.Attrs["osdev_network-name"] != "" {
		t.Errorf("attrs %v: want the device name under \"name\"", nic.Attrs)
	}
	keys := nic.JoinKeys()
	if !slices.Contains(keys, landscape.JoinKey{Kind: landscape.KeyMAC, Value: nic.Attrs["address"]}) ||
		!slices.Contains(keys, landscape.JoinKey{Kind: landscape.KeyDevice, Value: nic.Attrs["name"]}) {
		t.Errorf("join keys %v: want its MAC and device name", keys)
	}
	sw := g.Node("SF250-48")
	if sw == nil || sw.Attrs["roles"] != `["management"]` || !sw.JSONAttrs["roles"] {
		t.Fatalf("switch %+v: want roles kept as the JSON list", sw)
	}
	vm := g.Node("1ffaedbf-719a-4327-a14e-ed7b8564fb4e")
	if vm == nil || vm.Type != "vm" {
		t.Fatalf("vm 1ffaedbf… not found")
	}
	if ids := g.Lookup(landscape.JoinKey{Kind: landscape.KeyUUID, Value: vm.ID}); !slices.Equal(ids, []string{vm.ID}) {
		t.Errorf("Lookup by UUID = %v, want the VM", ids)
	}
	if ids := g.Lookup(landscape.JoinKey{Kind: landscape.KeyHostname, Value: "machine_a"}); !slices.Equal(ids, []string{"machine-A"}) {
		t.Errorf("Lookup by hostname = %v, want machine-A", ids)
	}
}

func TestTimeTravelWithStates(t *testing.T) {
	l := load(t, "test_landscape_with_states.json")
	vms := func(tm landscape.Time) []string {
		var out []string
		for _, n := range l.At(tm).Nodes {
			if n.Type == "vm" {
				out = append(out, n.ID)
			}
		}
		return out
	}
	cases := []struct {
		at           landscape.Time
		nodes, edges int
		vms          []string
	}{
		{1502810801, 196, 212, nil},
		{1502811001, 246, 266, []string{"0ef723f3-58b4-40d9-8faf-670fa768809e", "1ffaedbf-719a-4327-a14e-ed7b8564fb4e", "79e361ac-b875-4520-962f-b49fb1cf4901", "9f138444-5a36-4238-8d18-ba456b35fcad"}},
		{1502818001, 239, 255, []string{"1ffaedbf-719a-4327-a14e-ed7b8564fb4e", "79e361ac-b875-4520-962f-b49fb1cf4901"}},
		{1502828001, 242, 262, []string{"1ffaedbf-719a-4327-a14e-ed7b8564fb4e", "nova-1", "nova-2"}},
	}
	for _, c := range cases {
		g := l.At(c.at)
		if len(g.Nodes) != c.nodes || len(g.Edges) != c.edges {
			t.Errorf("at %d: %d nodes, %d edges; want %d, %d", c.at, len(g.Nodes), len(g.Edges), c.nodes, c.edges)
		}
		if got := vms(c.at); !slices.Equal(got, c.vms) {
			t.Errorf("at %d: VMs %v, want %v", c.at, got, c.vms)
		}
	}
	d := l.Diff(1502811001, 1502828001)
	var added, removed []string
	for _, n := range d.AddedNodes {
		if n.Type == "vm" {
			added = append(added, n.ID)
		}
	}
	for _, n := range d.RemovedNodes {
		if n.Type == "vm" {
			removed = append(removed, n.ID)
		}
	}
	if !slices.Equal(added, []string{"nova-1", "nova-2"}) ||
		!slices.Equal(removed, []string{"0ef723f3-58b4-40d9-8faf-670fa768809e", "79e361ac-b875-4520-962f-b49fb1cf4901", "9f138444-5a36-4238-8d18-ba456b35fcad"}) {
		t.Errorf("diff: VMs added %v, removed %v", added, removed)
	}
	h := l.History("79e361ac-b875-4520-962f-b49fb1cf4901")
	if len(h) != 1 || h[0].From != 1502810995 || h[0].To != 1502825001 {
		t.Errorf("history %+v, want one version [1502810995, 1502825001)", h)
	}
	// The state nodes' attributes are the identity node's attributes.
	if br := l.Latest().Node("machine-E_bridge_0"); br == nil || br.Attrs["bridge_pci"] != "0000:[00_03]" {
		t.Errorf("bridge %+v: want its state's bridge_pci", br)
	}
	// At its last time the landscape with states is the plain landscape.
	plain := load(t, "test_landscape.json").Latest()
	latest := l.Latest()
	var a, b []string
	for _, n := range plain.Nodes {
		a = append(a, n.ID+"/"+n.Type)
	}
	for _, n := range latest.Nodes {
		b = append(b, n.ID+"/"+n.Type)
	}
	if !slices.Equal(a, b) || !slices.Equal(plain.Edges, latest.Edges) {
		t.Errorf("latest state differs from test_landscape.json")
	}
}

func TestHwloc(t *testing.T) {
	for _, c := range []struct{ file, host string }{{"machine-A_hwloc.xml", "machine-A"}, {"IRISD040_hwloc.xml", "IRISD014"}} {
		t.Run(c.file, func(t *testing.T) {
			g := load(t, c.file).Latest()
			got := g.CountByType()
			for typ, n := range map[string]int{"machine": 1, "package": 1, "core": 4, "pu": 8, "cache": 13, "bridge": 1, "pcidev": 3} {
				if got[typ] != n {
					t.Errorf("%d %s, want %d", got[typ], typ, n)
				}
			}
			m := g.Node(c.host)
			if m == nil || m.Attrs[landscape.KeyHostname] != c.host {
				t.Fatalf("machine %q not found (types %v)", c.host, got)
			}
			if len(g.Edges) != len(g.Nodes)-1 {
				t.Errorf("%d edges for %d nodes: want a tree", len(g.Edges), len(g.Nodes))
			}
			var pus []string
			for _, n := range g.Nodes {
				if n.Type == "pu" {
					pus = append(pus, n.Attrs[landscape.KeyCPU])
				}
			}
			slices.Sort(pus)
			if !slices.Equal(pus, []string{"0", "1", "2", "3", "4", "5", "6", "7"}) {
				t.Errorf("PU cpu keys %v", pus)
			}
		})
	}
}

func roundTrip(t *testing.T, l *landscape.Landscape, format string) *landscape.Landscape {
	t.Helper()
	var buf bytes.Buffer
	if err := landscape.Write(&buf, format, l); err != nil {
		t.Fatalf("write %s: %v", format, err)
	}
	back, err := landscape.Decode(buf.Bytes())
	if err != nil {
		t.Fatalf("read back %s: %v\n%.500s", format, err, buf.String())
	}
	return back
}

func TestRoundTrip(t *testing.T) {
	for _, file := range []string{"test_landscape.json", "test_landscape_with_states.json", "test_subgraph.json", "machine-A_hwloc.xml"} {
		for _, format := range []string{landscape.FormatFlowscape, landscape.FormatLandscaper} {
			t.Run(file+"/"+format, func(t *testing.T) {
				l := load(t, file)
				back := roundTrip(t, l, format)
				if !back.Equal(l) {
					an, ae := l.Counts()
					bn, be := back.Counts()
					t.Errorf("round trip differs: %d/%d versions before, %d/%d after", an, ae, bn, be)
				}
			})
		}
	}
}

func TestFlowscapeJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := landscape.WriteFlowscape(&buf, load(t, "test_subgraph.json")); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Nodes) == 0 || len(doc.Edges) == 0 {
		t.Fatal("no nodes or edges written")
	}
	for _, k := range []string{"id", "layer", "category", "type", "name", "attrs"} {
		if _, ok := doc.Nodes[0][k]; !ok {
			t.Errorf("node without %q: %v", k, doc.Nodes[0])
		}
	}
	for _, k := range []string{"source", "target", "label"} {
		if _, ok := doc.Edges[0][k]; !ok {
			t.Errorf("edge without %q: %v", k, doc.Edges[0])
		}
	}
}

func TestDOTEscapesNames(t *testing.T) {
	nodes := []landscape.Node{
		{ID: `a"quoted"`, Name: `say "hi"\`, Layer: landscape.Physical, Type: "machine"},
		{ID: "b\nnewline", Name: "two\nlines", Layer: landscape.Virtual, Category: landscape.Network, Type: "vnic"},
		{ID: "c", Name: "{braces} -> [x]; <y>", Layer: landscape.Service, Type: "svc"},
	}
	edges := []landscape.Edge{{Source: `a"quoted"`, Target: "b\nnewline", Label: "CONTAINS"}, {Source: "c", Target: "b\nnewline", Label: `RUNS "ON"`}}
	var buf bytes.Buffer
	if err := landscape.WriteDOT(&buf, landscape.NewGraph(nodes, edges)); err != nil {
		t.Fatal(err)
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot not installed (make deps installs graphviz): cannot check the DOT parses")
	}
	cmd := exec.Command(dot, "-Tjson0")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dot rejects the output: %v\n%s\n%s", err, out, buf.String())
	}
	var got struct {
		Objects []struct {
			Name  string `json:"name"`
			Label string `json:"label"`
		} `json:"objects"`
		Edges []struct {
			Label string `json:"label"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, o := range got.Objects {
		labels[o.Name] = o.Label
	}
	for _, n := range nodes {
		// Labels are escStrings: Graphviz shows \\ as a backslash and \n
		// as a line break.
		shown := strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(labels[n.ID])
		if shown != n.Name {
			t.Errorf("node %q: label %q, want %q (all: %v)", n.ID, labels[n.ID], n.Name, labels)
		}
	}
	if len(got.Edges) != 2 {
		t.Errorf("%d edges, want 2", len(got.Edges))
	}
}

// badInputs are malformed or inconsistent files; each must fail with a
// message that says what and where.
var badInputs = []struct {
	name, data string
	want       []string // substrings of the error
	is         error
}{
	{"syntax", "{\"nodes\": [\n {\"id\": \"a\",}\n]}", []string{"line 2", "column"}, nil},
	{"truncated", `{"nodes": [{"id": "a"`, []string{"end of JSON"}, nil},
	{"wrong type", "{\"nodes\": [{\"id\": 5}], \"edges\": []}", []string{"line 1"}, nil},
	{"missing node", `{"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b", "label": "RUNS_ON"}]}`, []string{"a -RUNS_ON-> b"}, landscape.ErrMissingNode},
	{"duplicate id", `{"nodes": [{"id": "a"}, {"id": "a"}], "edges": []}`, []string{`"a"`}, landscape.ErrDuplicateID},
	{"cycle", `{"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b", "label": "CONTAINS"}, {"source": "b", "target": "a", "label": "CONTAINS"}]}`, []string{"a → b → a"}, landscape.ErrCycle},
	{"bad layer", `{"nodes": [{"id": "a", "layer": "astral"}], "edges": []}`, []string{`"astral"`}, landscape.ErrBadLayer},
	{"link index", `{"nodes": [{"id": "a"}], "links": [{"source": 0, "target": 7, "label": "X"}]}`, []string{"links[0]", "target 7", "1 nodes"}, landscape.ErrMissingNode},
	{"landscaper duplicate", `{"nodes": [{"id": "a"}, {"id": "a"}], "links": []}`, []string{"nodes[1]"}, landscape.ErrDuplicateID},
	{"xml", "<topology>\n<object type=\"Machine\">\n</topology>", []string{"line 3"}, nil},
	{"not a landscape", `{"foo": 1}`, []string{"nodes"}, nil},
	{"empty", "", []string{"empty"}, nil},
	{"binary", "\x00\x01", []string{"not JSON or XML"}, nil},
}

func TestBadInput(t *testing.T) {
	for _, c := range badInputs {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.json")
			if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := landscape.Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", msg, c.is)
			}
		})
	}
}

func TestManyAttributes(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"nodes": [{"id": "big", "layer": "physical", "attrs": {`)
	for i := range 10000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `_` + itoa(i) + `": "v"`)
	}
	b.WriteString(`}}], "edges": []}`)
	l, err := landscape.Decode([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Latest().Node("big").Attrs); n != 10000 {
		t.Errorf("%d attributes, want 10000", n)
	}
	back := roundTrip(t, l, landscape.FormatLandscaper)
	if !back.Equal(l) {
		t.Error("10 000 attributes do not survive a landscaper round trip")
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func FuzzDecode(f *testing.F) {
	for _, c := range badInputs {
		f.Add([]byte(c.data))
	}
	for _, name := range []string{"test_subgraph.json", "machine-A_hwloc.xml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"nodes": [{"id": "a", "attrs": {"x": [1, 2]}, "from": 5, "to": 9}], "edges": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := landscape.Decode(data)
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error message")
			}
			return
		}
		// What was read is valid and survives both writers.
		if err := l.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid landscape: %v", err)
		}
		for _, format := range []string{landscape.FormatFlowscape, landscape.FormatLandscaper, landscape.FormatDOT} {
			var buf bytes.Buffer
			if err := landscape.Write(&buf, format, l); err != nil {
				t.Fatalf("write %s: %v", format, err)
			}
		}
		var buf bytes.Buffer
		if err := landscape.WriteFlowscape(&buf, l); err != nil {
			t.Fatal(err)
		}
		back, err := landscape.ReadFlowscape(buf.Bytes())
		if err != nil {
			t.Fatalf("own output rejected: %v", err)
		}
		if !back.Equal(l) {
			t.Fatal("Flowscape JSON round trip differs")
		}
	})
}

// Each reader on its own, so that the fuzzer reaches past Sniff.

func seedReader(f *testing.F, files ...string) {
	for _, c := range badInputs {
		f.Add([]byte(c.data))
	}
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzReadLandscaper(f *testing.F) {
	seedReader(f, "test_subgraph.json")
	f.Add([]byte(`{"nodes": [{"id": "a", "type": "t", "t-name": "x"}, {"id": "s", "k": [1]}], "links": [{"source": 0, "target": 1, "label": "STATE", "from": 1, "to": 1924905600}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := landscape.ReadLandscaper(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := landscape.WriteLandscaper(&buf, l); err != nil {
			t.Fatal(err)
		}
		back, err := landscape.ReadLandscaper(buf.Bytes())
		if err != nil {
			t.Fatalf("own output rejected: %v\n%s", err, buf.String())
		}
		if !back.Equal(l) {
			t.Fatal("landscaper round trip differs")
		}
	})
}

func FuzzReadHwloc(f *testing.F) {
	seedReader(f, "machine-A_hwloc.xml")
	f.Add([]byte(`<topology><object type="Machine"><info name="HostName" value="h"/><object type="OSDev" osdev_type="2" name="eth0" address="aa"/></object></topology>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := landscape.ReadHwloc(data)
		if err != nil {
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("accepted an invalid graph: %v", err)
		}
	})
}

func FuzzReadFlowscape(f *testing.F) {
	seedReader(f)
	f.Add([]byte(`{"nodes": [{"id": "a", "attrs": {"x": [1, 2], "y": "s"}, "from": 5, "to": 9}, {"id": "a", "from": 9}], "edges": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := landscape.ReadFlowscape(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := landscape.WriteFlowscape(&buf, l); err != nil {
			t.Fatal(err)
		}
		back, err := landscape.ReadFlowscape(buf.Bytes())
		if err != nil || !back.Equal(l) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
