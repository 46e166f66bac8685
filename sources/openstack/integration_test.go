package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"flowscape/landscape"
)

// useTestCloud points the OS_* variables at make testcloud's OpenStack, or
// skips (fails with TESTCLOUD_REQUIRED set) when it is not up.
func useTestCloud(tb testing.TB) {
	tb.Helper()
	vars, err := TestCloud()
	if err != nil {
		if os.Getenv("TESTCLOUD_REQUIRED") != "" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OS_") {
			tb.Setenv(k, "")
		}
	}
	for k, v := range vars {
		tb.Setenv(k, v)
	}
}

// cli runs the openstack command with -f json and decodes its rows.
func cli(tb testing.TB, args ...string) []map[string]any {
	tb.Helper()
	path, err := exec.LookPath("openstack")
	if err != nil {
		tb.Skipf("no openstack command (%v): make testcloud installs python3-openstackclient", err)
	}
	out, err := exec.Command(path, append(args, "-f", "json")...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		tb.Fatalf("openstack %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		tb.Fatalf("openstack %s: %v", strings.Join(args, " "), err)
	}
	return rows
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func idsOfType(g *landscape.Graph, typ string) []string {
	var out []string
	for _, n := range g.Nodes {
		if n.Type == typ {
			out = append(out, n.Attrs[landscape.KeyUUID])
		}
	}
	sort.Strings(out)
	return out
}

func sortedCol(rows []map[string]any, col string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, str(r[col]))
	}
	sort.Strings(out)
	return out
}

// The landscape read from the real cloud holds what the openstack command
// lists: the same servers on the same hosts, ports with the same MACs,
// hypervisors and volumes with the same attachments.
func TestTestCloudMatchesOpenStackCLI(t *testing.T) {
	useTestCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g, rep, err := Load(ctx, Config{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Logf("%d nodes, %d edges; %s", len(g.Nodes), len(g.Edges), rep)
	if err := g.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, want := range []string{"orchestration (Heat): not in the catalog", "load-balancer (Octavia): not in the catalog"} {
		if !slices.Contains(rep.Skipped, want) {
			t.Errorf("skipped %q, want %q among them", rep.Skipped, want)
		}
	}

	servers := cli(t, "server", "list", "--long", "--all-projects")
	if got, want := idsOfType(g, TypeServer), sortedCol(servers, "ID"); !slices.Equal(got, want) {
		t.Errorf("servers %v, openstack server list %v", got, want)
	}
	for _, s := range servers {
		id, host := str(s["ID"]), str(s["Host"])
		n := g.Node(ServerID(id))
		if n == nil {
			continue
		}
		if n.Name != str(s["Name"]) || n.Attrs[AttrHost] != host || n.Attrs[AttrStatus] != str(s["Status"]) {
			t.Errorf("server %s: name %q host %q status %q; CLI says %q %q %q", id, n.Name, n.Attrs[AttrHost], n.Attrs[AttrStatus], s["Name"], host, s["Status"])
		}
		if !slices.Contains(g.Edges, landscape.Edge{Source: ServerID(id), Target: HostID(host), Label: landscape.DeployedOn}) {
			t.Errorf("server %s is not DEPLOYED_ON %s", s["Name"], host)
		}
	}

	ports := cli(t, "port", "list", "--long")
	if got, want := idsOfType(g, TypePort), sortedCol(ports, "ID"); !slices.Equal(got, want) {
		t.Errorf("ports %v, openstack port list %v", got, want)
	}
	for _, p := range ports {
		if n := g.Node(PortID(str(p["ID"]))); n != nil && n.Attrs[landscape.KeyMAC] != strings.ToLower(str(p["MAC Address"])) {
			t.Errorf("port %s: MAC %q, CLI says %q", p["ID"], n.Attrs[landscape.KeyMAC], p["MAC Address"])
		}
	}

	hvs := cli(t, "hypervisor", "list")
	if got, want := idsOfType(g, TypeHypervisor), sortedCol(hvs, "ID"); !slices.Equal(got, want) {
		t.Errorf("hypervisors %v, openstack hypervisor list %v", got, want)
	}
	for _, h := range hvs {
		if n := g.Node(HypervisorID(str(h["ID"]))); n != nil && n.Attrs["hypervisor_hostname"] != str(h["Hypervisor Hostname"]) {
			t.Errorf("hypervisor %s: hostname %q, CLI says %q", h["ID"], n.Attrs["hypervisor_hostname"], h["Hypervisor Hostname"])
		}
	}

	vols := cli(t, "volume", "list", "--long", "--all-projects")
	if got, want := idsOfType(g, TypeVolume), sortedCol(vols, "ID"); !slices.Equal(got, want) {
		t.Errorf("volumes %v, openstack volume list %v", got, want)
	}
	for _, v := range vols {
		id := str(v["ID"])
		var want []string
		if as, ok := v["Attached to"].([]any); ok {
			for _, a := range as {
				if m, ok := a.(map[string]any); ok {
					want = append(want, ServerID(str(m["server_id"])))
				}
			}
		}
		var got []string
		for _, e := range g.EdgesOf(VolumeID(id)) {
			if e.Label == landscape.AttachedTo && e.Source == VolumeID(id) {
				got = append(got, e.Target)
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("volume %s (%s) attached to %v; CLI says %v", v["Name"], id, got, want)
		}
	}

	// What seed.sh made: vm4 on compute-3, vol1 attached to vm1, the
	// router's interface on the private subnet.
	byName := map[string]*landscape.Node{}
	for i := range g.Nodes {
		byName[g.Nodes[i].Type+"/"+g.Nodes[i].Name] = &g.Nodes[i]
	}
	if vm4 := byName["vm/vm4"]; vm4 == nil || vm4.Attrs[AttrHost] != "compute-3" {
		t.Errorf("vm4 = %v, want it on compute-3", vm4)
	}
	if vol1, vm1 := byName["volume/vol1"], byName["vm/vm1"]; vol1 == nil || vm1 == nil ||
		!slices.Contains(g.Edges, landscape.Edge{Source: vol1.ID, Target: vm1.ID, Label: landscape.AttachedTo}) {
		t.Error("vol1 is not attached to vm1")
	}
	if r := byName["router/router1"]; r == nil || len(g.EdgesOf(r.ID)) < 2 {
		t.Error("router1 has no interface and gateway")
	}
}

// A change in the cloud becomes a new version: a network created between
// two collections is added, and removed when deleted.
func TestTestCloudRecordsChanges(t *testing.T) {
	useTestCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cloud, err := Connect(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := landscape.New()
	tm := landscape.Time(1000)
	src := &Source{Land: l, Now: func() landscape.Time { return tm },
		Connect: func(context.Context, Config) (*Cloud, error) { return cloud, nil }}
	if _, _, err := src.CollectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := cloud.Clients()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("flowscape-e2e-%d", time.Now().UnixNano())
	n, err := networks.Create(ctx, cl.Network, networks.CreateOpts{Name: name}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = networks.Delete(context.Background(), cl.Network, n.ID).ExtractErr()
		}
	})
	tm = 2000
	d, _, err := src.CollectOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.AddedNodes, func(x landscape.Node) bool { return x.ID == NetworkID(n.ID) }) {
		t.Errorf("added %v, want network %s", d.AddedNodes, name)
	}
	if err := networks.Delete(ctx, cl.Network, n.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	deleted = true
	tm = 3000
	d, _, err = src.CollectOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.RemovedNodes, func(x landscape.Node) bool { return x.ID == NetworkID(n.ID) }) {
		t.Errorf("removed %v, want network %s", d.RemovedNodes, name)
	}
	if l.At(2500).Node(NetworkID(n.ID)) == nil || l.At(3500).Node(NetworkID(n.ID)) != nil {
		t.Error("the network's history is not [2000, 3000)")
	}
}

// A user without the admin role: the admin-only lists are refused with 403
// and the reading degrades, saying so, instead of failing.
func TestTestCloudNonAdminDegrades(t *testing.T) {
	useTestCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := Connect(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := gopenstack.NewIdentityV3(admin.Provider, admin.eo)
	if err != nil {
		t.Fatal(err)
	}
	first := func(p pagination.Pager, what string) pagination.Page {
		page, err := p.AllPages(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return page
	}
	ps, err := projects.ExtractProjects(first(projects.List(id, projects.ListOpts{Name: "demo"}), "projects"))
	if err != nil || len(ps) != 1 {
		t.Fatalf("project demo: %v %v", ps, err)
	}
	rs, err := roles.ExtractRoles(first(roles.List(id, roles.ListOpts{Name: "member"}), "roles"))
	if err != nil || len(rs) != 1 {
		t.Fatalf("role member: %v %v", rs, err)
	}
	const pw = "Member-pw-7"
	name := fmt.Sprintf("flowscape-member-%d", time.Now().UnixNano())
	u, err := users.Create(ctx, id, users.CreateOpts{Name: name, DomainID: "default", Password: pw, DefaultProjectID: ps[0].ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = users.Delete(context.Background(), id, u.ID).ExtractErr() })
	if err := roles.Assign(ctx, id, rs[0].ID, roles.AssignOpts{UserID: u.ID, ProjectID: ps[0].ID}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_USERNAME", name)
	t.Setenv("OS_PASSWORD", pw)
	t.Setenv("OS_PROJECT_NAME", "demo")
	g, rep, err := Load(ctx, Config{})
	if err != nil {
		t.Fatalf("Load as a member: %v", err)
	}
	t.Logf("as a member: %d nodes; %s", len(g.Nodes), rep)
	if !slices.ContainsFunc(rep.Degraded, func(s string) bool { return strings.HasPrefix(s, "hypervisors: forbidden") }) {
		t.Errorf("degraded %q: want hypervisors forbidden", rep.Degraded)
	}
	if n := g.CountByType()[TypeHypervisor]; n != 0 {
		t.Errorf("%d hypervisors seen by a member", n)
	}
	if err := g.Validate(); err != nil {
		t.Error(err)
	}
}

// A wrong password on the real Keystone: a 401 that does not show it.
func TestTestCloudWrongPassword(t *testing.T) {
	useTestCloud(t)
	const pw = "not-the-Password-42"
	t.Setenv("OS_PASSWORD", pw)
	_, err := Connect(context.Background(), Config{})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Connect = %v, want a 401", err)
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("the error shows the password: %v", err)
	}
}

// BenchmarkTestCloudCollect collects the real cloud; once, it also times
// the openstack command listing servers, ports, networks, volumes and
// hypervisors one after the other, and reports the ratio.
func BenchmarkTestCloudCollect(b *testing.B) {
	useTestCloud(b)
	ctx := context.Background()
	cloud, err := Connect(ctx, Config{})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := cloud.Collect(ctx); err != nil { // warm the clients
		b.Fatal(err)
	}
	var calls int64
	b.ResetTimer()
	for b.Loop() {
		_, rep, err := cloud.Collect(ctx)
		if err != nil {
			b.Fatal(err)
		}
		calls = rep.Calls
	}
	b.StopTimer()
	perCollect := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(calls), "calls/op")
	start := time.Now()
	for _, args := range [][]string{
		{"server", "list", "--long", "--all-projects"}, {"port", "list", "--long"}, {"network", "list", "--long"},
		{"volume", "list", "--long", "--all-projects"}, {"hypervisor", "list", "--long"},
	} {
		cli(b, args...)
	}
	cliSecs := time.Since(start).Seconds()
	b.ReportMetric(cliSecs, "cli-s")
	b.ReportMetric(cliSecs/perCollect, "x-faster-than-cli")
}
