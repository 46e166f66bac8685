package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/aggregates"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/availabilityzones"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsbinding"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/openstack/orchestration/v1/stackresources"
	"github.com/gophercloud/gophercloud/v2/openstack/orchestration/v1/stacks"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// Microversions the collectors ask for. Compute 2.53 gives hypervisors
// UUIDs and servers their flavor inline (2.47); Placement 1.14 gives
// providers their parent and root.
const (
	ComputeMicroversion   = "2.53"
	PlacementMicroversion = "1.14"
)

// Services are the catalog entries the collectors use, by what they are
// called in the UI.
var Services = []string{"compute (Nova)", "placement", "network (Neutron)", "block-storage (Cinder)", "orchestration (Heat)", "load-balancer (Octavia)"}

// Network is a Neutron network with its external flag.
type Network struct {
	networks.Network
	external.NetworkExternalExt
}

// Port is a Neutron port with its binding.
type Port struct {
	ports.Port
	portsbinding.PortsBindingExt
}

// Provider is a Placement resource provider with its inventories and
// usages by resource class.
type Provider struct {
	resourceproviders.ResourceProvider
	Inventories map[string]resourceproviders.Inventory
	Usages      map[string]int
}

// Stack is a Heat stack with its resources.
type Stack struct {
	stacks.ListedStack
	Resources []stackresources.Resource
}

// LoadBalancer is an Octavia load balancer with the members of its pools.
type LoadBalancer struct {
	loadbalancers.LoadBalancer
	Members []pools.Member
}

// Snapshot is everything read from a cloud in one collection.
type Snapshot struct {
	Cloud         string // the cloud's name
	Hypervisors   []hypervisors.Hypervisor
	Servers       []servers.Server
	Flavors       []flavors.Flavor
	Zones         []availabilityzones.AvailabilityZone
	Aggregates    []aggregates.Aggregate
	Providers     []Provider
	Networks      []Network
	Subnets       []subnets.Subnet
	Routers       []routers.Router
	Ports         []Port
	SecGroups     []groups.SecGroup
	FloatingIPs   []floatingips.FloatingIP
	Volumes       []volumes.Volume
	Stacks        []Stack
	LoadBalancers []LoadBalancer
}

// Report says how a collection went.
type Report struct {
	Took     time.Duration
	Calls    int64    // HTTP requests, re-authentication included
	Skipped  []string // services the catalog lacks, e.g. "orchestration (Heat): not in the catalog"
	Degraded []string // what could not be read and what that means, e.g. a 403 on hypervisors
}

func (r Report) String() string {
	s := fmt.Sprintf("collected in %.1f s with %d API calls", r.Took.Seconds(), r.Calls)
	if len(r.Skipped) > 0 {
		s += "; skipped " + strings.Join(r.Skipped, ", ")
	}
	if len(r.Degraded) > 0 {
		s += "; " + strings.Join(r.Degraded, "; ")
	}
	return s
}

// Clients are the service clients of one cloud; a nil one is a service
// the catalog does not have.
type Clients struct {
	Compute, Placement, Network, Volume, Orchestration, LoadBalancer *gophercloud.ServiceClient
	Skipped                                                          []string
}

// Clients looks the services up in the catalog and sets microversions.
// The first call's clients are kept: looking them up may ask each
// service for its versions.
func (c *Cloud) Clients() (*Clients, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients != nil {
		return c.clients, nil
	}
	cl := &Clients{}
	var errs []error
	for _, s := range []struct {
		name string
		dst  **gophercloud.ServiceClient
		new  func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)
	}{
		{Services[0], &cl.Compute, gopenstack.NewComputeV2},
		{Services[1], &cl.Placement, gopenstack.NewPlacementV1},
		{Services[2], &cl.Network, gopenstack.NewNetworkV2},
		{Services[3], &cl.Volume, gopenstack.NewBlockStorageV3},
		{Services[4], &cl.Orchestration, gopenstack.NewOrchestrationV1},
		{Services[5], &cl.LoadBalancer, gopenstack.NewLoadBalancerV2},
	} {
		sc, err := s.new(c.Provider, c.eo)
		var nf *gophercloud.ErrEndpointNotFound
		switch {
		case errors.As(err, &nf) || (err != nil && strings.Contains(err.Error(), "No suitable endpoint")):
			cl.Skipped = append(cl.Skipped, s.name+": not in the catalog")
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		default:
			*s.dst = sc
		}
	}
	if cl.Compute != nil {
		cl.Compute.Microversion = ComputeMicroversion
	}
	if cl.Placement != nil {
		cl.Placement.Microversion = PlacementMicroversion
	}
	if cl.Compute == nil && cl.Network == nil && cl.Volume == nil {
		errs = append(errs, fmt.Errorf("cloud %s has neither compute, network nor block storage in its catalog for region %q", c.Name, c.Region))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, c.scrub(err)
	}
	c.clients = cl
	return cl, nil
}

// ErrPaginationLoop says a list's next page repeated what was already read.
var ErrPaginationLoop = errors.New("pagination loop: the next page holds only items already read")

// maxPages stops a list that never ends.
const maxPages = 100000

// each walks every page of a list, extracting items and stopping on a
// page that repeats items already read (a server that hands out the same
// marker again would otherwise be read forever).
func each[T any](ctx context.Context, what string, pager pagination.Pager, extract func(pagination.Page) ([]T, error), id func(*T) string) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	pages := 0
	err := pager.EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		items, err := extract(p)
		if err != nil {
			return false, err
		}
		pages++
		fresh := 0
		for i := range items {
			k := id(&items[i])
			if k == "" || !seen[k] {
				fresh++
			}
			seen[k] = true
		}
		if len(items) > 0 && fresh == 0 {
			return false, fmt.Errorf("page %d: %w", pages, ErrPaginationLoop)
		}
		if pages > maxPages {
			return false, fmt.Errorf("more than %d pages: %w", maxPages, ErrPaginationLoop)
		}
		out = append(out, items...)
		return true, nil
	})
	if err != nil {
		return out, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}

// single reads a list the API returns in one page (availability zones,
// aggregates, resource providers, stacks and their resources).
func single[T any](ctx context.Context, what string, pager pagination.Pager, extract func(pagination.Page) ([]T, error)) ([]T, error) {
	p, err := pager.AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	items, err := extract(p)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return items, nil
}

// Limit is the page size asked of every list.
var Limit = 500

// job is one piece of a collection.
type job struct {
	name string
	run  func(ctx context.Context) error
}

// collector gathers one snapshot.
type collector struct {
	cl  *Clients
	mu  sync.Mutex
	s   Snapshot
	deg []string
}

func (c *collector) degrade(format string, a ...any) {
	c.mu.Lock()
	c.deg = append(c.deg, fmt.Sprintf(format, a...))
	c.mu.Unlock()
}

// Collect reads the whole cloud, its lists in parallel. A 403 on an
// admin-only list degrades the snapshot (said in the report); any other
// failure fails the collection, so that a partial picture is never taken
// for the whole.
func (c *Cloud) Collect(ctx context.Context) (*Snapshot, Report, error) {
	start := time.Now()
	calls0 := c.calls.Load()
	cl, err := c.Clients()
	if err != nil {
		return nil, Report{}, err
	}
	s, rep, err := CollectWith(ctx, cl)
	if s != nil {
		s.Cloud = c.Name
	}
	rep.Took = time.Since(start)
	rep.Calls = c.calls.Load() - calls0
	return s, rep, c.scrub(err)
}

// CollectWith reads the cloud through the given clients.
func CollectWith(ctx context.Context, cl *Clients) (*Snapshot, Report, error) {
	start := time.Now()
	c := &collector{cl: cl}
	var jobs []job
	if cl.Compute != nil {
		jobs = append(jobs, c.computeJobs()...)
	}
	if cl.Placement != nil {
		jobs = append(jobs, job{"resource providers", c.providers})
	}
	if cl.Network != nil {
		jobs = append(jobs, c.networkJobs()...)
	}
	if cl.Volume != nil {
		jobs = append(jobs, job{"volumes", c.volumes})
	}
	if cl.Orchestration != nil {
		jobs = append(jobs, job{"stacks", c.stacks})
	}
	if cl.LoadBalancer != nil {
		jobs = append(jobs, job{"load balancers", c.loadBalancers})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.run(ctx); err != nil {
				errs[i] = err
				cancel() // the collection has failed: stop the others
			}
		}()
	}
	wg.Wait()
	rep := Report{Took: time.Since(start), Skipped: cl.Skipped, Degraded: c.deg}
	sort.Strings(rep.Degraded)
	// Report the first real failure, not the cancellations it caused.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			first = err
			break
		}
	}
	if first == nil {
		first = errors.Join(errs...)
	}
	if first != nil {
		return nil, rep, explain(first)
	}
	return &c.s, rep, nil
}

func forbidden(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusForbidden) }
func notFound(err error) bool  { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }

func (c *collector) computeJobs() []job {
	cc := c.cl.Compute
	lim := &Limit
	return []job{
		{"hypervisors", func(ctx context.Context) error {
			hs, err := each(ctx, "hypervisors", hypervisors.List(cc, hypervisors.ListOpts{Limit: lim}), hypervisors.ExtractHypervisors,
				func(h *hypervisors.Hypervisor) string { return h.ID })
			if forbidden(err) {
				c.degrade("hypervisors: forbidden (admin only), hosts are known only from the servers placed on them")
				return nil
			}
			c.mu.Lock()
			c.s.Hypervisors = hs
			c.mu.Unlock()
			return err
		}},
		{"servers", func(ctx context.Context) error {
			ss, err := each(ctx, "servers", servers.List(cc, servers.ListOpts{AllTenants: true, Limit: Limit}), servers.ExtractServers,
				func(s *servers.Server) string { return s.ID })
			if forbidden(err) {
				c.degrade("servers: other projects' are forbidden, showing this project's only")
				ss, err = each(ctx, "servers", servers.List(cc, servers.ListOpts{Limit: Limit}), servers.ExtractServers,
					func(s *servers.Server) string { return s.ID })
			}
			c.mu.Lock()
			c.s.Servers = ss
			c.mu.Unlock()
			return err
		}},
		{"flavors", func(ctx context.Context) error {
			fs, err := each(ctx, "flavors", flavors.ListDetail(cc, flavors.ListOpts{AccessType: flavors.AllAccess, Limit: Limit}), flavors.ExtractFlavors,
				func(f *flavors.Flavor) string { return f.ID })
			c.mu.Lock()
			c.s.Flavors = fs
			c.mu.Unlock()
			return err
		}},
		{"availability zones", func(ctx context.Context) error {
			zs, err := single(ctx, "availability zones", availabilityzones.ListDetail(cc), availabilityzones.ExtractAvailabilityZones)
			if forbidden(err) {
				c.degrade("availability zones: the detailed list is forbidden (admin only)")
				return nil
			}
			c.mu.Lock()
			c.s.Zones = zs
			c.mu.Unlock()
			return err
		}},
		{"aggregates", func(ctx context.Context) error {
			as, err := single(ctx, "aggregates", aggregates.List(cc), aggregates.ExtractAggregates)
			if forbidden(err) {
				c.degrade("aggregates: forbidden (admin only)")
				return nil
			}
			c.mu.Lock()
			c.s.Aggregates = as
			c.mu.Unlock()
			return err
		}},
	}
}

// placementWorkers bounds the per-provider requests in flight.
const placementWorkers = 8

func (c *collector) providers(ctx context.Context) error {
	pc := c.cl.Placement
	rps, err := single(ctx, "resource providers", resourceproviders.List(pc, resourceproviders.ListOpts{}), resourceproviders.ExtractResourceProviders)
	if forbidden(err) {
		c.degrade("resource providers: forbidden (admin only), no inventories or usages")
		return nil
	}
	if err != nil {
		return err
	}
	out := make([]Provider, len(rps))
	gone := make([]bool, len(rps))
	errs := make([]error, len(rps))
	sem := make(chan struct{}, placementWorkers)
	var wg sync.WaitGroup
	for i := range rps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			p := Provider{ResourceProvider: rps[i]}
			inv, err := resourceproviders.GetInventories(ctx, pc, rps[i].UUID).Extract()
			if err == nil {
				p.Inventories = inv.Inventories
				var u *resourceproviders.ResourceProviderUsage
				u, err = resourceproviders.GetUsages(ctx, pc, rps[i].UUID).Extract()
				if err == nil {
					p.Usages = u.Usages
				}
			}
			switch {
			case notFound(err): // deleted since it was listed
				gone[i] = true
			case err != nil:
				errs[i] = fmt.Errorf("resource provider %s (%s): %w", rps[i].Name, rps[i].UUID, err)
			}
			out[i] = p
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var keep []Provider
	for i := range out {
		if !gone[i] {
			keep = append(keep, out[i])
		}
	}
	c.mu.Lock()
	c.s.Providers = keep
	c.mu.Unlock()
	return nil
}

func (c *collector) networkJobs() []job {
	nc := c.cl.Network
	return []job{
		{"networks", func(ctx context.Context) error {
			ns, err := each(ctx, "networks", networks.List(nc, networks.ListOpts{Limit: Limit}), func(p pagination.Page) ([]Network, error) {
				var v []Network
				err := networks.ExtractNetworksInto(p, &v)
				return v, err
			}, func(n *Network) string { return n.ID })
			c.mu.Lock()
			c.s.Networks = ns
			c.mu.Unlock()
			return err
		}},
		{"subnets", func(ctx context.Context) error {
			ss, err := each(ctx, "subnets", subnets.List(nc, subnets.ListOpts{Limit: Limit}), subnets.ExtractSubnets, func(s *subnets.Subnet) string { return s.ID })
			c.mu.Lock()
			c.s.Subnets = ss
			c.mu.Unlock()
			return err
		}},
		{"routers", func(ctx context.Context) error {
			rs, err := each(ctx, "routers", routers.List(nc, routers.ListOpts{Limit: Limit}), routers.ExtractRouters, func(r *routers.Router) string { return r.ID })
			if notFound(err) {
				c.degrade("routers: the network service has no layer-3 extension")
				return nil
			}
			c.mu.Lock()
			c.s.Routers = rs
			c.mu.Unlock()
			return err
		}},
		{"ports", func(ctx context.Context) error {
			ps, err := each(ctx, "ports", ports.List(nc, ports.ListOpts{Limit: Limit}), func(p pagination.Page) ([]Port, error) {
				var v []Port
				err := ports.ExtractPortsInto(p, &v)
				return v, err
			}, func(p *Port) string { return p.ID })
			c.mu.Lock()
			c.s.Ports = ps
			c.mu.Unlock()
			return err
		}},
		{"security groups", func(ctx context.Context) error {
			gs, err := each(ctx, "security groups", groups.List(nc, groups.ListOpts{Limit: Limit}), groups.ExtractGroups, func(g *groups.SecGroup) string { return g.ID })
			if notFound(err) {
				c.degrade("security groups: the network service has no security-group extension")
				return nil
			}
			c.mu.Lock()
			c.s.SecGroups = gs
			c.mu.Unlock()
			return err
		}},
		{"floating IPs", func(ctx context.Context) error {
			fs, err := each(ctx, "floating IPs", floatingips.List(nc, floatingips.ListOpts{Limit: Limit}), floatingips.ExtractFloatingIPs, func(f *floatingips.FloatingIP) string { return f.ID })
			if notFound(err) {
				c.degrade("floating IPs: the network service has no layer-3 extension")
				return nil
			}
			c.mu.Lock()
			c.s.FloatingIPs = fs
			c.mu.Unlock()
			return err
		}},
	}
}

func (c *collector) volumes(ctx context.Context) error {
	vc := c.cl.Volume
	vs, err := each(ctx, "volumes", volumes.List(vc, volumes.ListOpts{AllTenants: true, Limit: Limit}), volumes.ExtractVolumes, func(v *volumes.Volume) string { return v.ID })
	if forbidden(err) {
		c.degrade("volumes: other projects' are forbidden, showing this project's only")
		vs, err = each(ctx, "volumes", volumes.List(vc, volumes.ListOpts{Limit: Limit}), volumes.ExtractVolumes, func(v *volumes.Volume) string { return v.ID })
	}
	c.mu.Lock()
	c.s.Volumes = vs
	c.mu.Unlock()
	return err
}

func (c *collector) stacks(ctx context.Context) error {
	oc := c.cl.Orchestration
	ls, err := single(ctx, "stacks", stacks.List(oc, stacks.ListOpts{}), stacks.ExtractStacks)
	if err != nil {
		return err
	}
	out := make([]Stack, 0, len(ls))
	for _, st := range ls {
		rs, err := single(ctx, "resources of stack "+st.Name, stackresources.List(oc, st.Name, st.ID, stackresources.ListOpts{}), stackresources.ExtractResources)
		if notFound(err) { // deleted since it was listed
			continue
		}
		if err != nil {
			return err
		}
		out = append(out, Stack{ListedStack: st, Resources: rs})
	}
	c.mu.Lock()
	c.s.Stacks = out
	c.mu.Unlock()
	return nil
}

func (c *collector) loadBalancers(ctx context.Context) error {
	lc := c.cl.LoadBalancer
	lbs, err := each(ctx, "load balancers", loadbalancers.List(lc, loadbalancers.ListOpts{}), loadbalancers.ExtractLoadBalancers, func(l *loadbalancers.LoadBalancer) string { return l.ID })
	if err != nil {
		return err
	}
	out := make([]LoadBalancer, 0, len(lbs))
	for _, lb := range lbs {
		l := LoadBalancer{LoadBalancer: lb}
		for _, p := range lb.Pools {
			ms, err := each(ctx, "members of pool "+p.ID, pools.ListMembers(lc, p.ID, pools.ListMembersOpts{}), pools.ExtractMembers, func(m *pools.Member) string { return m.ID })
			if notFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			l.Members = append(l.Members, ms...)
		}
		out = append(out, l)
	}
	c.mu.Lock()
	c.s.LoadBalancers = out
	c.mu.Unlock()
	return nil
}
