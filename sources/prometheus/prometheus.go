// Package prometheus is the telemetry source that asks a Prometheus server
// over its HTTP API: instant queries for the live view, range queries for
// history. Each metric is a PromQL expression (configurable) whose labels
// map to landscape join keys; the default set reads node-exporter's CPU,
// memory, disk and network series and joins them by its cpu, device and
// nodename/instance labels to this machine's landscape.
package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources"
)

// Name is the source's name in the registry.
const Name = "prometheus"

// DefaultURL is where a Prometheus server listens by default.
const DefaultURL = "http://127.0.0.1:9090"

// LabelKey maps a label to a join key kind.
type LabelKey struct {
	Label string `json:"label"` // e.g. "cpu", "device", "instance"
	Kind  string `json:"kind"`  // a landscape.Key… kind, or telemetry.KeyID
	// StripPort drops ":port" from the value (instance="host:9100").
	StripPort bool `json:"strip_port,omitempty"`
}

// Query is one metric: a PromQL expression and how its labels find nodes.
type Query struct {
	Metric string     `json:"metric"` // the metric's name in Flowscape
	PromQL string     `json:"promql"` // "{{window}}" is replaced by the rate window
	Keys   []LabelKey `json:"keys"`
}

// ReadQueries reads a JSON list of queries:
// [{"metric": "cpu_busy_pct", "promql": "…", "keys": [{"label": "cpu", "kind": "cpu"}]}].
func ReadQueries(data []byte) ([]Query, error) {
	var qs []Query
	if err := json.Unmarshal(data, &qs); err != nil {
		return nil, fmt.Errorf("queries: %s", jsonWhere(err))
	}
	for i, q := range qs {
		if q.Metric == "" || q.PromQL == "" || len(q.Keys) == 0 {
			return nil, fmt.Errorf("queries: entry %d needs metric, promql and at least one of keys", i)
		}
		for _, k := range q.Keys {
			if k.Label == "" || k.Kind == "" {
				return nil, fmt.Errorf("queries: entry %d (%s): a key needs label and kind", i, q.Metric)
			}
		}
	}
	return qs, nil
}

// nodeKeys are the labels that name the machine: node_uname_info's
// nodename (joined into the queries below) and the scrape instance.
var nodeKeys = []LabelKey{{Label: "nodename", Kind: landscape.KeyHostname}, {Label: "instance", Kind: landscape.KeyHostname, StripPort: true}}

// withNode joins node_uname_info's nodename label to a query.
func withNode(q string) string {
	return "(" + q + ") * on(instance) group_left(nodename) node_uname_info"
}

// DefaultQueries read node-exporter's series under the names the local
// source uses, so that both colour the local landscape the same way.
func DefaultQueries() []Query {
	cpu := []LabelKey{{Label: "cpu", Kind: landscape.KeyCPU}}
	dev := []LabelKey{{Label: "device", Kind: landscape.KeyDevice}}
	return []Query{
		{Metric: "cpu_busy_pct", PromQL: `100 * (1 - sum by (instance, cpu) (rate(node_cpu_seconds_total{mode=~"idle|iowait"}[{{window}}])))`, Keys: cpu},
		{Metric: "cpu_busy_pct", PromQL: withNode(`100 * (1 - avg by (instance) (sum by (instance, cpu) (rate(node_cpu_seconds_total{mode=~"idle|iowait"}[{{window}}]))))`), Keys: nodeKeys},
		{Metric: "mem_used_pct", PromQL: withNode(`100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)`), Keys: nodeKeys},
		{Metric: "load1", PromQL: withNode(`node_load1`), Keys: nodeKeys},
		{Metric: "disk_read_bytes_s", PromQL: `rate(node_disk_read_bytes_total[{{window}}])`, Keys: dev},
		{Metric: "disk_write_bytes_s", PromQL: `rate(node_disk_written_bytes_total[{{window}}])`, Keys: dev},
		{Metric: "disk_busy_pct", PromQL: `100 * rate(node_disk_io_time_seconds_total[{{window}}])`, Keys: dev},
		{Metric: "net_rx_bytes_s", PromQL: `rate(node_network_receive_bytes_total[{{window}}])`, Keys: dev},
		{Metric: "net_tx_bytes_s", PromQL: `rate(node_network_transmit_bytes_total[{{window}}])`, Keys: dev},
		{Metric: "net_errors_s", PromQL: `rate(node_network_receive_errs_total[{{window}}]) + rate(node_network_transmit_errs_total[{{window}}])`, Keys: dev},
		{Metric: "net_drops_s", PromQL: `rate(node_network_receive_drop_total[{{window}}]) + rate(node_network_transmit_drop_total[{{window}}])`, Keys: dev},
	}
}

// Series is one series of a query's answer.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Point is a value at a time (Unix ms). NaN and ±Inf come through as they
// are; the store skips and counts them.
type Point struct {
	T int64
	V float64
}

// Error is an answer that is not a success, with what the server said.
type Error struct {
	URL    string
	Status int    // HTTP status; 0 when the body was not an API answer
	Type   string // errorType: bad_data, timeout, execution, …
	Msg    string
}

func (e *Error) Error() string {
	s := "prometheus " + e.URL + ": "
	if e.Status != 0 {
		s += fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Client talks to one Prometheus server.
type Client struct {
	URL     string        // e.g. http://127.0.0.1:9090
	Timeout time.Duration // per request; 0 means 10 s
	HTTP    *http.Client  // nil: a client with Timeout
}

func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	t := c.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return &http.Client{Timeout: t}
}

// Instant evaluates q at t.
func (c *Client) Instant(ctx context.Context, q string, t time.Time) ([]Series, error) {
	v := url.Values{"query": {q}, "time": {formatTime(t)}}
	return c.get(ctx, "/api/v1/query", v)
}

// Range evaluates q from start to end every step.
func (c *Client) Range(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]Series, error) {
	v := url.Values{"query": {q}, "start": {formatTime(start)}, "end": {formatTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	return c.get(ctx, "/api/v1/query_range", v)
}

// Ready reports whether the server answers /-/ready.
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.URL, "/")+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return &Error{URL: c.URL, Status: resp.StatusCode, Msg: "not ready"}
	}
	return nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// maxBody bounds what is read of an answer.
const maxBody = 64 << 20

func (c *Client) get(ctx context.Context, path string, v url.Values) ([]Series, error) {
	u := strings.TrimRight(c.URL, "/") + path + "?" + v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: reading the answer: %w", c.URL, err)
	}
	series, err := Parse(body)
	var pe *Error
	switch {
	case errors.As(err, &pe):
		pe.URL, pe.Status = c.URL, resp.StatusCode
		return nil, pe
	case err != nil && resp.StatusCode != http.StatusOK:
		return nil, &Error{URL: c.URL, Status: resp.StatusCode, Msg: snippet(body)}
	case err != nil:
		return nil, fmt.Errorf("prometheus %s: %w", c.URL, err)
	}
	return series, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// answer is the API's envelope.
type answer struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

type result struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type seriesJSON struct {
	Metric map[string]string   `json:"metric"`
	Value  []json.RawMessage   `json:"value"`
	Values [][]json.RawMessage `json:"values"`
}

// Parse reads an API answer: a vector, a matrix or a scalar. An error
// answer is an *Error; anything else that is not one is a plain error
// saying where it went wrong.
func Parse(body []byte) ([]Series, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("not a Prometheus API answer: %s (%q)", jsonWhere(err), snippet(body))
	}
	if a.Status != "success" {
		if a.Status == "error" {
			return nil, &Error{Type: a.ErrorType, Msg: a.Error}
		}
		return nil, fmt.Errorf("not a Prometheus API answer: status %q", a.Status)
	}
	var r result
	if err := json.Unmarshal(a.Data, &r); err != nil {
		return nil, fmt.Errorf("prometheus answer's data: %s", jsonWhere(err))
	}
	switch r.ResultType {
	case "vector", "matrix":
	case "scalar":
		var pair []json.RawMessage
		if err := json.Unmarshal(r.Result, &pair); err != nil {
			return nil, fmt.Errorf("prometheus scalar: %s", jsonWhere(err))
		}
		p, err := point(pair)
		if err != nil {
			return nil, err
		}
		return []Series{{Labels: map[string]string{}, Points: []Point{p}}}, nil
	default:
		return nil, fmt.Errorf("prometheus answer of type %q, want vector, matrix or scalar", r.ResultType)
	}
	var res []seriesJSON
	if err := json.Unmarshal(r.Result, &res); err != nil {
		return nil, fmt.Errorf("prometheus %s: %s", r.ResultType, jsonWhere(err))
	}
	out := make([]Series, 0, len(res))
	for i, res := range res {
		s := Series{Labels: res.Metric}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		if res.Value != nil {
			p, err := point(res.Value)
			if err != nil {
				return nil, fmt.Errorf("result %d: %w", i, err)
			}
			s.Points = []Point{p}
		}
		for j, v := range res.Values {
			p, err := point(v)
			if err != nil {
				return nil, fmt.Errorf("result %d, value %d: %w", i, j, err)
			}
			s.Points = append(s.Points, p)
		}
		out = append(out, s)
	}
	return out, nil
}

// point reads [1700000000.123, "1.5"].
func point(pair []json.RawMessage) (Point, error) {
	if len(pair) != 2 {
		return Point{}, fmt.Errorf("a value has %d parts, want [time, \"value\"]", len(pair))
	}
	var t float64
	if err := json.Unmarshal(pair[0], &t); err != nil {
		return Point{}, fmt.Errorf("time %s is not a number", pair[0])
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return Point{}, fmt.Errorf("value %s is not a string", pair[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Point{}, fmt.Errorf("value %q is not a number", s)
	}
	if math.IsNaN(t) || t < 0 || t > 1e13 {
		return Point{}, fmt.Errorf("time %v out of range", t)
	}
	return Point{T: int64(math.Round(t * 1000)), V: v}, nil
}

func jsonWhere(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%v at byte %d", te, te.Offset)
	}
	return err.Error()
}

// KeyOf finds the join key of a series' labels: the first of keys whose
// label is present. ok is false when none is.
func KeyOf(labels map[string]string, keys []LabelKey) (landscape.JoinKey, bool) {
	for _, k := range keys {
		v, ok := labels[k.Label]
		if !ok || v == "" {
			continue
		}
		if k.StripPort {
			if h, _, err := net.SplitHostPort(v); err == nil {
				v = h
			}
		}
		return landscape.JoinKey{Kind: k.Kind, Value: v}, true
	}
	return landscape.JoinKey{}, false
}

// Samples turns a query's series into samples. Series without any of the
// query's labels are counted in unkeyed.
func (q *Query) Samples(series []Series) (out []telemetry.Sample, unkeyed int) {
	for _, s := range series {
		k, ok := KeyOf(s.Labels, q.Keys)
		if !ok {
			unkeyed++
			continue
		}
		for _, p := range s.Points {
			out = append(out, telemetry.Sample{Key: k, Metric: q.Metric, T: p.T, V: p.V})
		}
	}
	return out, unkeyed
}

// Source polls a server with instant queries.
type Source struct {
	Client   Client
	Queries  []Query       // nil: DefaultQueries
	Window   time.Duration // the rate window, "{{window}}"; 0 means 1 m
	Interval time.Duration // between polls; 0 means 5 s
	// OnSamples gets each poll's samples and the queries that failed
	// (the others' samples still come).
	OnSamples func([]telemetry.Sample, []error)
}

func (s *Source) queries() []Query {
	if s.Queries != nil {
		return s.Queries
	}
	return DefaultQueries()
}

func (s *Source) expr(q Query) string {
	w := s.Window
	if w <= 0 {
		w = time.Minute
	}
	return strings.ReplaceAll(q.PromQL, "{{window}}", strconv.FormatInt(int64(w/time.Millisecond), 10)+"ms")
}

// Poll runs every query once at t.
func (s *Source) Poll(ctx context.Context, t time.Time) ([]telemetry.Sample, []error) {
	var out []telemetry.Sample
	var errs []error
	for _, q := range s.queries() {
		series, err := s.Client.Instant(ctx, s.expr(q), t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.Metric, err))
			continue
		}
		smp, unkeyed := q.Samples(series)
		if unkeyed > 0 {
			errs = append(errs, fmt.Errorf("%s: %d series have none of the labels %v", q.Metric, unkeyed, labels(q.Keys)))
		}
		out = append(out, smp...)
	}
	return out, errs
}

// History runs every query over [start, end] every step.
func (s *Source) History(ctx context.Context, start, end time.Time, step time.Duration) ([]telemetry.Sample, []error) {
	var out []telemetry.Sample
	var errs []error
	for _, q := range s.queries() {
		series, err := s.Client.Range(ctx, s.expr(q), start, end, step)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.Metric, err))
			continue
		}
		smp, _ := q.Samples(series)
		out = append(out, smp...)
	}
	return out, errs
}

func labels(keys []LabelKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Label)
	}
	return out
}

// Run polls at once and then every Interval until ctx ends. Failures are
// reported through OnSamples; polling goes on.
func (s *Source) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		smp, errs := s.Poll(ctx, time.Now())
		if s.OnSamples != nil {
			s.OnSamples(smp, errs)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// URLFromEnv is $FLOWSCAPE_PROMETHEUS_URL, or DefaultURL.
func URLFromEnv() string {
	if u := os.Getenv("FLOWSCAPE_PROMETHEUS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Backend describes the source for the registry.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info checks whether a server answers at $FLOWSCAPE_PROMETHEUS_URL (or
// the default address).
func (Backend) Info(ctx context.Context) sources.Info {
	u := URLFromEnv()
	in := sources.Info{Name: Name, Kind: sources.KindTelemetry,
		Summary: "telemetry from a Prometheus server's HTTP API (PromQL per metric; node-exporter's cpu, device and instance labels join this machine's landscape)",
		Detail:  "server " + u + " (set FLOWSCAPE_PROMETHEUS_URL)"}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c := Client{URL: u, Timeout: 2 * time.Second}
	if err := c.Ready(ctx); err != nil {
		in.Reason = "no Prometheus server answers: " + err.Error()
		return in
	}
	in.Available = true
	return in
}
