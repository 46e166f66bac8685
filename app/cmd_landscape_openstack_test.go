package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"flowscape/sources/openstack"
)

// hideOSEnv keeps the machine's OS_* variables and clouds.yaml out of a test.
func hideOSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OS_") {
			t.Setenv(k, "")
		}
	}
	t.Setenv("HOME", t.TempDir())
}

func TestLandscapeCommandOSCloudNeedsOpenStackSource(t *testing.T) {
	code, _, errs := runLandscape(t, "--os-cloud", "mycloud")
	if code != 2 || !strings.Contains(errs, "--os-cloud needs --source openstack") {
		t.Errorf("exit %d, stderr %q; want 2 and what is missing", code, errs)
	}
}

func TestLandscapeCommandOpenStackNotConfigured(t *testing.T) {
	hideOSEnv(t)
	code, _, errs := runLandscape(t, "--source", "openstack")
	if code != 1 || !strings.Contains(errs, "--os-cloud") || !strings.Contains(errs, "OS_AUTH_URL") {
		t.Errorf("exit %d, stderr %q; want 1 and how to configure a cloud", code, errs)
	}
}

func TestLandscapeCommandOpenStackWrongPassword(t *testing.T) {
	hideOSEnv(t)
	const password = "Wr0ng-but-secret-password"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}`)
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	yaml := fmt.Sprintf("clouds:\n  lab:\n    auth:\n      auth_url: %s/v3\n      username: admin\n      password: %s\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n", srv.URL, password)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", path)
	code, out, errs := runLandscape(t, "--source", "openstack", "--os-cloud", "lab")
	if code != 1 || !strings.Contains(errs, "cloud lab") || !strings.Contains(errs, "401") {
		t.Errorf("exit %d, stderr %q; want 1 naming the cloud and the 401", code, errs)
	}
	if strings.Contains(errs+out, password) {
		t.Errorf("the password shows: %q", errs)
	}
}

// useTestCloud points the OS_* variables at make testcloud's OpenStack,
// or skips (fails with TESTCLOUD_REQUIRED set) when it is not up.
func useTestCloud(t *testing.T) {
	t.Helper()
	vars, err := openstack.TestCloud()
	if err != nil {
		if os.Getenv("TESTCLOUD_REQUIRED") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	hideOSEnv(t)
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// With the test cloud up (make testcloud), the command reads it.
func TestLandscapeCommandOpenStackTestCloud(t *testing.T) {
	useTestCloud(t)
	code, out, errs := runLandscape(t, "--source", "openstack", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc landscapeJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, n := range doc.Nodes {
		types[n.Type]++
	}
	if types["machine"] == 0 || types["vm"] == 0 || types["network"] == 0 {
		t.Errorf("types %v: want hosts, VMs and networks", types)
	}
	if pw := os.Getenv("OS_PASSWORD"); pw != "" && strings.Contains(out, pw) {
		t.Error("the export holds the password")
	}
}
