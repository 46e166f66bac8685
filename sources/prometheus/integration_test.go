package prometheus

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources/hostland"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a command until the test ends, with its output in a file
// that is shown when the test fails.
func start(t *testing.T, name string, args ...string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s output:\n%s", name, tail(string(b), 3000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestRealPrometheus starts Debian's node-exporter and Prometheus on
// 127.0.0.1 (temporary storage, 1 s scrapes), asks them with the default
// queries, instant and range, and joins the answers to this machine's
// landscape.
func TestRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	prom, err1 := exec.LookPath("prometheus")
	exporter, err2 := exec.LookPath("prometheus-node-exporter")
	if err1 != nil || err2 != nil {
		t.Skip("needs Debian's prometheus and prometheus-node-exporter packages (make deps installs them):", err1, err2)
	}
	exAddr, promAddr := freePort(t), freePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prom.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['%s']\n", exAddr)), 0o644)
	start(t, exporter, "--web.listen-address="+exAddr)
	start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := Client{URL: "http://" + promAddr, Timeout: 5 * time.Second}
	for c.Ready(ctx) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("Prometheus not ready after 90 s")
		case <-time.After(500 * time.Millisecond):
		}
	}
	src := Source{Client: c, Window: 5 * time.Second}
	// Rates need a few scrapes: wait until every default metric answers.
	var samples []telemetry.Sample
	var errs []error
	for {
		samples, errs = src.Poll(ctx, time.Now())
		have := map[string]bool{}
		for _, s := range samples {
			have[s.Metric] = true
		}
		missing := 0
		for _, q := range DefaultQueries() {
			if !have[q.Metric] {
				missing++
			}
		}
		if missing == 0 && len(errs) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("metrics missing after 90 s: have %v, errors %v", have, errs)
		case <-time.After(time.Second):
		}
	}

	firstOK := time.Now()

	g, _ := hostland.Scan(os.DirFS("/"))
	store := telemetry.NewStore(g, telemetry.DefaultConfig())
	store.Add(samples...)
	joined := map[string]map[string]bool{}
	for _, n := range g.Nodes {
		for _, sv := range store.Series(n.ID) {
			if joined[n.Type] == nil {
				joined[n.Type] = map[string]bool{}
			}
			joined[n.Type][sv.Metric] = true
		}
	}
	// node-exporter's cpu="N" joins every CPU of the landscape, its
	// nodename the machine, its device label the disks and interfaces.
	for _, n := range g.Nodes {
		if n.Type == "thread" && len(store.Series(n.ID)) == 0 {
			t.Errorf("cpu%s has no series from Prometheus", n.Attrs[landscape.KeyCPU])
		}
	}
	if !joined["machine"]["mem_used_pct"] || !joined["machine"]["cpu_busy_pct"] {
		t.Errorf("machine not joined: %v", joined)
	}
	if !joined["nic"]["net_rx_bytes_s"] && !joined["loopback"]["net_rx_bytes_s"] {
		t.Errorf("no interface joined: %v", joined)
	}
	for _, s := range samples {
		if s.Metric == "cpu_busy_pct" && (s.V < -1 || s.V > 101) {
			t.Errorf("%v cpu_busy_pct = %v", s.Key, s.V)
		}
	}
	var un []string
	for _, u := range store.Unjoined() {
		un = append(un, u.Key.Kind+"="+u.Key.Value+" "+u.Metric)
	}
	t.Logf("joined by node type: %v; unjoined: %s", joined, strings.Join(un, ", "))

	// A range query gives the history: several points a second apart
	// since the rates had data.
	time.Sleep(time.Until(firstOK.Add(5 * time.Second)))
	end := time.Now()
	hist, errs := src.History(ctx, firstOK.Add(-time.Second), end, time.Second)
	if len(errs) > 0 {
		t.Fatalf("range queries: %v", errs)
	}
	perSeries := map[string][]int64{}
	for _, s := range hist {
		k := s.Key.Kind + "=" + s.Key.Value + " " + s.Metric
		perSeries[k] = append(perSeries[k], s.T)
	}
	ts := perSeries[landscape.KeyCPU+"=0 cpu_busy_pct"]
	if len(ts) < 3 {
		t.Fatalf("range query: %d points for cpu 0, want several (all: %d series)", len(ts), len(perSeries))
	}
	for i := 1; i < len(ts); i++ {
		if ts[i]-ts[i-1] != 1000 {
			t.Errorf("range points %d and %d are %d ms apart, want 1000", i-1, i, ts[i]-ts[i-1])
		}
	}
	// A bad query gets the server's own message.
	if _, err := c.Instant(ctx, "rate(", time.Now()); err == nil || !strings.Contains(err.Error(), "HTTP 400 bad_data") {
		t.Errorf("bad PromQL: %v", err)
	}
}
