package openstack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"flowscape/landscape"
)

// Node id prefixes: every id is "os:KIND:KEY" so that OpenStack's nodes
// never collide with this machine's or a file's.
const (
	idHost       = "os:host:"
	idHypervisor = "os:hypervisor:"
	idServer     = "os:server:"
	idVolume     = "os:volume:"
	idNetwork    = "os:network:"
	idSubnet     = "os:subnet:"
	idPort       = "os:port:"
	idRouter     = "os:router:"
	idFloatingIP = "os:floatingip:"
	idStack      = "os:stack:"
	idLB         = "os:loadbalancer:"
	idMember     = "os:member:"
)

// Node types.
const (
	TypeHost         = "machine" // a compute host, as the local source calls a machine
	TypeHypervisor   = "hypervisor"
	TypeServer       = "vm"
	TypeVolume       = "volume"
	TypeNetwork      = "network"
	TypeSubnet       = "subnet"
	TypePort         = "port"
	TypeRouter       = "router"
	TypeFloatingIP   = "floatingip"
	TypeStack        = "stack"
	TypeLoadBalancer = "loadbalancer"
	TypeMember       = "lb-member"
)

// Attribute names besides the landscape's join keys.
const (
	AttrInstanceName = "instance_name" // the hypervisor's name for a server (libvirt domain)
	AttrHost         = "host"          // the compute host a server or port is on
	AttrStatus       = "status"
)

// HostID, ServerID, … return the node id of a resource, for callers that
// join on OpenStack names.
func HostID(host string) string     { return idHost + host }
func ServerID(uuid string) string   { return idServer + uuid }
func VolumeID(uuid string) string   { return idVolume + uuid }
func PortID(uuid string) string     { return idPort + uuid }
func NetworkID(uuid string) string  { return idNetwork + uuid }
func SubnetID(uuid string) string   { return idSubnet + uuid }
func RouterID(uuid string) string   { return idRouter + uuid }
func HypervisorID(id string) string { return idHypervisor + id }

// builder accumulates nodes and edges without duplicates.
type builder struct {
	nodes map[string]*landscape.Node
	edges map[landscape.Edge]bool
}

func (b *builder) node(n landscape.Node) *landscape.Node {
	if old, ok := b.nodes[n.ID]; ok {
		for k, v := range n.Attrs {
			if old.Attrs == nil {
				old.Attrs = map[string]string{}
			}
			old.Attrs[k] = v
		}
		return old
	}
	if n.Attrs == nil {
		n.Attrs = map[string]string{}
	}
	b.nodes[n.ID] = &n
	return &n
}

func (b *builder) edge(src, dst, label string) {
	if src == "" || dst == "" || src == dst {
		return
	}
	b.edges[landscape.Edge{Source: src, Target: dst, Label: label}] = true
}

func (b *builder) has(id string) bool { _, ok := b.nodes[id]; return ok }

// host returns the node of a compute host, making it when it is new.
func (b *builder) host(name string) string {
	if name == "" {
		return ""
	}
	id := idHost + name
	b.node(landscape.Node{ID: id, Layer: landscape.Physical, Category: landscape.Compute, Type: TypeHost, Name: name,
		Attrs: map[string]string{landscape.KeyHostname: name}})
	return id
}

func set(a map[string]string, k, v string) {
	if v != "" {
		a[k] = v
	}
}

// Map turns a snapshot into a landscape graph: hosts and hypervisors are
// physical; servers, volumes, ports, networks, subnets, routers and
// floating IPs virtual; stacks and load balancers (with their members)
// services. Edges: server DEPLOYED_ON host, host CONTAINS hypervisor,
// volume ATTACHED_TO server, server REQUIRES its ports, port REQUIRES
// network and subnet, port DEPLOYED_ON the host it is bound to, network
// CONTAINS subnet, router interfaces ATTACHED_TO their router, router
// REQUIRES its external network, floating IP REQUIRES its port, stack
// RUNS_ON its resources, load balancer REQUIRES its VIP port and RUNS_ON
// its members, member RUNS_ON the port holding its address.
func Map(s *Snapshot) *landscape.Graph {
	b := &builder{nodes: map[string]*landscape.Node{}, edges: map[landscape.Edge]bool{}}

	// Physical: hosts, with their zones and aggregates, and hypervisors
	// with Placement's inventories and usages.
	zoneOf := map[string]string{}
	for _, z := range s.Zones {
		for h := range z.Hosts {
			zoneOf[h] = z.ZoneName
		}
	}
	aggsOf := map[string][]string{}
	for _, a := range s.Aggregates {
		for _, h := range a.Hosts {
			aggsOf[h] = append(aggsOf[h], a.Name)
			if a.AvailabilityZone != "" && zoneOf[h] == "" {
				zoneOf[h] = a.AvailabilityZone
			}
		}
	}
	hostAttrs := func(h string) {
		n := b.nodes[idHost+h]
		set(n.Attrs, "availability_zone", zoneOf[h])
		if as := aggsOf[h]; len(as) > 0 {
			sort.Strings(as)
			n.Attrs["aggregates"] = strings.Join(as, ",")
		}
	}
	provByName := map[string]*Provider{}
	provByUUID := map[string]*Provider{}
	for i := range s.Providers {
		p := &s.Providers[i]
		provByName[p.Name] = p
		provByUUID[p.UUID] = p
	}
	for _, hv := range s.Hypervisors {
		hostName := hv.Service.Host
		if hostName == "" {
			hostName = hv.HypervisorHostname
		}
		h := b.host(hostName)
		hostAttrs(hostName)
		a := map[string]string{AttrStatus: hv.Status, "state": hv.State,
			"hypervisor_type": hv.HypervisorType, "host_ip": hv.HostIP, "running_vms": strconv.Itoa(hv.RunningVMs)}
		if hv.HypervisorHostname != hostName {
			// Telemetry on the host name finds the host; the hypervisor's
			// own name only when it differs.
			a[landscape.KeyHostname] = hv.HypervisorHostname
		}
		if isUUIDish(hv.ID) {
			a[landscape.KeyUUID] = hv.ID
		}
		p := provByUUID[hv.ID]
		if p == nil {
			p = provByName[hv.HypervisorHostname]
		}
		if p != nil {
			placementAttrs(a, p)
		}
		id := idHypervisor + hv.ID
		a["hypervisor_hostname"] = hv.HypervisorHostname
		name := "hypervisor " + hv.HypervisorHostname // "compute-1" would read as the host's name
		if hv.HypervisorType != "" {
			name = hv.HypervisorType + " " + name
		}
		b.node(landscape.Node{ID: id, Layer: landscape.Physical, Category: landscape.Compute, Type: TypeHypervisor,
			Name: name, Attrs: a})
		b.edge(h, id, landscape.Contains)
	}

	// Virtual: servers on their hosts.
	flavorByID := map[string]string{}
	for _, f := range s.Flavors {
		flavorByID[f.ID] = f.Name
	}
	for _, sv := range s.Servers {
		a := map[string]string{landscape.KeyUUID: sv.ID, AttrStatus: sv.Status}
		set(a, AttrInstanceName, sv.InstanceName)
		set(a, AttrHost, sv.Host)
		set(a, "hypervisor_hostname", sv.HypervisorHostname)
		set(a, "availability_zone", sv.AvailabilityZone)
		set(a, "project_id", sv.TenantID)
		if sv.Hostname != nil {
			set(a, "guest_hostname", *sv.Hostname)
		}
		if f := flavorName(sv.Flavor, flavorByID); f != "" {
			a["flavor"] = f
		}
		for _, k := range []string{"vcpus", "ram", "disk"} {
			if v, ok := sv.Flavor[k]; ok {
				a["flavor_"+k] = fmt.Sprint(v)
			}
		}
		id := idServer + sv.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Compute, Type: TypeServer, Name: sv.Name, Attrs: a})
		if sv.Host != "" {
			h := b.host(sv.Host)
			hostAttrs(sv.Host)
			b.edge(id, h, landscape.DeployedOn)
		}
	}

	// Volumes and their attachments.
	for _, v := range s.Volumes {
		a := map[string]string{landscape.KeyUUID: v.ID, AttrStatus: v.Status, "size_gb": strconv.Itoa(v.Size)}
		set(a, "volume_type", v.VolumeType)
		set(a, "backend_host", v.Host)
		set(a, "availability_zone", v.AvailabilityZone)
		var devs []string
		for _, at := range v.Attachments {
			if at.Device != "" {
				devs = append(devs, at.Device)
			}
		}
		if len(devs) > 0 {
			a["devices"] = strings.Join(devs, ",")
		}
		name := v.Name
		if name == "" {
			name = "volume " + short(v.ID)
		}
		id := idVolume + v.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Storage, Type: TypeVolume, Name: name, Attrs: a})
		for _, at := range v.Attachments {
			if at.ServerID != "" && b.has(idServer+at.ServerID) {
				b.edge(id, idServer+at.ServerID, landscape.AttachedTo)
			}
		}
	}

	// Networks, subnets, routers.
	for _, n := range s.Networks {
		a := map[string]string{landscape.KeyUUID: n.ID, AttrStatus: n.Status}
		if n.External {
			a["external"] = "true"
		}
		if n.Shared {
			a["shared"] = "true"
		}
		b.node(landscape.Node{ID: idNetwork + n.ID, Layer: landscape.Virtual, Category: landscape.Network, Type: TypeNetwork, Name: nameOr(n.Name, "network", n.ID), Attrs: a})
	}
	for _, sn := range s.Subnets {
		a := map[string]string{landscape.KeyUUID: sn.ID, "cidr": sn.CIDR, "ip_version": strconv.Itoa(sn.IPVersion)}
		set(a, "gateway_ip", sn.GatewayIP)
		id := idSubnet + sn.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Network, Type: TypeSubnet, Name: nameOr(sn.Name, "subnet", sn.ID), Attrs: a})
		if b.has(idNetwork + sn.NetworkID) {
			b.edge(idNetwork+sn.NetworkID, id, landscape.Contains)
		}
	}
	for _, r := range s.Routers {
		a := map[string]string{landscape.KeyUUID: r.ID, AttrStatus: r.Status}
		var ext []string
		for _, ip := range r.GatewayInfo.ExternalFixedIPs {
			ext = append(ext, ip.IPAddress)
		}
		if len(ext) > 0 {
			a["external_ips"] = strings.Join(ext, ",")
		}
		id := idRouter + r.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Network, Type: TypeRouter, Name: nameOr(r.Name, "router", r.ID), Attrs: a})
		if g := r.GatewayInfo.NetworkID; g != "" && b.has(idNetwork+g) {
			b.edge(id, idNetwork+g, landscape.Requires)
		}
	}
	sgName := map[string]string{}
	for _, g := range s.SecGroups {
		sgName[g.ID] = g.Name
	}

	// Ports: the glue between servers, routers, networks and hosts.
	portByIP := map[string]string{} // "subnet|ip" and "|ip" → port node id
	for _, p := range s.Ports {
		a := map[string]string{landscape.KeyUUID: p.ID, landscape.KeyMAC: strings.ToLower(p.MACAddress), AttrStatus: p.Status}
		set(a, "device_owner", p.DeviceOwner)
		set(a, "device_id", p.DeviceID)
		set(a, AttrHost, p.HostID)
		set(a, "vif_type", p.VIFType)
		set(a, "vnic_type", p.VNICType)
		if dev := tapDevice(p.ID); p.VIFType != "" && p.VIFType != "unbound" {
			// The name the host's kernel gives the VM's interface.
			a[landscape.KeyDevice] = dev
		}
		var ips []string
		for _, ip := range p.FixedIPs {
			ips = append(ips, ip.IPAddress)
		}
		set(a, "fixed_ips", strings.Join(ips, ","))
		var sgs []string
		for _, g := range p.SecurityGroups {
			sgs = append(sgs, nameOr(sgName[g], "", g))
		}
		set(a, "security_groups", strings.Join(sgs, ","))
		name := p.Name
		if name == "" {
			name = "port " + nameOr(strings.Join(ips, ","), "", short(p.ID))
		}
		id := idPort + p.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Network, Type: TypePort, Name: name, Attrs: a})
		for _, ip := range p.FixedIPs {
			portByIP[ip.SubnetID+"|"+ip.IPAddress] = id
			portByIP["|"+ip.IPAddress] = id
		}
		if b.has(idNetwork + p.NetworkID) {
			b.edge(id, idNetwork+p.NetworkID, landscape.Requires)
		}
		for _, ip := range p.FixedIPs {
			if b.has(idSubnet + ip.SubnetID) {
				b.edge(id, idSubnet+ip.SubnetID, landscape.Requires)
			}
		}
		switch {
		case strings.HasPrefix(p.DeviceOwner, "compute:") && b.has(idServer+p.DeviceID):
			b.edge(idServer+p.DeviceID, id, landscape.Requires)
		case strings.HasPrefix(p.DeviceOwner, "network:router") && b.has(idRouter+p.DeviceID):
			b.edge(id, idRouter+p.DeviceID, landscape.AttachedTo)
		}
		if p.HostID != "" && b.has(idHost+p.HostID) {
			b.edge(id, idHost+p.HostID, landscape.DeployedOn)
		}
	}
	for _, f := range s.FloatingIPs {
		a := map[string]string{landscape.KeyUUID: f.ID, AttrStatus: f.Status, "floating_ip": f.FloatingIP}
		set(a, "fixed_ip", f.FixedIP)
		id := idFloatingIP + f.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Network, Type: TypeFloatingIP, Name: nameOr(f.FloatingIP, "floating IP", f.ID), Attrs: a})
		if f.PortID != "" && b.has(idPort+f.PortID) {
			b.edge(id, idPort+f.PortID, landscape.Requires)
		}
		if b.has(idNetwork + f.FloatingNetworkID) {
			b.edge(id, idNetwork+f.FloatingNetworkID, landscape.Requires)
		}
	}

	// Services: stacks and load balancers.
	for _, st := range s.Stacks {
		a := map[string]string{landscape.KeyUUID: st.ID, AttrStatus: st.Status, "resources": strconv.Itoa(len(st.Resources))}
		id := idStack + st.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Service, Category: landscape.Compute, Type: TypeStack, Name: st.Name, Attrs: a})
		for _, r := range st.Resources {
			if t := resourceNode(b, r.Type, r.PhysicalID); t != "" {
				b.edge(id, t, landscape.RunsOn)
			}
		}
	}
	for _, lb := range s.LoadBalancers {
		a := map[string]string{landscape.KeyUUID: lb.ID, AttrStatus: lb.ProvisioningStatus, "operating_status": lb.OperatingStatus}
		set(a, "vip_address", lb.VipAddress)
		set(a, "provider", lb.Provider)
		id := idLB + lb.ID
		b.node(landscape.Node{ID: id, Layer: landscape.Service, Category: landscape.Network, Type: TypeLoadBalancer, Name: nameOr(lb.Name, "load balancer", lb.ID), Attrs: a})
		if b.has(idPort + lb.VipPortID) {
			b.edge(id, idPort+lb.VipPortID, landscape.Requires)
		}
		for _, m := range lb.Members {
			ma := map[string]string{landscape.KeyUUID: m.ID, "address": m.Address, "protocol_port": strconv.Itoa(m.ProtocolPort),
				"operating_status": m.OperatingStatus, "pool_id": m.PoolID}
			mid := idMember + m.ID
			b.node(landscape.Node{ID: mid, Layer: landscape.Service, Category: landscape.Network, Type: TypeMember,
				Name: nameOr(m.Name, "member", m.Address+":"+strconv.Itoa(m.ProtocolPort)), Attrs: ma})
			b.edge(id, mid, landscape.RunsOn)
			port := portByIP[m.SubnetID+"|"+m.Address]
			if port == "" {
				port = portByIP["|"+m.Address]
			}
			if port != "" {
				b.edge(mid, port, landscape.RunsOn)
			}
		}
	}

	nodes := make([]landscape.Node, 0, len(b.nodes))
	for _, n := range b.nodes {
		nodes = append(nodes, *n)
	}
	edges := make([]landscape.Edge, 0, len(b.edges))
	for e := range b.edges {
		edges = append(edges, e)
	}
	return landscape.NewGraph(nodes, edges)
}

// placementAttrs writes a provider's inventories and usages as
// "VCPU": "2 of 8 (×16.0, 0 reserved)".
func placementAttrs(a map[string]string, p *Provider) {
	a["resource_provider"] = p.UUID
	for rc, inv := range p.Inventories {
		a["capacity."+rc] = fmt.Sprintf("%d of %d (×%.1f, %d reserved)", p.Usages[rc], inv.Total, inv.AllocationRatio, inv.Reserved)
	}
	for rc, u := range p.Usages {
		if _, ok := p.Inventories[rc]; !ok {
			a["capacity."+rc] = fmt.Sprintf("%d used", u)
		}
	}
}

// resourceNode is the node of a Heat resource's physical id, or "".
func resourceNode(b *builder, typ, physical string) string {
	if physical == "" {
		return ""
	}
	var prefixes []string
	switch typ {
	case "OS::Nova::Server":
		prefixes = []string{idServer}
	case "OS::Cinder::Volume":
		prefixes = []string{idVolume}
	case "OS::Neutron::Port":
		prefixes = []string{idPort}
	case "OS::Neutron::Net":
		prefixes = []string{idNetwork}
	case "OS::Neutron::Subnet":
		prefixes = []string{idSubnet}
	case "OS::Neutron::Router":
		prefixes = []string{idRouter}
	case "OS::Neutron::FloatingIP":
		prefixes = []string{idFloatingIP}
	case "OS::Octavia::LoadBalancer":
		prefixes = []string{idLB}
	case "OS::Heat::Stack", "OS::Heat::ResourceGroup", "OS::Heat::AutoScalingGroup":
		prefixes = []string{idStack}
	default:
		prefixes = []string{idServer, idVolume, idPort, idNetwork, idSubnet, idRouter, idFloatingIP, idLB, idStack}
	}
	for _, p := range prefixes {
		if b.has(p + physical) {
			return p + physical
		}
	}
	return ""
}

// flavorName reads a server's flavor: the name inline (2.47 and later) or
// the id looked up in the flavor list.
func flavorName(f map[string]any, byID map[string]string) string {
	if n, ok := f["original_name"].(string); ok {
		return n
	}
	if id, ok := f["id"].(string); ok {
		if n := byID[id]; n != "" {
			return n
		}
		return id
	}
	return ""
}

// tapDevice is the name OVS and Linux bridge give a port's interface on
// its host: "tap" and the port id's first 11 characters.
func tapDevice(portID string) string {
	if len(portID) < 11 {
		return "tap" + portID
	}
	return "tap" + portID[:11]
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func nameOr(name, kind, id string) string {
	switch {
	case name != "":
		return name
	case kind == "":
		return id
	}
	return kind + " " + short(id)
}

func isUUIDish(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }
