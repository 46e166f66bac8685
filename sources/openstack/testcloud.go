package openstack

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TestCloudDir is where make testcloud keeps its OpenStack's state:
// $TESTCLOUD_DIR, or /tmp/flowscape-testcloud.
func TestCloudDir() string {
	if d := os.Getenv("TESTCLOUD_DIR"); d != "" {
		return d
	}
	return "/tmp/flowscape-testcloud"
}

// TestCloud returns the OS_* variables of the OpenStack make testcloud
// runs on 127.0.0.1, or why it cannot be used.
func TestCloud() (map[string]string, error) {
	dir := TestCloudDir()
	if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
		return nil, fmt.Errorf("the test OpenStack is not up (no %s): run make testcloud", filepath.Join(dir, "ready"))
	}
	rc, err := os.ReadFile(filepath.Join(dir, "openrc"))
	if err != nil {
		return nil, fmt.Errorf("the test OpenStack has no credentials: %w; run make testcloud", err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(rc))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "), "=")
		if ok && strings.HasPrefix(k, "OS_") {
			vars[k] = strings.Trim(v, `"'`)
		}
	}
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(vars["OS_AUTH_URL"])
	if err != nil {
		return nil, fmt.Errorf("the test OpenStack does not answer at %s (%v): run make testcloud", vars["OS_AUTH_URL"], err)
	}
	resp.Body.Close()
	return vars, nil
}
