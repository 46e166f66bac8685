package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// generated serves n servers (and a port for each) in pages of Limit,
// cloned from the API reference's server and port, spread over 50 hosts.
func generated(tb testing.TB, f *fakeCloud, n int) {
	tb.Helper()
	load := func(name, key string) map[string]any {
		b, err := os.ReadFile(filepath.Join("testdata", "api", name))
		if err != nil {
			tb.Fatal(err)
		}
		var doc map[string][]map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			tb.Fatal(err)
		}
		return doc[key][0]
	}
	server, port := load("servers.json", "servers"), load("ports.json", "ports")
	page := func(w http.ResponseWriter, r *http.Request, key, path string, item func(i int) map[string]any) {
		start := 0
		if m := r.URL.Query().Get("marker"); m != "" {
			start, _ = strconv.Atoi(m[len(m)-8:])
			start++
		}
		end := min(start+Limit, n)
		items := make([]map[string]any, 0, end-start)
		for i := start; i < end; i++ {
			items = append(items, item(i))
		}
		doc := map[string]any{key: items}
		if end < n {
			doc[key+"_links"] = []map[string]string{{"rel": "next",
				"href": fmt.Sprintf("%s%s?limit=%d&marker=%s", f.base(), path, Limit, items[len(items)-1]["id"])}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}
	id := func(prefix string, i int) string { return fmt.Sprintf("%s-0000-4000-8000-0000%08d", prefix, i) }
	f.handle("/compute/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		page(w, r, "servers", "compute/v2.1/servers/detail", func(i int) map[string]any {
			s := make(map[string]any, len(server))
			for k, v := range server {
				s[k] = v
			}
			s["id"], s["name"] = id("5e000000", i), fmt.Sprintf("vm%d", i)
			s["OS-EXT-SRV-ATTR:host"] = fmt.Sprintf("compute-%d", i%50)
			return s
		})
	})
	f.handle("/network/v2.0/ports", func(w http.ResponseWriter, r *http.Request) {
		page(w, r, "ports", "network/v2.0/ports", func(i int) map[string]any {
			p := make(map[string]any, len(port))
			for k, v := range port {
				p[k] = v
			}
			p["id"], p["device_id"] = id("90000000", i), id("5e000000", i)
			p["mac_address"] = fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
			p["binding:host_id"] = fmt.Sprintf("compute-%d", i%50)
			return p
		})
	})
}

// BenchmarkCollect2000Servers collects a generated cloud of 2 000 servers
// and 2 000 ports from gophercloud's test server and maps it.
func BenchmarkCollect2000Servers(b *testing.B) {
	f := newFakeCloud(b)
	generated(b, f, 2000)
	f.useEnv(b, fakePassword)
	cloud, err := Connect(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	var nodes int
	var calls int64
	for b.Loop() {
		s, rep, err := cloud.Collect(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		nodes, calls = len(Map(s).Nodes), rep.Calls
	}
	b.ReportMetric(float64(nodes), "nodes")
	b.ReportMetric(float64(calls), "calls/op")
}

// The generated cloud is read whole: every server and port over the pages.
func TestCollectGeneratedCloud(t *testing.T) {
	f := newFakeCloud(t)
	generated(t, f, 510)
	s, rep := collectFake(t, f)
	if len(s.Servers) != 510 || len(s.Ports) != 510 {
		t.Fatalf("%d servers, %d ports; want 510 each", len(s.Servers), len(s.Ports))
	}
	g := Map(s)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := g.CountByType()[TypeHost]; n != 50 {
		t.Errorf("%d hosts, want 50", n)
	}
	// 2 pages each of servers and ports at 500 a page.
	if rep.Calls != 27 {
		t.Errorf("%d calls, want 27", rep.Calls)
	}
}
