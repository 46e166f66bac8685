package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources/prometheus"
	"flowscape/sources/telemetrycsv"
)

const anomaliesSynopsis = "flowscape anomalies --landscape FILE|local --telemetry FILE.csv [--format text|json] [--at TIME] [--season DURATION]\n" +
	"           [--warn SIGMAS] [--crit SIGMAS] [--k K] [--n N] [--cusum-k SIGMAS] [--cusum-h SIGMAS] [--gap N]\n" +
	"       flowscape anomalies --landscape FILE|local --prometheus URL [--range 1h] [--step 15s] [--queries FILE.json] [...]\n" +
	"       flowscape anomalies --evaluate [--nodes N] [--hours H] [--seeds 1,2,3] [--concurrent K] [--fault-scale F]"

func cmdAnomalies(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("anomalies", anomaliesSynopsis, stderr)
	land := fs.String("landscape", "", "the landscape `FILE` (landscaper JSON, hwloc XML, Flowscape JSON), or local for this machine")
	tele := fs.String("telemetry", "", "the telemetry `CSV` file: timestamp,node,metric,value rows; node is a node id or kind=value (hostname, mac, device, cpu, cgroup, uuid)")
	format := fs.String("format", "text", "output `FORMAT`: text or json")
	at := fs.String("at", "", "assess at `TIME` (Unix seconds or RFC 3339) instead of the last sample")
	season := fs.Duration("season", 0, "the series' season (e.g. 24h), for Holt-Winters; 0 leaves it out")
	def := telemetry.DefaultConfig()
	warn := fs.Float64("warn", def.Warn, "a sample scoring at least `SIGMAS` is a hit")
	crit := fs.Float64("crit", def.Crit, "a hit scoring at least `SIGMAS` is critical")
	k := fs.Int("k", def.K, "an alarm needs `K` hits…")
	n := fs.Int("n", def.N, "…among the last `N` samples (at most 64)")
	cusumK := fs.Float64("cusum-k", def.CusumK, "the CUSUM (lasting shifts, slow drifts) adds each deviation less an allowance of `SIGMAS`…")
	cusumH := fs.Float64("cusum-h", def.CusumH, "…and a sum reaching `SIGMAS` is a hit (warning); 0 turns the CUSUM off")
	gap := fs.Float64("gap", def.Gap, "an interval longer than `N` of a series' usual steps is a gap: the first sample after it is not scored (N > 1)")
	promURL := fs.String("prometheus", "", "read the telemetry from the Prometheus server at `URL` (range queries) instead of a CSV file")
	promRange := fs.Duration("range", time.Hour, "with --prometheus: how far back to read")
	promStep := fs.Duration("step", 15*time.Second, "with --prometheus: the range queries' step")
	promWindow := fs.Duration("rate-window", time.Minute, "with --prometheus: the window of rate() in the queries ({{window}})")
	queries := fs.String("queries", "", "with --prometheus: a JSON `FILE` of queries [{\"metric\", \"promql\", \"keys\": [{\"label\", \"kind\"}]}] instead of node-exporter's")
	evaluate := fs.Bool("evaluate", false, "run the evaluation on generated landscapes with injected faults instead")
	nodes := fs.Int("nodes", 500, "evaluation: landscape size")
	hours := fs.Float64("hours", 24, "evaluation: hours of 30 s samples")
	seeds := fs.String("seeds", "1,2,3", "evaluation: comma-separated `SEEDS`, one run each")
	concurrent := fs.Int("concurrent", 1, "evaluation: faults under way at once, on different hosts")
	scale := fs.Float64("fault-scale", 1, "evaluation: multiply the injected faults' sizes (shifts 6–10 σ, spikes 12–18 σ, drifts 8–12 σ) by `F`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "flowscape anomalies: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "flowscape anomalies: unknown format %q (want text or json)\n", *format)
		return 2
	}
	if *n < 1 || *n > 64 || *k < 1 || *k > *n {
		fmt.Fprintf(stderr, "flowscape anomalies: want 1 ≤ K ≤ N ≤ 64, got K=%d N=%d\n", *k, *n)
		return 2
	}
	for _, f := range []struct {
		name string
		v    float64
		ok   bool
		want string
	}{
		{"warn", *warn, *warn > 0, "a number of σ above 0"},
		{"crit", *crit, *crit > 0, "a number of σ above 0"},
		{"cusum-k", *cusumK, *cusumK >= 0, "a number of σ, 0 or more"},
		{"cusum-h", *cusumH, *cusumH >= 0, "a number of σ, 0 or more (0 turns the CUSUM off)"},
		{"gap", *gap, *gap > 1, "a number of steps above 1"},
	} {
		if !f.ok || math.IsInf(f.v, 0) { // NaN is not ok
			fmt.Fprintf(stderr, "flowscape anomalies: --%s %v: want %s\n", f.name, f.v, f.want)
			return 2
		}
	}
	cfg := def
	cfg.Warn, cfg.Crit, cfg.K, cfg.N = *warn, *crit, *k, *n
	cfg.CusumK, cfg.CusumH, cfg.Gap = *cusumK, *cusumH, *gap
	if *evaluate {
		return runEvaluation(*nodes, *hours, *seeds, *concurrent, *scale, cfg, *format, stdout, stderr)
	}
	if *land == "" || (*tele == "") == (*promURL == "") {
		fmt.Fprintln(stderr, "flowscape anomalies: want --landscape and one of --telemetry or --prometheus (or --evaluate)")
		fs.Usage()
		return 2
	}
	if *promURL != "" && (*promStep <= 0 || *promRange < *promStep) {
		fmt.Fprintf(stderr, "flowscape anomalies: want 0 < --step ≤ --range, got %s and %s\n", *promStep, *promRange)
		return 2
	}
	src := *land
	if src != "local" && !strings.HasPrefix(src, "file:") {
		src = "file:" + src
	}
	l, code := loadLandscape(src, stderr)
	if l == nil {
		return code
	}
	var samples []telemetry.Sample
	var rep telemetrycsv.Report
	var err error
	if *promURL != "" {
		samples, err = prometheusHistory(*promURL, *queries, *promRange, *promStep, *promWindow, stderr)
		*tele = *promURL
	} else {
		samples, rep, err = telemetrycsv.Load(*tele)
	}
	if err != nil {
		return errorf(stderr, "%v", err)
	}
	if rep.Bad > 0 {
		fmt.Fprintf(stderr, "flowscape: %s: %d bad rows skipped\n", *tele, rep.Bad)
		for _, b := range rep.Some {
			fmt.Fprintf(stderr, "  %s:%s\n", *tele, b)
		}
	}
	if len(samples) == 0 {
		return errorf(stderr, "%s: no samples", *tele)
	}
	// Each series is scored in the order its samples came (the file's):
	// one out of time order is dropped and counted, three in a row before
	// the series' last one are a clock that went back, which the series
	// follows (sorting by time would interleave the values from before
	// and after the jump).
	var when int64 // the last sample with a value
	for _, s := range samples {
		if !math.IsNaN(s.V) && !math.IsInf(s.V, 0) {
			when = max(when, s.T)
		}
	}
	if *at != "" {
		t, err := parseLandscapeTime(*at)
		if err != nil {
			fmt.Fprintf(stderr, "flowscape anomalies: --at %q: %v\n", *at, err)
			return 2
		}
		when = int64(t) * 1000
	}
	if *season > 0 {
		step := medianStep(samples)
		if step <= 0 {
			return errorf(stderr, "--season: the samples have no regular step")
		}
		cfg.Period = int(season.Milliseconds() / step)
		if cfg.Period < 2 {
			return errorf(stderr, "--season %s is shorter than two samples (%d ms apart)", season, step)
		}
	}
	cfg.Capacity = max(cfg.Capacity, countUpTo(samples, when)+1)
	g := l.At(landscape.Time(when / 1000))
	if len(g.Nodes) == 0 {
		g = l.Latest()
	}
	store := telemetry.NewStore(g, cfg)
	store.Add(samples...)
	a := store.Assess(when, 0)
	doc := anomaliesDoc(g, store, a, rep)
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return errorf(stderr, "%v", err)
		}
		return 0
	}
	writeAnomaliesText(stdout, doc)
	return 0
}

// countUpTo counts the samples of the busiest series up to t, so that the
// store keeps all of them.
func countUpTo(samples []telemetry.Sample, t int64) int {
	type key struct {
		k landscape.JoinKey
		m string
	}
	c := map[key]int{}
	most := 0
	for _, s := range samples {
		if s.T <= t {
			c[key{s.Key, s.Metric}]++
			most = max(most, c[key{s.Key, s.Metric}])
		}
	}
	return most
}

// medianStep is the median time between a series' samples (ms).
func medianStep(samples []telemetry.Sample) int64 {
	last := map[string]int64{}
	var d []int64
	for _, s := range samples {
		k := s.Key.Kind + "=" + s.Key.Value + " " + s.Metric
		if t, ok := last[k]; ok && s.T > t {
			d = append(d, s.T-t)
		}
		last[k] = s.T
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// anomalyNode is one node in the command's output.
type anomalyNode struct {
	ID         string   `json:"id"`
	Name       string   `json:"name,omitempty"`
	Type       string   `json:"type,omitempty"`
	State      string   `json:"state"`
	Score      float64  `json:"score"`              // σ for a z-score; the CUSUM's is an equivalent (see Detector)
	Detector   string   `json:"detector,omitempty"` // whose score Score is: mad, ewma, holt-winters or cusum
	Metric     string   `json:"metric,omitempty"`
	FirstAlarm string   `json:"first_alarm,omitempty"`
	Rank       int      `json:"rank,omitempty"`
	ImpactedBy []string `json:"impacted_by,omitempty"`
	Via        []string `json:"via,omitempty"` // the neighbour each impact came through, in ImpactedBy's order
}

type unjoinedSeries struct {
	Key       string `json:"key"`
	Metric    string `json:"metric"`
	Ambiguous bool   `json:"ambiguous,omitempty"`
	JoinedTo  string `json:"joined_to,omitempty"`
}

type anomaliesOutput struct {
	At         string           `json:"at"`
	Samples    int              `json:"samples"`
	Skipped    map[string]int   `json:"skipped"`
	Gaps       int              `json:"gaps"`       // intervals longer than --gap usual steps: the sample after each was not scored
	ClockBack  int              `json:"clock_back"` // a series' clock went back and the series followed it
	Thresholds thresholdsDoc    `json:"thresholds"`
	RootCauses []string         `json:"root_causes"`
	Nodes      []anomalyNode    `json:"nodes"`
	Unjoined   []unjoinedSeries `json:"unjoined"`
	BadRows    []string         `json:"bad_rows,omitempty"`
}

// thresholdsDoc is the detection settings the command used (its flags).
type thresholdsDoc struct {
	Warn   float64 `json:"warn"`
	Crit   float64 `json:"crit"`
	K      int     `json:"k"`
	N      int     `json:"n"`
	CusumK float64 `json:"cusum_k"`
	CusumH float64 `json:"cusum_h"` // 0: the CUSUM is off
	Gap    float64 `json:"gap"`
}

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func anomaliesDoc(g *landscape.Graph, s *telemetry.Store, a *telemetry.Assessment, rep telemetrycsv.Report) anomaliesOutput {
	st := s.Stats()
	out := anomaliesOutput{At: msTime(a.At), Samples: st.Samples, RootCauses: a.Causes,
		Skipped: map[string]int{"bad_rows": rep.Bad, "nan": st.NaN, "out_of_order": st.OutOfOrder},
		Gaps:    st.Gaps, ClockBack: st.ClockBack}
	c := s.Config()
	out.Thresholds = thresholdsDoc{Warn: c.Warn, Crit: c.Crit, K: c.K, N: c.N, CusumK: c.CusumK, CusumH: c.CusumH, Gap: c.Gap}
	if out.RootCauses == nil {
		out.RootCauses = []string{}
	}
	for _, st := range a.Nodes {
		nd := anomalyNode{ID: st.ID, State: st.Level.String(), Score: float64(int(st.Score*100+0.5)) / 100, Metric: st.Metric,
			Detector: st.By.String(), Rank: st.Rank, ImpactedBy: st.ImpactedBy}
		if st.Level == telemetry.NoData {
			nd.State = "impacted"
		}
		if n := g.Node(st.ID); n != nil {
			nd.Name, nd.Type = n.Label(), n.Type
		}
		if st.Since > 0 {
			nd.FirstAlarm = msTime(st.Since)
		}
		for _, x := range st.ImpactedBy {
			nd.Via = append(nd.Via, st.Via[x])
		}
		out.Nodes = append(out.Nodes, nd)
	}
	// Root causes by rank, then the other anomalous and impacted nodes by
	// score, then the quiet ones by id.
	order := func(n anomalyNode) int {
		switch {
		case n.Rank > 0:
			return 0
		case len(n.ImpactedBy) > 0:
			return 1
		}
		return 2
	}
	slices.SortFunc(out.Nodes, func(x, y anomalyNode) int {
		if c := order(x) - order(y); c != 0 {
			return c
		}
		if x.Rank != y.Rank {
			return x.Rank - y.Rank
		}
		if x.Score != y.Score && order(x) == 1 {
			if x.Score > y.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(x.ID, y.ID)
	})
	out.Unjoined = []unjoinedSeries{}
	for _, u := range s.Unjoined() {
		us := unjoinedSeries{Key: u.Key.Kind + "=" + u.Key.Value, Metric: u.Metric, Ambiguous: u.Ambiguous}
		if u.Ambiguous {
			us.JoinedTo = u.Node
		}
		out.Unjoined = append(out.Unjoined, us)
	}
	for _, b := range rep.Some {
		out.BadRows = append(out.BadRows, b.String())
	}
	return out
}

func writeAnomaliesText(w io.Writer, d anomaliesOutput) {
	var crit, warn, imp int
	for _, n := range d.Nodes {
		switch {
		case n.State == "critical":
			crit++
		case n.State == "warning":
			warn++
		case len(n.ImpactedBy) > 0:
			imp++
		}
	}
	fmt.Fprintf(w, "At %s: %d critical, %d warning, %d more impacted; %d samples", d.At, crit, warn, imp, d.Samples)
	if d.Skipped["bad_rows"]+d.Skipped["nan"]+d.Skipped["out_of_order"] > 0 {
		fmt.Fprintf(w, " (skipped: %d bad rows, %d NaN or infinite, %d out of order)", d.Skipped["bad_rows"], d.Skipped["nan"], d.Skipped["out_of_order"])
	}
	fmt.Fprintln(w)
	if d.Gaps+d.ClockBack > 0 {
		fmt.Fprintf(w, "%s in series (the sample after each not scored); a series' clock went back %s (the series followed it)\n",
			plural(d.Gaps, "gap"), plural(d.ClockBack, "time"))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRANK\tNODE\tSTATE\tSCORE\tMETRIC\tFIRST ALARM\tIMPACTED BY")
	for _, n := range d.Nodes {
		if n.State == "ok" && len(n.ImpactedBy) == 0 {
			continue
		}
		rank := "-"
		if n.Rank > 0 {
			rank = strconv.Itoa(n.Rank)
		}
		var by []string
		for i, x := range n.ImpactedBy {
			if n.Via[i] != x {
				by = append(by, x+" (via "+n.Via[i]+")")
			} else {
				by = append(by, x)
			}
		}
		score, metric, first := "-", "-", "-"
		if n.State != "impacted" {
			alarm := n.State == "warning" || n.State == "critical"
			score, metric = scoreText(n.Score, n.Detector == telemetry.DetCUSUM, alarm, d.Thresholds.Warn), n.Metric
		}
		if n.FirstAlarm != "" {
			first = n.FirstAlarm
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rank, n.ID, n.State, score, metric, first, strings.Join(by, ", "))
	}
	tw.Flush()
	ok := 0
	for _, n := range d.Nodes {
		if n.State == "ok" && len(n.ImpactedBy) == 0 {
			ok++
		}
	}
	fmt.Fprintf(w, "\n%d more nodes with telemetry are ok.\n", ok)
	if len(d.Unjoined) > 0 {
		fmt.Fprintf(w, "\n%d series found no single node:\n", len(d.Unjoined))
		for _, u := range d.Unjoined {
			if u.Ambiguous {
				fmt.Fprintf(w, "  %s %s: several nodes have this key; shown on %s\n", u.Key, u.Metric, u.JoinedTo)
			} else {
				fmt.Fprintf(w, "  %s %s: no node of the landscape has this key\n", u.Key, u.Metric)
			}
		}
	}
}

func runEvaluation(nodes int, hours float64, seeds string, concurrent int, scale float64, cfg telemetry.Config, format string, stdout, stderr io.Writer) int {
	var all telemetry.EvalResult
	for i, f := range strings.Split(seeds, ",") {
		seed, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "flowscape anomalies: --seeds: %q is not a number\n", f)
			return 2
		}
		c := telemetry.DefaultEvalConfig()
		c.Nodes, c.Hours, c.Seed, c.Concurrent, c.Scale = nodes, hours, seed, concurrent, scale
		c.Detect = cfg
		r := telemetry.Evaluate(c)
		if i == 0 {
			all = r
		} else {
			all = all.Merge(r)
		}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		doc := map[string]any{
			"nodes": nodes, "hours": hours, "concurrent": max(concurrent, 1), "fault_scale": scale, "seeds": all.Seeds, "series": all.Series, "samples": all.Samples,
			"faults": len(all.Faults), "detected": all.Detected, "detection_rate": all.DetectionRate,
			"false_alarms": all.FalseAlarms, "node_hours": all.NodeHours, "false_alarms_per_1000_node_hours": all.FalsePer1000,
			"mean_delay_s": all.MeanDelay.Seconds(), "max_delay_s": all.MaxDelay.Seconds(),
			"root_cause_top1": all.Top1, "root_cause_top3": all.Top3,
			"samples_per_s": float64(all.Samples) / max(all.Elapsed.Seconds(), 1e-9),
		}
		if err := enc.Encode(doc); err != nil {
			return errorf(stderr, "%v", err)
		}
		return 0
	}
	all.Report(stdout)
	return 0
}

// prometheusHistory reads the last span of every query from a Prometheus
// server. A query that fails is reported and the others are kept.
func prometheusHistory(url, queriesFile string, span, step, window time.Duration, stderr io.Writer) ([]telemetry.Sample, error) {
	src := prometheus.Source{Client: prometheus.Client{URL: url, Timeout: 30 * time.Second}, Window: window}
	if queriesFile != "" {
		data, err := os.ReadFile(queriesFile)
		if err != nil {
			return nil, err
		}
		src.Queries, err = prometheus.ReadQueries(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", queriesFile, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	end := time.Now()
	samples, errs := src.History(ctx, end.Add(-span), end, step)
	for _, err := range errs {
		fmt.Fprintf(stderr, "flowscape: %v\n", err)
	}
	if len(samples) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("no query of %s answered", url)
	}
	return samples, nil
}
