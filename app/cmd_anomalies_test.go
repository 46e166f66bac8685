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
	dir := t.TempDir()
	g := landscape.Generate(60, 1)
	var buf bytes.Buffer
	if err := landscape.WriteFlowscape(&buf, landscape.FromGraph(g, 1700000000)); err != nil {
		t.Fatal(err)
	}
	land = filepath.Join(dir, "land.json")
	os.WriteFile(land, buf.Bytes(), 0o644)
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
