package openstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"flowscape/landscape"
)

func connectEnv(t *testing.T, f *fakeCloud, cfg Config) *Cloud {
	t.Helper()
	f.useEnv(t, fakePassword)
	c, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func collectFake(t *testing.T, f *fakeCloud) (*Snapshot, Report) {
	t.Helper()
	c := connectEnv(t, f, Config{})
	s, rep, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return s, rep
}

func TestCollectReadsEveryPage(t *testing.T) {
	f := newFakeCloud(t)
	s, rep := collectFake(t, f)
	var got []string
	for _, sv := range s.Servers {
		got = append(got, sv.Name+"@"+sv.Host)
	}
	if want := []string{"vm1@compute-1", "vm2@compute-1", "vm3@compute-2"}; !slices.Equal(got, want) {
		t.Errorf("servers over two pages = %v, want %v", got, want)
	}
	if len(s.Hypervisors) != 2 || len(s.Ports) != 6 {
		t.Errorf("got %d hypervisors and %d ports over two pages each, want 2 and 6", len(s.Hypervisors), len(s.Ports))
	}
	for what, n := range map[string]int{"flavors": len(s.Flavors), "zones": len(s.Zones), "aggregates": len(s.Aggregates),
		"providers": len(s.Providers), "networks": len(s.Networks), "subnets": len(s.Subnets), "routers": len(s.Routers),
		"security groups": len(s.SecGroups), "floating IPs": len(s.FloatingIPs), "volumes": len(s.Volumes),
		"stacks": len(s.Stacks), "load balancers": len(s.LoadBalancers)} {
		if n == 0 {
			t.Errorf("no %s collected", what)
		}
	}
	if p := s.Providers[0]; p.Inventories["VCPU"].Total != 4 || p.Usages["VCPU"] != 1 {
		t.Errorf("provider %s: VCPU inventory %d used %d, want 4 and 1", p.Name, p.Inventories["VCPU"].Total, p.Usages["VCPU"])
	}
	if len(s.Stacks[0].Resources) != 3 || len(s.LoadBalancers[0].Members) != 1 {
		t.Errorf("stack resources %d, lb members %d; want 3 and 1", len(s.Stacks[0].Resources), len(s.LoadBalancers[0].Members))
	}
	if len(rep.Skipped) != 0 || len(rep.Degraded) != 0 {
		t.Errorf("report %s: want nothing skipped or degraded", rep)
	}
	// 1 auth, 3 version documents, 2+2+2 paged lists, 3+2 compute,
	// 1+4 placement, 4 network, 1 volume, 2 heat, 2 octavia.
	if rep.Calls != 27 {
		t.Errorf("%d API calls, want 27", rep.Calls)
	}
}

func TestCollectSetsMicroversions(t *testing.T) {
	f := newFakeCloud(t)
	collectFake(t, f)
	for path, want := range map[string]string{
		"/compute/v2.1/servers/detail":  "compute " + ComputeMicroversion,
		"/placement/resource_providers": "placement " + PlacementMicroversion,
	} {
		if got := f.lastHeaders(path).Get("OpenStack-API-Version"); got != want {
			t.Errorf("%s: OpenStack-API-Version %q, want %q", path, got, want)
		}
	}
}

func TestCollectSkipsServicesNotInCatalog(t *testing.T) {
	f := newFakeCloud(t, "compute", "network")
	s, rep := collectFake(t, f)
	if len(s.Servers) != 3 || len(s.Volumes) != 0 {
		t.Errorf("servers %d volumes %d, want 3 and 0", len(s.Servers), len(s.Volumes))
	}
	want := []string{"placement: not in the catalog", "block-storage (Cinder): not in the catalog",
		"orchestration (Heat): not in the catalog", "load-balancer (Octavia): not in the catalog"}
	if !slices.Equal(rep.Skipped, want) {
		t.Errorf("skipped %q, want %q", rep.Skipped, want)
	}
	if !strings.Contains(rep.String(), "skipped placement: not in the catalog") {
		t.Errorf("report %q does not say what was skipped", rep)
	}
}

func TestCollectDegradesOnForbiddenHypervisors(t *testing.T) {
	f := newFakeCloud(t)
	f.handle("/compute/v2.1/os-hypervisors/detail", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-hypervisors:list-detail to be performed."}}`)
	})
	s, rep := collectFake(t, f)
	if len(s.Hypervisors) != 0 || len(rep.Degraded) != 1 || !strings.Contains(rep.Degraded[0], "hypervisors: forbidden") {
		t.Fatalf("hypervisors %d, degraded %q; want none and a note", len(s.Hypervisors), rep.Degraded)
	}
	g := Map(s)
	if g.Node(HostID("compute-1")) == nil || g.Node(HostID("compute-2")) == nil {
		t.Errorf("hosts are not known from the servers without hypervisors")
	}
}

func TestCollectFailsOnServerError(t *testing.T) {
	f := newFakeCloud(t)
	f.handle("/network/v2.0/ports", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"NeutronError": {"type": "HTTPInternalServerError", "message": "Request Failed: internal server error while processing your request.", "detail": ""}}`, http.StatusInternalServerError)
	})
	c := connectEnv(t, f, Config{})
	_, _, err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listing ports") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Collect = %v, want an error naming ports and the 500", err)
	}
}

func TestCollectTimesOutOnHangingEndpoint(t *testing.T) {
	f := newFakeCloud(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.handle("/volume/v3/"+fakeProject+"/volumes/detail", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := connectEnv(t, f, Config{Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, _, err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "volumes") || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("Collect = %v, want a timeout on volumes", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a hanging endpoint held the collection for %v", took)
	}
}

func TestCollectStopsPaginationLoop(t *testing.T) {
	f := newFakeCloud(t)
	f.handle("/network/v2.0/networks", func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(filepath.Join("testdata", "api", "networks.json"))
		s := strings.Replace(string(b), `"networks": [`, `"networks_links": [{"href": "`+f.base()+`network/v2.0/networks?limit=2&marker=22222222-2222-4222-8222-222222222222", "rel": "next"}], "networks": [`, 1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, s)
	})
	c := connectEnv(t, f, Config{})
	_, _, err := c.Collect(context.Background())
	if !errors.Is(err, ErrPaginationLoop) || !strings.Contains(err.Error(), "networks") {
		t.Fatalf("Collect = %v, want a pagination loop on networks", err)
	}
}

func TestCollectReauthenticatesWhenTokenExpires(t *testing.T) {
	f := newFakeCloud(t)
	c := connectEnv(t, f, Config{})
	f.expireToken()
	s, _, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect after the token expired: %v", err)
	}
	if len(s.Servers) != 3 {
		t.Errorf("%d servers after re-authentication, want 3", len(s.Servers))
	}
	if n := f.tokens.Load(); n < 2 {
		t.Errorf("%d tokens issued, want a second one after expiry", n)
	}
}

func TestCollectDropsProviderDeletedAfterListing(t *testing.T) {
	f := newFakeCloud(t)
	f.handle("/placement/resource_providers/2bb62a04-c576-402c-8147-9e89757a09e4/inventories", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors": [{"status": 404, "title": "Not Found", "detail": "No resource provider with uuid 2bb62a04-c576-402c-8147-9e89757a09e4 found"}]}`)
	})
	s, _ := collectFake(t, f)
	if len(s.Providers) != 1 || s.Providers[0].Name != "compute-1.example.org" {
		t.Errorf("providers %v, want only compute-1's", s.Providers)
	}
}

func TestConnectWrongPassword(t *testing.T) {
	f := newFakeCloud(t)
	f.useEnv(t, "wrong-"+fakePassword)
	_, err := Connect(context.Background(), Config{})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "wrong user name, password or project") {
		t.Fatalf("Connect = %v, want a 401 that says what to check", err)
	}
	if strings.Contains(err.Error(), fakePassword) {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestConnectFromCloudsYAML(t *testing.T) {
	for _, via := range []string{"flag", "OS_CLOUD"} {
		t.Run(via, func(t *testing.T) {
			f := newFakeCloud(t)
			f.cloudsYAML(t, "mycloud", fakePassword)
			cfg := Config{Cloud: "mycloud"}
			if via == "OS_CLOUD" {
				t.Setenv("OS_CLOUD", "mycloud")
				cfg = Config{}
			}
			c, err := Connect(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if c.Name != "mycloud" || c.Region != "RegionOne" {
				t.Errorf("cloud %q region %q, want mycloud and RegionOne", c.Name, c.Region)
			}
		})
	}
}

func TestConnectUnknownCloudNamesFile(t *testing.T) {
	f := newFakeCloud(t)
	path := f.cloudsYAML(t, "mycloud", fakePassword)
	_, err := Connect(context.Background(), Config{Cloud: "other"})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("Connect = %v, want the cloud and the file named", err)
	}
}

func TestConnectMalformedCloudsYAML(t *testing.T) {
	clearOSEnv(t)
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	bad := "clouds:\n  mycloud:\n    auth:\n      auth_url: http://x\n     password: [unclosed\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", path)
	_, err := Connect(context.Background(), Config{Cloud: "mycloud"})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line") {
		t.Fatalf("Connect = %v, want the file and the line", err)
	}
}

func TestConnectNothingConfigured(t *testing.T) {
	clearOSEnv(t)
	_, err := Connect(context.Background(), Config{})
	if err == nil || !strings.Contains(err.Error(), "--os-cloud") || !strings.Contains(err.Error(), "OS_AUTH_URL") {
		t.Fatalf("Connect = %v, want what to configure", err)
	}
}

// Secrets must not appear in errors, reports or the exported landscape,
// even when a server echoes them back.
func TestSecretsNeverShown(t *testing.T) {
	f := newFakeCloud(t)
	c := connectEnv(t, f, Config{})
	tok := c.Provider.Token()
	f.handle("/network/v2.0/routers", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "debug: token "+r.Header.Get("X-Auth-Token")+" password "+fakePassword, http.StatusInternalServerError)
	})
	_, rep, err := c.Collect(context.Background())
	if err == nil {
		t.Fatal("Collect: want the routers error")
	}
	for _, text := range []string{err.Error(), rep.String(), fmt.Sprintf("%+v", err)} {
		if strings.Contains(text, tok) || strings.Contains(text, fakePassword) {
			t.Errorf("a secret shows in %q", text)
		}
	}
	if !strings.Contains(err.Error(), "***") {
		t.Errorf("error %q: want the secrets replaced by ***", err)
	}
	f.handle("/network/v2.0/routers", nil)
	s, _, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := landscape.Write(&buf, landscape.FormatFlowscape, landscape.FromGraph(Map(s), 1)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), c.Provider.Token()) || strings.Contains(buf.String(), fakePassword) {
		t.Errorf("the exported landscape holds a secret")
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"token abcdef in text", "token *** in text"},
		{"nothing here", "nothing here"},
		{"abcdef abcdef", "*** ***"},
	} {
		if got := Redact(tc.in, "abcdef", "", "ab"); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
