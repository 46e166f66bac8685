package openstack

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/gophercloud/utils/v2/openstack/clientconfig"

	"flowscape/landscape"
	"flowscape/sources"
)

// Name is the source's name in the registry and on the command line.
const Name = "openstack"

// DefaultInterval is how often a cloud is read again.
const DefaultInterval = 60 * time.Second

// Progress is what a running collection reports.
type Progress struct {
	Collecting bool      // a collection is running
	Started    time.Time // when it started
}

// Source reads a cloud again and again, recording each full collection
// as a new version of Land. A collection that fails records nothing: the
// last good landscape stays, and the error goes to OnError.
type Source struct {
	Config   Config
	Land     *landscape.Landscape
	Interval time.Duration         // between collections; 0 means DefaultInterval
	Now      func() landscape.Time // the clock; nil means time.Now
	// Keep is how long changes are remembered; 0 means 24 hours.
	Keep time.Duration

	OnStart   func()                                        // a collection starts
	OnCollect func(landscape.Diff, Report)                  // a collection was recorded
	OnError   func(error, Report)                           // a collection failed; nothing was recorded
	Connect   func(context.Context, Config) (*Cloud, error) // nil means Connect

	mu    sync.Mutex
	cloud *Cloud
}

// CollectOnce collects now and records the result.
func (s *Source) CollectOnce(ctx context.Context) (landscape.Diff, Report, error) {
	if s.OnStart != nil {
		s.OnStart()
	}
	d, rep, err := s.collect(ctx)
	if err != nil {
		if s.OnError != nil {
			s.OnError(err, rep)
		}
		return d, rep, err
	}
	if s.OnCollect != nil {
		s.OnCollect(d, rep)
	}
	return d, rep, nil
}

func (s *Source) collect(ctx context.Context) (landscape.Diff, Report, error) {
	s.mu.Lock()
	cloud := s.cloud
	s.mu.Unlock()
	if cloud == nil {
		connect := s.Connect
		if connect == nil {
			connect = Connect
		}
		var err error
		if cloud, err = connect(ctx, s.Config); err != nil {
			return landscape.Diff{}, Report{}, err
		}
		s.mu.Lock()
		s.cloud = cloud
		s.mu.Unlock()
	}
	snap, rep, err := cloud.Collect(ctx)
	if err != nil {
		return landscape.Diff{}, rep, err
	}
	now := landscape.Time(time.Now().Unix())
	if s.Now != nil {
		now = s.Now()
	}
	d := s.Land.Record(now, Map(snap))
	keep := s.Keep
	if keep <= 0 {
		keep = 24 * time.Hour
	}
	s.Land.Prune(now - landscape.Time(keep/time.Second))
	return d, rep, nil
}

// Run collects at once and then every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	_, _, _ = s.CollectOnce(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			_, _, _ = s.CollectOnce(ctx)
		}
	}
}

// Load connects, collects once and returns the landscape and the report.
func Load(ctx context.Context, cfg Config) (*landscape.Graph, Report, error) {
	cloud, err := Connect(ctx, cfg)
	if err != nil {
		return nil, Report{}, err
	}
	snap, rep, err := cloud.Collect(ctx)
	if err != nil {
		return nil, rep, err
	}
	return Map(snap), rep, nil
}

// Backend describes the source for the registry.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info says whether a cloud is configured: OS_CLOUD or a clouds.yaml, or
// the OS_* variables. It does not contact the cloud.
func (Backend) Info(context.Context) sources.Info {
	in := sources.Info{Name: Name, Kind: sources.KindLandscape,
		Summary: "an OpenStack cloud's hosts, hypervisors, servers, volumes, networks, ports, routers, stacks and load balancers, read again every minute"}
	path, _, err := clientconfig.FindAndReadCloudsYAML()
	switch {
	case os.Getenv("OS_AUTH_URL") != "":
		in.Available = true
		in.Detail = "OS_* variables for " + os.Getenv("OS_AUTH_URL")
	case err == nil:
		in.Available = true
		in.Detail = "clouds.yaml at " + path + " (choose an entry with --os-cloud NAME or OS_CLOUD)"
	default:
		in.Reason = "no cloud configured: no clouds.yaml (looked at $OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, /etc/openstack/) and OS_AUTH_URL is unset"
	}
	if in.Available {
		in.Detail += "; flowscape landscape --source openstack [--os-cloud NAME]"
	}
	return in
}
