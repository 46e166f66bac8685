// Package openstack is the landscape source for an OpenStack cloud: it
// reads the cloud's configuration the way every OpenStack tool does
// (clouds.yaml, OS_* variables), collects compute, placement, network,
// block storage, orchestration and load-balancer resources concurrently
// through gophercloud, and maps them onto the physical → virtual → service
// landscape. Passwords and tokens never leave this package: errors are
// scrubbed of them and nothing collected holds them.
package openstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/utils/v2/openstack/clientconfig"
)

// Config says which cloud to read and how.
type Config struct {
	// Cloud is the clouds.yaml entry to use; "" means OS_CLOUD, or the OS_*
	// variables when that is unset too.
	Cloud string
	// Region overrides the cloud's region ("" keeps clouds.yaml's
	// region_name or OS_REGION_NAME).
	Region string
	// Timeout bounds each HTTP request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Transport carries the requests; nil means http.DefaultTransport's
	// settings with the cloud's TLS options.
	Transport http.RoundTripper
}

// DefaultTimeout bounds one request to the cloud.
const DefaultTimeout = 60 * time.Second

// Cloud is an authenticated connection to one OpenStack cloud.
type Cloud struct {
	Name     string // the clouds.yaml entry, or "(OS_* variables)"
	AuthURL  string
	Region   string
	Provider *gophercloud.ProviderClient
	eo       gophercloud.EndpointOpts
	calls    *atomic.Int64
	secrets  []string
	mu       sync.Mutex
	clients  *Clients
}

// Calls is the number of HTTP requests made so far, authentication
// included.
func (c *Cloud) Calls() int64 { return c.calls.Load() }

// Connect reads the configuration and authenticates. Its errors say where
// the configuration came from and never hold a secret.
func Connect(ctx context.Context, cfg Config) (*Cloud, error) {
	opts := &clientconfig.ClientOpts{Cloud: cfg.Cloud, RegionName: cfg.Region}
	name := cfg.Cloud
	if name == "" {
		name = os.Getenv("OS_CLOUD")
	}
	var cloud *clientconfig.Cloud
	if name != "" {
		opts.Cloud = name
		c, err := clientconfig.GetCloudFromYAML(opts)
		if err != nil {
			return nil, configError(name, err)
		}
		cloud = c
	}
	ao, err := clientconfig.AuthOptions(opts)
	if err != nil {
		if name == "" {
			return nil, fmt.Errorf("no OpenStack cloud configured: give --os-cloud NAME (an entry of clouds.yaml) or set the OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME…): %w", err)
		}
		return nil, configError(name, err)
	}
	secrets := []string{ao.Password, ao.TokenID, ao.ApplicationCredentialSecret, ao.Passcode}
	ao.AllowReauth = true
	if cloud == nil {
		cloud = &clientconfig.Cloud{}
	}
	region := cfg.Region
	if region == "" {
		region = cloud.RegionName
	}
	if region == "" {
		region = os.Getenv("OS_REGION_NAME")
	}
	iface := cloud.Interface
	if iface == "" {
		iface = cloud.EndpointType
	}
	if iface == "" {
		iface = os.Getenv("OS_INTERFACE")
	}
	if iface == "" {
		iface = os.Getenv("OS_ENDPOINT_TYPE")
	}
	c := &Cloud{Name: name, AuthURL: ao.IdentityEndpoint, Region: region, calls: &atomic.Int64{}, secrets: secrets,
		eo: gophercloud.EndpointOpts{Region: region, Availability: clientconfig.GetEndpointType(iface)}}
	if c.Name == "" {
		c.Name = "(OS_* variables)"
	}
	rt := cfg.Transport
	if rt == nil {
		tlsConf, err := clientconfig.PrepareTLSConfig("OS_", cloud)
		if err != nil {
			return nil, c.scrub(fmt.Errorf("cloud %s: TLS settings: %w", c.Name, err))
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if tlsConf != nil {
			tr.TLSClientConfig = tlsConf
		} else {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		rt = tr
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	p, err := gopenstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, c.scrub(fmt.Errorf("cloud %s: auth_url %q: %w", c.Name, ao.IdentityEndpoint, err))
	}
	p.HTTPClient = http.Client{Transport: countingTransport{rt, c.calls}, Timeout: timeout}
	p.UserAgent.Prepend("flowscape")
	c.Provider = p
	if err := gopenstack.Authenticate(ctx, p, *ao); err != nil {
		return nil, c.scrub(fmt.Errorf("cloud %s: authenticating at %s as %q: %w", c.Name, ao.IdentityEndpoint, ao.Username, explain(err)))
	}
	return c, nil
}

// configError says which clouds.yaml was read when the entry is wrong.
func configError(name string, err error) error {
	path, _, ferr := clientconfig.FindAndReadCloudsYAML()
	if ferr != nil {
		return fmt.Errorf("cloud %q: no clouds.yaml found (looked at $OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml): %w", name, err)
	}
	return fmt.Errorf("cloud %q in %s: %w", name, path, err)
}

// explain adds what to do to the errors users meet most.
func explain(err error) error {
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusUnauthorized):
		return fmt.Errorf("%w (wrong user name, password or project?)", err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("%w (the cloud did not answer in time)", err)
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// scrub removes every secret the cloud knows from err's text.
func (c *Cloud) scrub(err error) error {
	if err == nil {
		return nil
	}
	secrets := c.secrets
	if c.Provider != nil {
		secrets = append(secrets[:len(secrets):len(secrets)], c.Provider.Token())
	}
	msg := err.Error()
	clean := Redact(msg, secrets...)
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

// Redact replaces every non-empty secret in s with "***".
func Redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

// scrubbed is an error whose text had secrets removed; errors.Is and As
// still see the original.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// countingTransport counts requests.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(r)
}
