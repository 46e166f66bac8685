package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"flowscape/landscape"
)

// anomalyFiles writes a generated landscape and 100 samples a minute apart
// for its hosts and VMs; rack0-host1's CPU jumps by 30 σ for the last 10.
func anomalyFiles(t *testing.T) (land, csv string) {
	t.Helper()
	land, g := anomalyLandscape(t)
	dir := filepath.Dir(land)
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("timestamp,node,metric,value\n")
	for i := range 100 {
		ts := 1700000000 + 60*i
		for _, n := range g.Nodes {
			if n.Type != "host" && n.Type != "vm" {
				continue
			}
			v := 40 + rng.NormFloat64()
			if n.ID == "rack0-host1" && i >= 90 {
				v += 30
			}
			fmt.Fprintf(&b, "%d,%s,cpu_busy_pct,%.3f\n", ts, n.ID, v)
		}
		fmt.Fprintf(&b, "%d,device=sdz,disk_busy_pct,%d\n", ts, i%3)
	}
	b.WriteString("oops,rack0-host1,cpu_busy_pct,1\n")
	b.WriteString("1700009999,rack0-host2,cpu_busy_pct,NaN\n")
	csv = filepath.Join(dir, "t.csv")
	os.WriteFile(csv, []byte(b.String()), 0o644)
	return land, csv
}

// anomalyLandscape writes a generated landscape of 60 nodes (hosts with
// VMs, services on the VMs).
func anomalyLandscape(t *testing.T) (string, *landscape.Graph) {
	t.Helper()
	g := landscape.Generate(60, 1)
	var buf bytes.Buffer
	if err := landscape.WriteFlowscape(&buf, landscape.FromGraph(g, 1700000000)); err != nil {
		t.Fatal(err)
	}
	land := filepath.Join(t.TempDir(), "land.json")
	if err := os.WriteFile(land, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return land, g
}

// hostsCSV writes n rows a minute apart for every host and VM of g, in
// that order: value(i, id) gives the row's time offset (s) and how many
// σ its CPU is off the usual 40 ± 1 (skip: no row).
func hostsCSV(t *testing.T, g *landscape.Graph, n int, value func(i int, id string) (ts int, off float64, skip bool)) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString("timestamp,node,metric,value\n")
	for i := range n {
		for _, nd := range g.Nodes {
			if nd.Type != "host" && nd.Type != "vm" {
				continue
			}
			ts, off, skip := value(i, nd.ID)
			v := 40 + rng.NormFloat64() + off
			if !skip {
				fmt.Fprintf(&b, "%d,%s,cpu_busy_pct,%.3f\n", 1700000000+ts, nd.ID, v)
			}
		}
	}
	csv := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return csv
}

// anomaliesJSON runs the command with --format json and decodes it.
func anomaliesJSON(t *testing.T, args ...string) (anomaliesOutput, map[string]anomalyNode) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append(append([]string{"anomalies"}, args...), "--format", "json"), nil, &out, &errb); code != 0 {
		t.Fatalf("anomalies %v: exit %d: %s", args, code, errb.String())
	}
	var doc anomaliesOutput
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	nodes := map[string]anomalyNode{}
	for _, n := range doc.Nodes {
		nodes[n.ID] = n
	}
	return doc, nodes
}

// A file with ten hours missing (the machine slept) raises no alarm, not
// even on a host whose level moved meanwhile, nor does a series whose
// clock was set back an hour; the gaps and the clock's jump are counted
// in both outputs. With --gap above the hours missing, the moved level is
// scored as a change and alarms.
func TestAnomaliesCommandGapsAndClock(t *testing.T) {
	land, g := anomalyLandscape(t)
	const gapAt, gapS = 120, 10 * 3600
	csv := hostsCSV(t, g, 180, func(i int, id string) (int, float64, bool) {
		ts, off := 60*i, 0.0
		if i >= gapAt {
			ts += gapS
			if id == "rack0-host1" {
				off = 10 // the level moved while the machine slept
			}
		}
		if id == "rack0-host2" && i >= 60 {
			ts -= 3600 // its clock set back an hour
		}
		return ts, off, false
	})
	series := 0
	for _, n := range g.Nodes {
		if n.Type == "host" || n.Type == "vm" {
			series++
		}
	}

	doc, nodes := anomaliesJSON(t, "--landscape", land, "--telemetry", csv)
	if len(doc.RootCauses) != 0 {
		t.Errorf("root causes %v after the gap, want none (rack0-host1: %+v)", doc.RootCauses, nodes["rack0-host1"])
	}
	if doc.Gaps != series || doc.ClockBack != 1 || doc.Skipped["out_of_order"] != 0 {
		t.Errorf("gaps %d, clock back %d, out of order %d; want %d (one per series), 1, 0", doc.Gaps, doc.ClockBack, doc.Skipped["out_of_order"], series)
	}
	if h := nodes["rack0-host2"]; h.State != "ok" {
		t.Errorf("rack0-host2, whose clock went back: %+v, want ok", h)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"anomalies", "--landscape", land, "--telemetry", csv}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := fmt.Sprintf("%d gaps in series (the sample after each not scored); a series' clock went back 1 time (the series followed it)", series)
	if !strings.Contains(out.String(), "0 critical, 0 warning") || !strings.Contains(out.String(), want) {
		t.Errorf("text output lacks %q or 0 alarms:\n%s", want, out.String())
	}

	doc, nodes = anomaliesJSON(t, "--landscape", land, "--telemetry", csv, "--gap", "1000")
	if h := nodes["rack0-host1"]; doc.Gaps != 0 || h.State == "ok" || !slices.Equal(doc.RootCauses, []string{"rack0-host1"}) {
		t.Errorf("--gap 1000: gaps %d, rack0-host1 %+v, root causes %v; want 0 gaps and an alarm on the moved level", doc.Gaps, h, doc.RootCauses)
	}
}

// A lasting shift of 3 σ on one host, below the 4 σ of a warning: the
// CUSUM raises it (named in both outputs as such, with its metric);
// --cusum-h 0 turns it off, and --cusum-k above the shift lets it pass.
func TestAnomaliesCommandCUSUMFlags(t *testing.T) {
	land, g := anomalyLandscape(t)
	csv := hostsCSV(t, g, 150, func(i int, id string) (int, float64, bool) {
		if id == "rack0-host1" && i >= 125 {
			return 60 * i, 3, false
		}
		return 60 * i, 0, false
	})
	doc, nodes := anomaliesJSON(t, "--landscape", land, "--telemetry", csv)
	h := nodes["rack0-host1"]
	if !slices.Equal(doc.RootCauses, []string{"rack0-host1"}) || h.State != "warning" || h.Metric != "cpu_busy_pct" || h.Detector != "cusum" {
		t.Errorf("default: root causes %v, rack0-host1 %+v; want a warning on cpu_busy_pct by the CUSUM", doc.RootCauses, h)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"anomalies", "--landscape", land, "--telemetry", csv}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "lasting shift (CUSUM)  cpu_busy_pct") || !strings.Contains(out.String(), "0 critical, 1 warning") {
		t.Errorf("text output:\n%s", out.String())
	}

	for _, tt := range []struct {
		args []string
		want thresholdsDoc
	}{
		{[]string{"--cusum-h", "0"}, thresholdsDoc{Warn: 4, Crit: 8, K: 3, N: 5, CusumK: 1.5, CusumH: 0, Gap: 5}},
		{[]string{"--cusum-k", "3.5"}, thresholdsDoc{Warn: 4, Crit: 8, K: 3, N: 5, CusumK: 3.5, CusumH: 4, Gap: 5}},
	} {
		doc, nodes := anomaliesJSON(t, append([]string{"--landscape", land, "--telemetry", csv}, tt.args...)...)
		if h := nodes["rack0-host1"]; len(doc.RootCauses) != 0 || h.State != "ok" {
			t.Errorf("%v: root causes %v, rack0-host1 %+v; want none, ok", tt.args, doc.RootCauses, h)
		}
		if doc.Thresholds != tt.want {
			t.Errorf("%v: thresholds %+v, want %+v", tt.args, doc.Thresholds, tt.want)
		}
	}
}

func TestAnomaliesCommandJSON(t *testing.T) {
	land, csv := anomalyFiles(t)
	var out, errb bytes.Buffer
	code := run([]string{"anomalies", "--landscape", land, "--telemetry", csv, "--format", "json"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc anomaliesOutput
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if want := time.Unix(1700000000+60*99, 0).UTC().Format(time.RFC3339); doc.At != want {
		t.Errorf("assessed at %s, want the last sample with a value (%s)", doc.At, want)
	}
	if len(doc.RootCauses) != 1 || doc.RootCauses[0] != "rack0-host1" {
		t.Errorf("root causes %v, want [rack0-host1]", doc.RootCauses)
	}
	nodes := map[string]anomalyNode{}
	for _, n := range doc.Nodes {
		nodes[n.ID] = n
	}
	h := nodes["rack0-host1"]
	third := time.Unix(1700000000+60*92, 0).UTC().Format(time.RFC3339)
	if h.State != "critical" || h.Metric != "cpu_busy_pct" || h.Rank != 1 || h.FirstAlarm != third || h.Score < 8 {
		t.Errorf("rack0-host1 = %+v, want critical on cpu_busy_pct, rank 1, first alarm %s (the third high sample)", h, third)
	}
	vm := nodes["rack0-host1-vm0"]
	if vm.State != "ok" || !slices.Equal(vm.ImpactedBy, []string{"rack0-host1"}) || vm.Via[0] != "rack0-host1" {
		t.Errorf("rack0-host1-vm0 = %+v, want ok, impacted by rack0-host1", vm)
	}
	svc := nodes["rack0-host1-vm0-svc"]
	if svc.State != "impacted" || !slices.Equal(svc.ImpactedBy, []string{"rack0-host1"}) || svc.Via[0] != "rack0-host1-vm0" {
		t.Errorf("service on the VM = %+v, want impacted by rack0-host1 via rack0-host1-vm0", svc)
	}
	if other := nodes["rack0-host2"]; other.State != "ok" || len(other.ImpactedBy) > 0 {
		t.Errorf("rack0-host2 = %+v, want ok", other)
	}
	if len(doc.Unjoined) != 1 || doc.Unjoined[0].Key != "device=sdz" {
		t.Errorf("unjoined %+v, want device=sdz", doc.Unjoined)
	}
	if doc.Skipped["bad_rows"] != 1 || doc.Skipped["nan"] != 1 || len(doc.BadRows) != 1 || !strings.HasPrefix(doc.BadRows[0], "line ") {
		t.Errorf("skipped %v, bad rows %v", doc.Skipped, doc.BadRows)
	}
	if !strings.Contains(errb.String(), "t.csv:line") {
		t.Errorf("stderr %q: want the bad row with file and line", errb.String())
	}
}

func TestAnomaliesCommandTextAndTime(t *testing.T) {
	land, csv := anomalyFiles(t)
	var out, errb bytes.Buffer
	if code := run([]string{"anomalies", "--landscape", land, "--telemetry", csv}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	text := out.String()
	for _, want := range []string{"1 critical, 0 warning", "RANK", "1     rack0-host1", "rack0-host1-vm0-svc", "(via rack0-host1-vm0)", "device=sdz disk_busy_pct: no node of the landscape has this key"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	// Before the jump, nothing is wrong.
	out.Reset()
	at := fmt.Sprint(1700000000 + 60*80)
	if code := run([]string{"anomalies", "--landscape", land, "--telemetry", csv, "--at", at, "--format", "json"}, nil, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	var doc anomaliesOutput
	json.Unmarshal(out.Bytes(), &doc)
	if len(doc.RootCauses) != 0 {
		t.Errorf("at %s: root causes %v, want none", at, doc.RootCauses)
	}
}

func TestAnomaliesCommandErrors(t *testing.T) {
	land, csv := anomalyFiles(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--landscape", land}, 2, "want --landscape and one of --telemetry or --prometheus"},
		{[]string{"--landscape", land, "--telemetry", csv, "--prometheus", "http://x"}, 2, "want --landscape and one of"},
		{[]string{"--landscape", land, "--telemetry", "/nonexistent.csv"}, 1, "/nonexistent.csv"},
		{[]string{"--landscape", "/nonexistent.json", "--telemetry", csv}, 1, "/nonexistent.json"},
		{[]string{"--landscape", land, "--telemetry", csv, "--format", "xml"}, 2, `unknown format "xml"`},
		{[]string{"--landscape", land, "--telemetry", csv, "--k", "6"}, 2, "1 ≤ K ≤ N ≤ 64"},
		{[]string{"--evaluate", "--seeds", "x"}, 2, `"x" is not a number`},
		{[]string{"--landscape", land, "--telemetry", csv, "--cusum-h", "-1"}, 2, "--cusum-h -1: want a number of σ, 0 or more (0 turns the CUSUM off)"},
		{[]string{"--landscape", land, "--telemetry", csv, "--cusum-k", "NaN"}, 2, "--cusum-k NaN: want a number of σ, 0 or more"},
		{[]string{"--landscape", land, "--telemetry", csv, "--cusum-k", "x"}, 2, `invalid value "x" for flag -cusum-k`},
		{[]string{"--landscape", land, "--telemetry", csv, "--gap", "1"}, 2, "--gap 1: want a number of steps above 1"},
		{[]string{"--evaluate", "--gap", "Inf"}, 2, "--gap +Inf: want a number of steps above 1"},
		{[]string{"--landscape", land, "--telemetry", csv, "--warn", "0"}, 2, "--warn 0: want a number of σ above 0"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(append([]string{"anomalies"}, tt.args...), nil, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("anomalies %v: exit %d, stderr %q; want %d and %q", tt.args, code, errb.String(), tt.code, tt.want)
		}
	}
}

func TestAnomaliesEvaluateCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"anomalies", "--evaluate", "--nodes", "60", "--hours", "8", "--seeds", "4", "--format", "json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc struct {
		Faults        int     `json:"faults"`
		DetectionRate float64 `json:"detection_rate"`
		FalsePer1000  float64 `json:"false_alarms_per_1000_node_hours"`
		Seeds         []int   `json:"seeds"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err, out.String())
	}
	if doc.Faults < 5 || doc.DetectionRate < 0.9 || doc.FalsePer1000 > 5 || !slices.Equal(doc.Seeds, []int{4}) {
		t.Errorf("evaluation %+v", doc)
	}
}

// --prometheus reads the history with range queries; a query the server
// refuses is reported and the others are used.
func TestAnomaliesCommandPrometheus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/api/v1/query_range" || q.Get("step") != "15" {
			http.Error(w, "unexpected "+r.URL.String(), 400)
			return
		}
		if q.Get("query") == "broken" {
			w.WriteHeader(422)
			w.Write([]byte(`{"status":"error","errorType":"execution","error":"boom"}`))
			return
		}
		start, _ := strconv.ParseFloat(q.Get("start"), 64)
		end, _ := strconv.ParseFloat(q.Get("end"), 64)
		var res []string
		rng := rand.New(rand.NewPCG(3, 4))
		for _, cpu := range []string{"0", "1"} {
			var vals []string
			for ts := start; ts <= end; ts += 15 {
				v := 20 + rng.NormFloat64()
				if cpu == "1" && ts > end-60 {
					v = 100
				}
				vals = append(vals, fmt.Sprintf(`[%.3f,"%.3f"]`, ts, v))
			}
			res = append(res, fmt.Sprintf(`{"metric":{"cpu":%q,"instance":"m:9100"},"values":[%s]}`, cpu, strings.Join(vals, ",")))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, strings.Join(res, ","))
	}))
	defer srv.Close()
	dir := t.TempDir()
	land := filepath.Join(dir, "m.json")
	os.WriteFile(land, []byte(`{"nodes":[
		{"id":"m","layer":"physical","category":"compute","type":"machine","attrs":{"hostname":"m"}},
		{"id":"m/cpu0","layer":"physical","category":"compute","type":"thread","attrs":{"cpu":"0"}},
		{"id":"m/cpu1","layer":"physical","category":"compute","type":"thread","attrs":{"cpu":"1"}}],
		"edges":[{"source":"m","target":"m/cpu0","label":"CONTAINS"},{"source":"m","target":"m/cpu1","label":"CONTAINS"}]}`), 0o644)
	queries := filepath.Join(dir, "q.json")
	os.WriteFile(queries, []byte(`[{"metric":"cpu_busy_pct","promql":"busy","keys":[{"label":"cpu","kind":"cpu"}]},
		{"metric":"other","promql":"broken","keys":[{"label":"cpu","kind":"cpu"}]}]`), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"anomalies", "--landscape", land, "--prometheus", srv.URL, "--queries", queries, "--range", "30m", "--format", "json"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "other: prometheus "+srv.URL+": HTTP 422 execution: boom") {
		t.Errorf("stderr %q: want the failed query", errb.String())
	}
	var doc anomaliesOutput
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.RootCauses, []string{"m/cpu1"}) || doc.Samples < 2*100 {
		t.Errorf("root causes %v from %d samples, want [m/cpu1] from two series of 121 points", doc.RootCauses, doc.Samples)
	}
	for _, n := range doc.Nodes {
		if n.ID == "m" && !slices.Equal(n.ImpactedBy, []string{"m/cpu1"}) {
			t.Errorf("machine %+v, want impacted by m/cpu1", n)
		}
	}
	// Nothing listening: a clear error.
	srv.Close()
	errb.Reset()
	if code := run([]string{"anomalies", "--landscape", land, "--prometheus", srv.URL, "--queries", queries}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "connection refused") {
		t.Errorf("server down: exit %d, %q", code, errb.String())
	}
}
