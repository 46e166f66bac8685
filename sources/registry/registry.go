// Package registry builds the registry of every data source this build of
// Flowscape knows, in one function.
package registry

import (
	"flowscape/sources"
	"flowscape/sources/bpftrace"
	"flowscape/sources/dtrace"
	"flowscape/sources/hostland"
	"flowscape/sources/hosttelemetry"
	"flowscape/sources/landfile"
	"flowscape/sources/openstack"
	"flowscape/sources/procstat"
	"flowscape/sources/prometheus"
	"flowscape/sources/pyagent"
	"flowscape/sources/pydtrace"
	"flowscape/sources/pyusdt"
	"flowscape/sources/replay"
	"flowscape/sources/telemetrycsv"
)

// Default returns the registry of all built-in backends.
func Default() *sources.Registry {
	r, err := sources.NewRegistry(map[string]sources.Backend{
		pyagent.Name:       pyagent.Backend{},
		pyagent.AttachName: pyagent.AttachBackend{},
		pyusdt.Name:        pyusdt.Backend{},
		pydtrace.Name:      pydtrace.Backend{},
		bpftrace.Name:      bpftrace.Backend{},
		dtrace.Name:        dtrace.Backend{},
		procstat.Name:      procstat.Backend{},
		replay.Name:        replay.Backend{},
		hostland.Name:      hostland.Backend{},
		landfile.Name:      landfile.Backend{},
		openstack.Name:     openstack.Backend{},
		hosttelemetry.Name: hosttelemetry.Backend{},
		prometheus.Name:    prometheus.Backend{},
		telemetrycsv.Name:  telemetrycsv.Backend{},
	})
	if err != nil {
		panic(err) // the table above is fixed at compile time
	}
	return r
}
