package openstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	th "github.com/gophercloud/gophercloud/v2/testhelper"
)

// The fake cloud's credentials. The password and tokens are distinctive
// so that a test can look for them in any text.
const (
	fakeUser     = "admin"
	fakePassword = "s3cret-Pa55word-never-shown"
	fakeProject  = "0c4e939acacf4376bdcd1129f1a054ad"
)

// fakeCloud is Keystone and the services of a small cloud on one
// gophercloud test server, answering with the API reference's JSON in
// testdata/api. Handlers branch on marker for paging.
type fakeCloud struct {
	t        testing.TB
	srv      th.FakeServer
	services map[string]bool // catalog types present
	tokens   atomic.Int64    // tokens issued
	valid    atomic.Value    // the token the services accept
	mu       sync.Mutex
	override map[string]http.HandlerFunc // by path, instead of the fixture
	headers  map[string]http.Header      // the last request's headers, by path
}

var allServices = []string{"compute", "placement", "network", "block-storage", "orchestration", "load-balancer"}

func newFakeCloud(t testing.TB, services ...string) *fakeCloud {
	t.Helper()
	if services == nil {
		services = allServices
	}
	f := &fakeCloud{t: t, srv: th.SetupHTTP(), services: map[string]bool{},
		override: map[string]http.HandlerFunc{}, headers: map[string]http.Header{}}
	t.Cleanup(f.srv.Teardown)
	for _, s := range services {
		f.services[s] = true
	}
	f.valid.Store("")
	f.srv.Mux.HandleFunc("/identity/v3/auth/tokens", f.auth)
	f.srv.Mux.HandleFunc("/", f.serve)
	return f
}

func (f *fakeCloud) base() string    { return f.srv.Endpoint() }
func (f *fakeCloud) authURL() string { return f.base() + "identity/v3" }
func (f *fakeCloud) token(n int64) string {
	return fmt.Sprintf("gAAAAA-fake-token-%04d-never-shown", n)
}

// handle replaces what path answers.
func (f *fakeCloud) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	f.override[path] = h
	f.mu.Unlock()
}

func (f *fakeCloud) lastHeaders(path string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[path]
}

// expireToken makes the services refuse the current token (as when it
// expires mid-collection) until a new one is issued.
func (f *fakeCloud) expireToken() { f.valid.Store("expired") }

func (f *fakeCloud) auth(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad auth request", http.StatusBadRequest)
		return
	}
	u := req.Auth.Identity.Password.User
	if u.Name != fakeUser || u.Password != fakePassword {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}`)
		return
	}
	tok := f.token(f.tokens.Add(1))
	f.valid.Store(tok)
	type ep struct {
		Interface string `json:"interface"`
		Region    string `json:"region"`
		RegionID  string `json:"region_id"`
		URL       string `json:"url"`
		ID        string `json:"id"`
	}
	type svc struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		ID        string `json:"id"`
		Endpoints []ep   `json:"endpoints"`
	}
	urls := map[string]string{
		"identity":      "identity/v3",
		"compute":       "compute/v2.1",
		"placement":     "placement",
		"network":       "network",
		"block-storage": "volume/v3/" + fakeProject,
		"orchestration": "orchestration/v1/" + fakeProject,
		"load-balancer": "lb",
	}
	cat := []svc{}
	for i, s := range append([]string{"identity"}, allServices...) {
		if s != "identity" && !f.services[s] {
			continue
		}
		cat = append(cat, svc{Type: s, Name: s, ID: fmt.Sprint(i), Endpoints: []ep{
			{Interface: "public", Region: "RegionOne", RegionID: "RegionOne", URL: f.base() + urls[s], ID: fmt.Sprint(i, "p")},
		}})
	}
	body := map[string]any{"token": map[string]any{
		"methods":    []string{"password"},
		"expires_at": "2099-01-01T00:00:00.000000Z",
		"issued_at":  "2026-01-01T00:00:00.000000Z",
		"user":       map[string]any{"id": "u1", "name": fakeUser, "domain": map[string]string{"id": "default", "name": "Default"}},
		"project":    map[string]any{"id": fakeProject, "name": "admin", "domain": map[string]string{"id": "default", "name": "Default"}},
		"catalog":    cat,
		"roles":      []map[string]string{{"id": "r1", "name": "admin"}},
	}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Subject-Token", tok)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(body)
}

// routes maps a request (path and marker) to a fixture file.
func (f *fakeCloud) fixture(r *http.Request) string {
	p := r.URL.Path
	marker := r.URL.Query().Get("marker")
	proj := "/" + fakeProject
	switch p {
	case "/compute/v2.1/os-hypervisors/detail":
		if marker != "" {
			return "hypervisors_2.json"
		}
		return "hypervisors.json"
	case "/compute/v2.1/servers/detail":
		if marker != "" {
			return "servers_2.json"
		}
		return "servers.json"
	case "/compute/v2.1/flavors/detail":
		return "flavors.json"
	case "/compute/v2.1/os-availability-zone/detail":
		return "availability_zones.json"
	case "/compute/v2.1/os-aggregates":
		return "aggregates.json"
	case "/placement/resource_providers":
		return "resource_providers.json"
	case "/network/":
		return "versions_network.json"
	case "/placement/":
		return "versions_placement.json"
	case "/lb/":
		return "versions_lb.json"
	case "/network/v2.0/networks":
		return "networks.json"
	case "/network/v2.0/subnets":
		return "subnets.json"
	case "/network/v2.0/routers":
		return "routers.json"
	case "/network/v2.0/ports":
		if marker != "" {
			return "ports_2.json"
		}
		return "ports.json"
	case "/network/v2.0/security-groups":
		return "security_groups.json"
	case "/network/v2.0/floatingips":
		return "floatingips.json"
	case "/volume/v3" + proj + "/volumes/detail":
		return "volumes.json"
	case "/orchestration/v1" + proj + "/stacks":
		return "stacks.json"
	case "/orchestration/v1" + proj + "/stacks/web/99999999-9999-4999-8999-999999999999/resources":
		return "stack_resources.json"
	case "/lb/v2.0/lbaas/loadbalancers":
		return "loadbalancers.json"
	case "/lb/v2.0/lbaas/pools/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/members":
		return "members.json"
	}
	switch {
	case strings.HasPrefix(p, "/placement/resource_providers/") && strings.HasSuffix(p, "/inventories"):
		return "inventories.json"
	case strings.HasPrefix(p, "/placement/resource_providers/") && strings.HasSuffix(p, "/usages"):
		return "usages.json"
	}
	return ""
}

func (f *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	if tok := r.Header.Get("X-Auth-Token"); tok == "" || tok != f.valid.Load().(string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error": {"message": "The request you have made requires authentication.", "code": 401, "title": "Unauthorized"}}`)
		return
	}
	f.mu.Lock()
	f.headers[r.URL.Path] = r.Header.Clone()
	h := f.override[r.URL.Path]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	name := f.fixture(r)
	if name == "" {
		http.Error(w, `{"itemNotFound": {"code": 404, "message": "no fixture"}}`, http.StatusNotFound)
		return
	}
	b, err := os.ReadFile(filepath.Join("testdata", "api", name))
	if err != nil {
		f.t.Errorf("fixture: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(strings.ReplaceAll(string(b), "%BASE%", f.base())))
}

// clearOSEnv hides the OS_* variables and clouds.yaml files of the
// machine running the tests.
func clearOSEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OS_") {
			t.Setenv(k, "")
		}
	}
	t.Setenv("HOME", t.TempDir())
}

// useEnv points the OS_* variables at the fake cloud.
func (f *fakeCloud) useEnv(t testing.TB, password string) {
	t.Helper()
	clearOSEnv(t)
	for k, v := range map[string]string{
		"OS_AUTH_URL": f.authURL(), "OS_USERNAME": fakeUser, "OS_PASSWORD": password,
		"OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
		"OS_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3",
	} {
		t.Setenv(k, v)
	}
}

// cloudsYAML writes a clouds.yaml with an entry for the fake cloud and
// points OS_CLIENT_CONFIG_FILE at it.
func (f *fakeCloud) cloudsYAML(t *testing.T, name, password string) string {
	t.Helper()
	clearOSEnv(t)
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	yaml := fmt.Sprintf(`clouds:
  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
`, name, f.authURL(), fakeUser, password)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", path)
	return path
}
