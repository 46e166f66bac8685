package telemetry

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"flowscape/landscape"
)

// EvalConfig describes an evaluation run: a generated landscape whose
// hosts, disks, VMs and services have seasonal, noisy metrics, with faults
// injected one after the other on physical hosts.
type EvalConfig struct {
	Nodes  int           // landscape size, as for landscape.Generate
	Hours  float64       // length of the run
	Step   time.Duration // between samples
	Period int           // season length in samples (also Holt-Winters')
	Seed   uint64
	// Spikes is the probability that a normal sample is a lone spike of
	// 6 to 10 standard deviations (k-of-n must not alarm on it).
	Spikes float64
	// Scale multiplies the faults' sizes (0: 1).
	Scale float64
	// Concurrent is how many faults may be under way at once, on
	// different hosts (0 or 1: one after the other).
	Concurrent int
	// Detect configures the detectors; its Period is set from Period.
	Detect Config
}

// DefaultEvalConfig is a 500-node landscape over 24 hours sampled every
// 30 s with a season of one hour.
func DefaultEvalConfig() EvalConfig {
	return EvalConfig{Nodes: 500, Hours: 24, Step: 30 * time.Second, Period: 120, Seed: 1, Spikes: 0.002, Detect: DefaultConfig()}
}

// Fault kinds.
const (
	FaultShift = "level shift"
	FaultSpike = "spike"
	FaultDrift = "drift"
)

// Fault is one injected fault.
type Fault struct {
	Kind       string
	Node       string // the host
	Metric     string
	Start, End int     // sample indices, [Start, End)
	Size       float64 // in the metric's standard deviations at full effect
	// Outcome.
	Detected bool
	Delay    int // samples from Start to the host's alarm
	Rank     int // the host's rank among root causes at that moment (0: not ranked)
}

// effect is the fault's size in standard deviations at sample i.
func (f *Fault) effect(i int) float64 {
	if i < f.Start || i >= f.End {
		return 0
	}
	if f.Kind == FaultDrift {
		return f.Size * min(1, float64(i-f.Start+1)/float64((f.End-f.Start)/2))
	}
	return f.Size
}

// EvalResult is what an evaluation measured.
type EvalResult struct {
	Config        EvalConfig
	Seeds         []uint64 // the runs merged into this result
	Series        int      // series scored
	Samples       int      // samples scored
	NodeHours     float64  // hours of nodes with telemetry
	Faults        []Fault
	Detected      int
	FalseAlarms   int     // alarms on nodes no fault touched at the time
	DetectionRate float64 // Detected / len(Faults)
	FalsePer1000  float64 // false alarms per 1 000 node-hours
	MeanDelay     time.Duration
	MaxDelay      time.Duration
	Top1, Top3    float64 // share of detected faults whose host ranked first, in the first three
	Elapsed       time.Duration
}

type evalSeries struct {
	key        landscape.JoinKey
	node, host string // host: the host whose faults reach this series ("" none)
	metric     string
	base, amp  float64
	sd         float64
	phase      float64
	reach      float64 // share of the host's fault effect this series sees
}

// Synth makes seasonal, noisy metrics for the hosts, disks, VMs and
// services of a generated landscape (landscape.Generate's types), and lets
// a fault on a host show in its own CPU and, weaker, in the VMs deployed
// on it and the services running on those.
type Synth struct {
	Period int     // season length in samples
	Spikes float64 // probability of a lone spike of 6 to 10 σ per sample
	series []evalSeries
	hosts  []string
	rng    *rand.Rand
}

// NewSynth prepares the series of g's nodes.
func NewSynth(g *landscape.Graph, period int, seed uint64) *Synth {
	rng := rand.New(rand.NewPCG(seed, 0xe7a1))
	syn := &Synth{Period: period, rng: rng}
	hostOf := map[string]string{}
	for _, e := range g.Edges {
		if e.Label == landscape.DeployedOn {
			hostOf[e.Source] = e.Target
		}
	}
	for _, e := range g.Edges {
		if e.Label == landscape.RunsOn && hostOf[e.Target] != "" {
			hostOf[e.Source] = hostOf[e.Target]
		}
	}
	add := func(id, host, metric string, base, amp, sd, reach float64) {
		syn.series = append(syn.series, evalSeries{key: landscape.JoinKey{Kind: KeyID, Value: id}, node: id, host: host, metric: metric,
			base: base * (0.7 + 0.6*rng.Float64()), amp: amp * (0.5 + rng.Float64()), sd: sd * (0.7 + 0.6*rng.Float64()),
			phase: rng.Float64() * 0.3, reach: reach})
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.Type {
		case "host":
			syn.hosts = append(syn.hosts, n.ID)
			add(n.ID, n.ID, "cpu_busy_pct", 45, 15, 2, 1)
			add(n.ID, "", "net_rx_mbps", 300, 100, 15, 0)
		case "disk":
			add(n.ID, "", "disk_busy_pct", 20, 6, 2, 0)
		case "vm":
			add(n.ID, hostOf[n.ID], "cpu_busy_pct", 30, 10, 2, 0.5)
		case "service":
			add(n.ID, hostOf[n.ID], "latency_ms", 80, 20, 4, 0.4)
		}
	}
	return syn
}

// Hosts lists the hosts faults can be put on.
func (syn *Synth) Hosts() []string { return syn.hosts }

// Step appends the samples of step i (at Unix ms t) to dst, with faults
// in effect.
func (syn *Synth) Step(dst []Sample, i int, t int64, faults []*Fault) []Sample {
	rng := syn.rng
	for k := range syn.series {
		se := &syn.series[k]
		v := se.base + se.amp*math.Sin(2*math.Pi*(float64(i)/float64(syn.Period)+se.phase)) + se.sd*rng.NormFloat64()
		if rng.Float64() < syn.Spikes {
			v += se.sd * (6 + 4*rng.Float64()) * float64(1-2*rng.IntN(2))
		}
		for _, f := range faults {
			if se.reach > 0 && se.host == f.Node && (se.node != f.Node || se.metric == f.Metric) {
				v += se.reach * f.effect(i) * se.sd
			}
		}
		dst = append(dst, Sample{Key: se.key, Metric: se.metric, T: t, V: v})
	}
	return dst
}

// Evaluate runs an evaluation.
func Evaluate(c EvalConfig) EvalResult {
	begin := time.Now()
	rng := rand.New(rand.NewPCG(c.Seed, 0xe7a1))
	g := landscape.Generate(c.Nodes, c.Seed)
	cfg := c.Detect
	cfg.Period = c.Period
	steps := int(c.Hours * float64(time.Hour) / float64(c.Step))
	cfg.Capacity = 2 * c.Period
	s := NewStore(g, cfg)

	syn := NewSynth(g, c.Period, c.Seed)
	syn.Spikes = c.Spikes
	hosts := syn.Hosts()

	// Faults, one after the other once the detectors are warm, in as many
	// lanes as may run at once, never two at a time on one host.
	warm := 2*c.Period + cfg.Window
	var faults []Fault
	kinds := []string{FaultShift, FaultSpike, FaultDrift}
	lanes := max(c.Concurrent, 1)
	for lane := range lanes {
		for t := warm + c.Period/4 + lane*c.Period/(2*lanes); len(hosts) > lanes; {
			f := Fault{Kind: kinds[len(faults)%3], Node: hosts[rng.IntN(len(hosts))], Metric: "cpu_busy_pct", Start: t}
			switch f.Kind {
			case FaultShift:
				f.End, f.Size = t+20+rng.IntN(40), 6+4*rng.Float64()
			case FaultSpike:
				f.End, f.Size = t+4+rng.IntN(3), 12+6*rng.Float64()
			case FaultDrift:
				f.End, f.Size = t+60+rng.IntN(30), 8+4*rng.Float64()
			}
			if c.Scale > 0 {
				f.Size *= c.Scale
			}
			if f.End+c.Period/4 > steps {
				break
			}
			busy := false
			for _, o := range faults {
				if o.Node == f.Node && o.Start < f.End+c.Period && f.Start < o.End+c.Period {
					busy = true
				}
			}
			if busy {
				continue // another host
			}
			faults = append(faults, f)
			t = f.End + c.Period/2 + rng.IntN(c.Period/2)
		}
	}
	sort.SliceStable(faults, func(a, b int) bool { return faults[a].Start < faults[b].Start })
	grace := max(cfg.N, 10)
	active := func(i int, out []*Fault) []*Fault { // the faults whose window (with grace) holds i
		out = out[:0]
		for k := range faults {
			if faults[k].Start <= i && i < faults[k].End+grace {
				out = append(out, &faults[k])
			}
		}
		return out
	}
	// touched: the nodes a fault reaches (its host and what depends on it).
	dependents, _ := dependencies(g)
	touched := map[string]map[string]bool{}
	for _, f := range faults {
		if touched[f.Node] != nil {
			continue
		}
		m := map[string]bool{f.Node: true}
		q := []string{f.Node}
		for len(q) > 0 {
			x := q[0]
			q = q[1:]
			for _, d := range dependents[x] {
				if !m[d] {
					m[d] = true
					q = append(q, d)
				}
			}
		}
		touched[f.Node] = m
	}

	res := EvalResult{Config: c, Seeds: []uint64{c.Seed}, Series: len(syn.series)}
	nodesWith := map[string]bool{}
	for _, se := range syn.series {
		nodesWith[se.node] = true
	}
	res.NodeHours = float64(len(nodesWith)) * c.Hours
	alarmed := map[string]bool{}
	batch := make([]Sample, 0, len(syn.series))
	var act []*Fault
	t0 := int64(1_700_000_000_000)
	stepMS := c.Step.Milliseconds()
	for i := range steps {
		act = active(i, act)
		batch = syn.Step(batch[:0], i, t0+int64(i)*stepMS, act)
		s.Add(batch...)
		res.Samples += len(batch)
		// Node levels after this step.
		now := map[string]bool{}
		for _, se := range s.series {
			if p, ok := se.Last(); ok && p.Level >= Warning {
				now[se.Node] = true
			}
		}
		for id := range now {
			if alarmed[id] {
				continue
			}
			explained := false
			for _, f := range act {
				explained = explained || touched[f.Node][id]
			}
			if !explained {
				res.FalseAlarms++
			}
		}
		alarmed = now
		for _, f := range act {
			if f.Detected || !now[f.Node] || i < f.Start {
				continue
			}
			f.Detected = true
			f.Delay = i - f.Start
			// Its rank among the causes, not counting the other faults'
			// hosts (each is a right answer for its own fault).
			a := s.Assess(t0+int64(i)*stepMS, 0)
			others := map[string]bool{}
			for _, o := range act {
				if o != f {
					others[o.Node] = true
				}
			}
			r := 0
			for _, id := range a.Causes {
				if others[id] {
					continue
				}
				r++
				if id == f.Node {
					f.Rank = r
					break
				}
			}
		}
	}
	res.Faults = faults
	var delay, maxDelay int
	var top1, top3 int
	for _, f := range faults {
		if !f.Detected {
			continue
		}
		res.Detected++
		delay += f.Delay
		maxDelay = max(maxDelay, f.Delay)
		if f.Rank == 1 {
			top1++
		}
		if f.Rank >= 1 && f.Rank <= 3 {
			top3++
		}
	}
	if len(faults) > 0 {
		res.DetectionRate = float64(res.Detected) / float64(len(faults))
	}
	if res.Detected > 0 {
		res.MeanDelay = time.Duration(float64(delay) / float64(res.Detected) * float64(c.Step))
		res.Top1 = float64(top1) / float64(res.Detected)
		res.Top3 = float64(top3) / float64(res.Detected)
	}
	res.MaxDelay = time.Duration(maxDelay) * c.Step
	if res.NodeHours > 0 {
		res.FalsePer1000 = float64(res.FalseAlarms) / res.NodeHours * 1000
	}
	res.Elapsed = time.Since(begin)
	return res
}

// Merge adds another run's counts to r (for several seeds).
func (r EvalResult) Merge(o EvalResult) EvalResult {
	out := r
	out.Series += o.Series
	out.Samples += o.Samples
	out.NodeHours += o.NodeHours
	out.Faults = append(slices.Clip(r.Faults), o.Faults...)
	out.Seeds = append(slices.Clip(r.Seeds), o.Seeds...)
	out.FalseAlarms += o.FalseAlarms
	out.Elapsed += o.Elapsed
	var det, delay, top1, top3 int
	var maxDelay time.Duration
	for _, f := range out.Faults {
		if f.Detected {
			det++
			delay += f.Delay
			maxDelay = max(maxDelay, time.Duration(f.Delay)*r.Config.Step)
			if f.Rank == 1 {
				top1++
			}
			if f.Rank >= 1 && f.Rank <= 3 {
				top3++
			}
		}
	}
	out.Detected = det
	out.DetectionRate = float64(det) / float64(max(len(out.Faults), 1))
	out.FalsePer1000 = float64(out.FalseAlarms) / max(out.NodeHours, 1e-9) * 1000
	out.MaxDelay = maxDelay
	if det > 0 {
		out.MeanDelay = time.Duration(float64(delay) / float64(det) * float64(r.Config.Step))
		out.Top1 = float64(top1) / float64(det)
		out.Top3 = float64(top3) / float64(det)
	}
	return out
}

// Report writes the figures and a line per fault kind.
func (r EvalResult) Report(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "landscape %d nodes (seeds %v), %.0f h sampled every %s, season %d samples; %d series, %d samples scored in %s (%.2f M samples/s)\n",
		c.Nodes, r.Seeds, c.Hours, c.Step, c.Period, r.Series, r.Samples, r.Elapsed.Round(time.Millisecond), float64(r.Samples)/max(r.Elapsed.Seconds(), 1e-9)/1e6)
	scale := c.Scale
	if scale <= 0 {
		scale = 1
	}
	fmt.Fprintf(w, "faults injected:   %d on hosts, up to %d at once, sizes × %g (level shifts, spikes, drifts; VMs and services on the host see part of it)\n", len(r.Faults), max(c.Concurrent, 1), scale)
	fmt.Fprintf(w, "detection rate:    %.1f %% (%d of %d)\n", 100*r.DetectionRate, r.Detected, len(r.Faults))
	fmt.Fprintf(w, "false alarms:      %.2f per 1000 node-hours (%d in %.0f node-hours)\n", r.FalsePer1000, r.FalseAlarms, r.NodeHours)
	fmt.Fprintf(w, "detection delay:   mean %s, max %s\n", r.MeanDelay.Round(time.Second), r.MaxDelay)
	fmt.Fprintf(w, "root cause:        top-1 %.1f %%, top-3 %.1f %% of detected faults\n", 100*r.Top1, 100*r.Top3)
	for _, k := range []string{FaultShift, FaultSpike, FaultDrift} {
		ks := r.Kind(k)
		fmt.Fprintf(w, "  %-12s %3d injected, %3d detected (mean delay %s), %3d ranked first\n", k+":", ks.Injected, ks.Detected, ks.MeanDelay.Round(time.Second), ks.Top1)
	}
}

// KindStats are the figures of one kind of fault.
type KindStats struct {
	Injected, Detected, Top1 int
	MeanDelay                time.Duration
	// MeanDelayShare is the delay as a share of the fault's length.
	MeanDelayShare float64
}

// Kind returns the figures of the faults of kind k.
func (r EvalResult) Kind(k string) KindStats {
	var ks KindStats
	var delay, share float64
	for _, f := range r.Faults {
		if f.Kind != k {
			continue
		}
		ks.Injected++
		if f.Detected {
			ks.Detected++
			delay += float64(f.Delay)
			share += float64(f.Delay) / float64(f.End-f.Start)
			if f.Rank == 1 {
				ks.Top1++
			}
		}
	}
	if ks.Detected > 0 {
		ks.MeanDelay = time.Duration(delay / float64(ks.Detected) * float64(r.Config.Step))
		ks.MeanDelayShare = share / float64(ks.Detected)
	}
	return ks
}
