package openstack

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"flowscape/landscape"
)

const (
	vm1   = "9e5476bd-a4ec-4653-93d6-72c93aa682ba"
	vm2   = "8e5476bd-a4ec-4653-93d6-72c93aa682bb"
	vm3   = "7e5476bd-a4ec-4653-93d6-72c93aa682bc"
	hv1   = "1bb62a04-c576-402c-8147-9e89757a09e3"
	vol1  = "88888888-0001-4888-8888-888888888881"
	vol2  = "88888888-0002-4888-8888-888888888882"
	pub   = "11111111-1111-4111-8111-111111111111"
	priv  = "22222222-2222-4222-8222-222222222222"
	psub  = "44444444-4444-4444-8444-444444444444"
	rtr   = "55555555-5555-4555-8555-555555555555"
	pVM1  = "66666666-0001-4666-8666-666666666661"
	pVM2  = "66666666-0002-4666-8666-666666666662"
	pRIf  = "66666666-0004-4666-8666-666666666664"
	pVIP  = "66666666-0006-4666-8666-666666666666"
	fip   = "77777777-7777-4777-8777-777777777777"
	stack = "99999999-9999-4999-8999-999999999999"
	lb    = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	mem   = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
)

func fakeGraph(t *testing.T) *landscape.Graph {
	t.Helper()
	s, _ := collectFake(t, newFakeCloud(t))
	g := Map(s)
	if err := g.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return g
}

func TestMapLayersAndTypes(t *testing.T) {
	g := fakeGraph(t)
	got := g.CountByType()
	want := map[string]int{TypeHost: 2, TypeHypervisor: 2, TypeServer: 3, TypeVolume: 2, TypeNetwork: 2, TypeSubnet: 2,
		TypeRouter: 1, TypePort: 6, TypeFloatingIP: 1, TypeStack: 1, TypeLoadBalancer: 1, TypeMember: 1}
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("%d nodes of type %s, want %d", got[typ], typ, n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("types %v, want exactly %v", got, want)
	}
	layer := map[string]string{TypeHost: landscape.Physical, TypeHypervisor: landscape.Physical, TypeServer: landscape.Virtual,
		TypeVolume: landscape.Virtual, TypePort: landscape.Virtual, TypeNetwork: landscape.Virtual, TypeSubnet: landscape.Virtual,
		TypeRouter: landscape.Virtual, TypeStack: landscape.Service, TypeLoadBalancer: landscape.Service, TypeMember: landscape.Service}
	for _, n := range g.Nodes {
		if want, ok := layer[n.Type]; ok && n.Layer != want {
			t.Errorf("%s (%s) is %s, want %s", n.ID, n.Type, n.Layer, want)
		}
	}
}

func TestMapEdges(t *testing.T) {
	g := fakeGraph(t)
	for _, e := range []landscape.Edge{
		{Source: ServerID(vm1), Target: HostID("compute-1"), Label: landscape.DeployedOn},
		{Source: ServerID(vm3), Target: HostID("compute-2"), Label: landscape.DeployedOn},
		{Source: HostID("compute-1"), Target: HypervisorID(hv1), Label: landscape.Contains},
		{Source: VolumeID(vol1), Target: ServerID(vm1), Label: landscape.AttachedTo},
		{Source: ServerID(vm1), Target: PortID(pVM1), Label: landscape.Requires},
		{Source: PortID(pVM1), Target: NetworkID(priv), Label: landscape.Requires},
		{Source: PortID(pVM1), Target: SubnetID(psub), Label: landscape.Requires},
		{Source: PortID(pVM1), Target: HostID("compute-1"), Label: landscape.DeployedOn},
		{Source: NetworkID(priv), Target: SubnetID(psub), Label: landscape.Contains},
		{Source: PortID(pRIf), Target: RouterID(rtr), Label: landscape.AttachedTo},
		{Source: RouterID(rtr), Target: NetworkID(pub), Label: landscape.Requires},
		{Source: idFloatingIP + fip, Target: PortID(pVM1), Label: landscape.Requires},
		{Source: idStack + stack, Target: ServerID(vm3), Label: landscape.RunsOn},
		{Source: idLB + lb, Target: PortID(pVIP), Label: landscape.Requires},
		{Source: idLB + lb, Target: idMember + mem, Label: landscape.RunsOn},
		{Source: idMember + mem, Target: PortID(pVM2), Label: landscape.RunsOn},
	} {
		if !slices.Contains(g.Edges, e) {
			t.Errorf("missing edge %s", e)
		}
	}
	for _, e := range g.EdgesOf(VolumeID(vol2)) {
		t.Errorf("the unattached volume has edge %s", e)
	}
	// The stack's WaitCondition has no physical resource: no edge for it.
	if n := len(g.EdgesOf(idStack + stack)); n != 2 {
		t.Errorf("stack has %d edges, want 2 (server and port)", n)
	}
}

func TestMapAttributesAndJoinKeys(t *testing.T) {
	g := fakeGraph(t)
	for _, tc := range []struct {
		key  landscape.JoinKey
		want string
	}{
		{landscape.JoinKey{Kind: landscape.KeyHostname, Value: "compute-1"}, HostID("compute-1")},
		{landscape.JoinKey{Kind: landscape.KeyHostname, Value: "compute-1.example.org"}, HypervisorID(hv1)},
		{landscape.JoinKey{Kind: landscape.KeyUUID, Value: vm1}, ServerID(vm1)},
		{landscape.JoinKey{Kind: landscape.KeyMAC, Value: "fa:16:3e:00:00:01"}, PortID(pVM1)}, // upper case in the API
		{landscape.JoinKey{Kind: landscape.KeyDevice, Value: "tap66666666-00"}, ""},           // several ports share the prefix
	} {
		got := g.Lookup(tc.key)
		if tc.want == "" {
			if len(got) < 2 {
				t.Errorf("Lookup(%v) = %v, want several", tc.key, got)
			}
			continue
		}
		if !slices.Equal(got, []string{tc.want}) {
			t.Errorf("Lookup(%v) = %v, want [%s]", tc.key, got, tc.want)
		}
	}
	// When the hypervisor is named as its host, the name finds the host only.
	s, _ := collectFake(t, newFakeCloud(t))
	s.Hypervisors[0].HypervisorHostname = "compute-1"
	if got := Map(s).Lookup(landscape.JoinKey{Kind: landscape.KeyHostname, Value: "compute-1"}); !slices.Equal(got, []string{HostID("compute-1")}) {
		t.Errorf("hostname compute-1 finds %v, want the host only", got)
	}
	if n := g.Node(HypervisorID(hv1)); n.Name != "fake hypervisor compute-1.example.org" {
		t.Errorf("hypervisor named %q", n.Name)
	}
	vm := g.Node(ServerID(vm1))
	for k, want := range map[string]string{AttrInstanceName: "instance-00000001", "flavor": "m1.tiny", AttrHost: "compute-1", "availability_zone": "az1"} {
		if vm.Attrs[k] != want {
			t.Errorf("vm1 %s = %q, want %q", k, vm.Attrs[k], want)
		}
	}
	host := g.Node(HostID("compute-1"))
	if host.Attrs["availability_zone"] != "az1" || host.Attrs["aggregates"] != "agg-az1,agg-ssd" {
		t.Errorf("compute-1 attrs %v, want az1 and agg-az1,agg-ssd", host.Attrs)
	}
	hv := g.Node(HypervisorID(hv1))
	if got := hv.Attrs["capacity.VCPU"]; got != "1 of 4 (×16.0, 0 reserved)" {
		t.Errorf("hypervisor VCPU capacity %q", got)
	}
	if got := g.Node(VolumeID(vol1)).Attrs["devices"]; got != "/dev/vdb" {
		t.Errorf("vol1 devices %q, want /dev/vdb", got)
	}
}

func TestMapEmptySnapshot(t *testing.T) {
	g := Map(&Snapshot{})
	if len(g.Nodes) != 0 || len(g.Edges) != 0 || g.Validate() != nil {
		t.Errorf("empty snapshot gave %d nodes, %d edges", len(g.Nodes), len(g.Edges))
	}
}

// A server whose host is not among the hypervisors (hypervisors hidden)
// still gets its host; a volume attached to a server not listed gets no
// dangling edge.
func TestMapPartialViews(t *testing.T) {
	s, _ := collectFake(t, newFakeCloud(t))
	s.Hypervisors = nil
	s.Servers = s.Servers[:1]
	g := Map(s)
	if err := g.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if g.Node(HostID("compute-1")) == nil {
		t.Error("no host for vm1 without hypervisors")
	}
	if g.Node(ServerID(vm2)) != nil {
		t.Error("vm2 is shown though not listed")
	}
}

// Re-collection records versions; a failed collection keeps the last good
// landscape.
func TestSourceRecordsVersionsAndKeepsLastGood(t *testing.T) {
	f := newFakeCloud(t)
	f.useEnv(t, fakePassword)
	l := landscape.New()
	var now atomic.Int64
	now.Store(1000)
	var errs []error
	var reports []Report
	src := &Source{Land: l, Now: func() landscape.Time { return landscape.Time(now.Load()) },
		OnCollect: func(_ landscape.Diff, r Report) { reports = append(reports, r) },
		OnError:   func(err error, _ Report) { errs = append(errs, err) }}
	ctx := context.Background()
	if _, _, err := src.CollectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// vm2 is deleted: the second page of servers is empty of it.
	f.handle("/compute/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(filepath.Join("testdata", "api", "servers_2.json"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	now.Store(2000)
	d, _, err := src.CollectOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, n := range d.RemovedNodes {
		removed = append(removed, n.ID)
	}
	if !slices.Contains(removed, ServerID(vm1)) || !slices.Contains(removed, ServerID(vm2)) {
		t.Errorf("removed %v, want vm1 and vm2", removed)
	}
	if l.At(1500).Node(ServerID(vm2)) == nil || l.At(2500).Node(ServerID(vm2)) != nil {
		t.Error("vm2 should be in the landscape at 1500 and gone at 2500")
	}
	// The cloud goes away: nothing is recorded, the error is reported.
	f.handle("/network/v2.0/networks", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
	})
	now.Store(3000)
	if _, _, err := src.CollectOnce(ctx); err == nil {
		t.Fatal("CollectOnce: want the 503")
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "networks") {
		t.Errorf("errors reported %v, want the networks failure", errs)
	}
	if got := l.At(3500); got.Node(ServerID(vm3)) == nil || got.Node(NetworkID(priv)) == nil {
		t.Error("the last good landscape is gone after a failed collection")
	}
	if times := l.Times(); len(times) != 2 {
		t.Errorf("times %v, want 2 versions", times)
	}
	if len(reports) != 2 {
		t.Errorf("%d reports, want 2", len(reports))
	}
}

func TestSourceConnectErrorKeepsTrying(t *testing.T) {
	clearOSEnv(t)
	var n int
	src := &Source{Land: landscape.New(), Connect: func(context.Context, Config) (*Cloud, error) {
		n++
		return nil, errors.New("connection refused")
	}}
	for range 2 {
		if _, _, err := src.CollectOnce(context.Background()); err == nil {
			t.Fatal("want the connect error")
		}
	}
	if n != 2 {
		t.Errorf("connected %d times, want a new try each collection", n)
	}
}
