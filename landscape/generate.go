package landscape

import (
	"fmt"
	"math/rand/v2"
)

// Generate builds a data-center landscape of about n nodes for benchmarks
// and demos: racks with a switch and hosts, hosts with disks, VMs deployed
// on hosts with a volume each, a network per rack and services running on
// VMs that talk to each other. The same n and seed give the same graph.
func Generate(n int, seed uint64) *Graph {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var nodes []Node
	var edges []Edge
	add := func(id, layer, category, typ string) string {
		nodes = append(nodes, Node{ID: id, Layer: layer, Category: category, Type: typ, Name: id})
		return id
	}
	link := func(s, t, label string) { edges = append(edges, Edge{s, t, label}) }
	var services []string
	for r := 0; len(nodes) < n; r++ {
		rack := add(fmt.Sprintf("rack%d", r), Physical, Compute, "rack")
		sw := add(fmt.Sprintf("rack%d-switch", r), Physical, Network, "switch")
		link(rack, sw, Contains)
		net := add(fmt.Sprintf("net%d", r), Virtual, Network, "network")
		link(net, sw, RunsOn)
		for h := 0; h < 10 && len(nodes) < n; h++ {
			host := add(fmt.Sprintf("rack%d-host%d", r, h), Physical, Compute, "host")
			link(rack, host, Contains)
			link(host, sw, Communicates)
			for d := range 2 {
				link(host, add(fmt.Sprintf("%s-disk%d", host, d), Physical, Storage, "disk"), Contains)
			}
			for v := 0; v < 4 && len(nodes) < n; v++ {
				vm := add(fmt.Sprintf("%s-vm%d", host, v), Virtual, Compute, "vm")
				link(vm, host, DeployedOn)
				link(vm, net, Requires)
				link(vm, add(vm+"-vol", Virtual, Storage, "volume"), Requires)
				if v%2 == 0 {
					svc := add(vm+"-svc", Service, Compute, "service")
					link(svc, vm, RunsOn)
					if len(services) > 0 {
						link(svc, services[rng.IntN(len(services))], Communicates)
					}
					services = append(services, svc)
				}
			}
		}
	}
	return NewGraph(nodes, edges)
}

// GenerateHistory builds a landscape of about n nodes with steps changes,
// an hour apart from start: at each step some VMs (with their volumes and
// services) are gone and others are back, as in a cloud that is used.
func GenerateHistory(n, steps int, start Time, seed uint64) *Landscape {
	full := Generate(n, seed)
	l := New()
	for k := range steps + 1 {
		rng := rand.New(rand.NewPCG(seed+uint64(k), 0x5eed))
		gone := map[string]bool{}
		if k > 0 {
			for i := range full.Nodes {
				if nd := &full.Nodes[i]; nd.Type == "vm" && rng.IntN(10) == 0 {
					gone[nd.ID] = true
					gone[nd.ID+"-vol"] = true
					gone[nd.ID+"-svc"] = true
				}
			}
		}
		var nodes []Node
		for _, nd := range full.Nodes {
			if !gone[nd.ID] {
				nodes = append(nodes, nd)
			}
		}
		var edges []Edge
		for _, e := range full.Edges {
			if !gone[e.Source] && !gone[e.Target] {
				edges = append(edges, e)
			}
		}
		l.Record(start+Time(k)*3600, NewGraph(nodes, edges))
	}
	return l
}
