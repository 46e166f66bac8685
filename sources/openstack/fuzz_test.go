package openstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzMap feeds Map snapshots decoded from arbitrary JSON (seeded with the
// API reference's pages): whatever the cloud answers, the graph is valid.
func FuzzMap(f *testing.F) {
	for _, seed := range []struct{ field, file string }{
		{"servers", "servers.json"}, {"ports", "ports.json"}, {"volumes", "volumes.json"},
		{"hypervisors", "hypervisors.json"}, {"networks", "networks.json"}, {"routers", "routers.json"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "api", seed.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed.field, b)
	}
	f.Fuzz(func(t *testing.T, field string, data []byte) {
		var page map[string]json.RawMessage
		if json.Unmarshal(data, &page) != nil {
			return
		}
		var s Snapshot
		var err error
		switch field {
		case "servers":
			err = json.Unmarshal(page["servers"], &s.Servers)
		case "ports":
			err = json.Unmarshal(page["ports"], &s.Ports)
		case "volumes":
			err = json.Unmarshal(page["volumes"], &s.Volumes)
		case "hypervisors":
			err = json.Unmarshal(page["hypervisors"], &s.Hypervisors)
		case "networks":
			err = json.Unmarshal(page["networks"], &s.Networks)
		case "routers":
			err = json.Unmarshal(page["routers"], &s.Routers)
		default:
			return
		}
		if err != nil {
			return
		}
		if err := Map(&s).Validate(); err != nil {
			t.Errorf("Map of a %s page: %v", field, err)
		}
	})
}
