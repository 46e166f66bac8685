package telemetry

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"flowscape/landscape"
)

func key(kind, v string) landscape.JoinKey { return landscape.JoinKey{Kind: kind, Value: v} }

// host h1 with cpu0 and eth0; vm1 deployed on h1 requiring vol1; svc
// running on vm1; host h2 alone.
func smallGraph() *landscape.Graph {
	n := func(id, typ string, attrs ...string) landscape.Node {
		a := map[string]string{}
		for i := 0; i+1 < len(attrs); i += 2 {
			a[attrs[i]] = attrs[i+1]
		}
		return landscape.Node{ID: id, Type: typ, Layer: landscape.Physical, Attrs: a}
	}
	return landscape.NewGraph([]landscape.Node{
		n("h1", "machine", landscape.KeyHostname, "h1"),
		n("h1/cpu0", "thread", landscape.KeyCPU, "0"),
		n("h1/eth0", "nic", landscape.KeyDevice, "eth0"),
		n("h2", "machine", landscape.KeyHostname, "h2"),
		n("h2/eth0", "nic", landscape.KeyDevice, "eth0"),
		n("vm1", "vm", landscape.KeyUUID, "0c3e0a4e-5b1a-4f5c-9a53-6c1f3b2f9d10"),
		n("vol1", "volume"),
		n("svc", "service", landscape.KeyCgroup, "/system.slice/svc.service"),
		{ID: "a-svc-unit", Type: "service", Layer: landscape.Service, Attrs: map[string]string{landscape.KeyCgroup: "/system.slice/svc.service"}},
	}, []landscape.Edge{
		{Source: "h1", Target: "h1/cpu0", Label: landscape.Contains},
		{Source: "h1", Target: "h1/eth0", Label: landscape.Contains},
		{Source: "h2", Target: "h2/eth0", Label: landscape.Contains},
		{Source: "vm1", Target: "h1", Label: landscape.DeployedOn},
		{Source: "vm1", Target: "vol1", Label: landscape.Requires},
		{Source: "svc", Target: "vm1", Label: landscape.RunsOn},
		{Source: "svc", Target: "h2", Label: landscape.Communicates},
	})
}

func TestStoreJoinsByKeys(t *testing.T) {
	s := NewStore(smallGraph(), testConfig())
	s.Add(
		Sample{Key: key(landscape.KeyCPU, "0"), Metric: "cpu_busy_pct", T: 1000, V: 5},
		Sample{Key: key(landscape.KeyHostname, "h2"), Metric: "mem_used_pct", T: 1000, V: 40},
		Sample{Key: key(landscape.KeyUUID, "0c3e0a4e-5b1a-4f5c-9a53-6c1f3b2f9d10"), Metric: "cpu", T: 1000, V: 1},
		Sample{Key: key(landscape.KeyCgroup, "/system.slice/svc.service"), Metric: "cpu", T: 1000, V: 1},
		Sample{Key: key(KeyID, "vol1"), Metric: "iops", T: 1000, V: 1},
		Sample{Key: key(landscape.KeyDevice, "eth0"), Metric: "rx_bytes", T: 1000, V: 1},
		Sample{Key: key(landscape.KeyDevice, "sdz"), Metric: "busy_pct", T: 1000, V: 1},
	)
	for id, metric := range map[string]string{"h1/cpu0": "cpu_busy_pct", "h2": "mem_used_pct", "vm1": "cpu", "svc": "cpu", "vol1": "iops", "h1/eth0": "rx_bytes"} {
		got := s.Series(id)
		if len(got) != 1 || got[0].Metric != metric || len(got[0].Points) != 1 {
			t.Errorf("Series(%q) = %+v, want one %s point", id, got, metric)
		}
	}
	un := s.Unjoined()
	if len(un) != 2 {
		t.Fatalf("Unjoined() = %+v, want eth0 (ambiguous) and sdz (no node)", un)
	}
	if un[0].Key.Value != "eth0" || !un[0].Ambiguous || un[0].Node != "h1/eth0" {
		t.Errorf("Unjoined()[0] = %+v, want eth0 ambiguous, joined to h1/eth0", un[0])
	}
	if un[1].Key.Value != "sdz" || un[1].Node != "" {
		t.Errorf("Unjoined()[1] = %+v, want sdz with no node", un[1])
	}
	// A landscape where sdz appears joins its series.
	g := smallGraph()
	g = g.Merge(landscape.NewGraph([]landscape.Node{{ID: "h1/sdz", Attrs: map[string]string{landscape.KeyDevice: "sdz"}}}, nil))
	s.SetGraph(g)
	if got := s.Series("h1/sdz"); len(got) != 1 {
		t.Errorf("after SetGraph, Series(h1/sdz) = %+v, want the series that was unjoined", got)
	}
}

func TestStoreSkipsBadSamplesAndIsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.Capacity = 10
	s := NewStore(smallGraph(), cfg)
	k := key(landscape.KeyCPU, "0")
	for i := range 25 {
		s.Add(Sample{Key: k, Metric: "m", T: int64(i) * 1000, V: float64(i)})
	}
	s.Add(Sample{Key: k, Metric: "m", T: 30000, V: math.NaN()},
		Sample{Key: k, Metric: "m", T: 31000, V: math.Inf(1)},
		Sample{Key: k, Metric: "m", T: 5000, V: 1},  // clock went back
		Sample{Key: k, Metric: "m", T: 24000, V: 1}, // same time again
	)
	st := s.Stats()
	if st.Samples != 25 || st.NaN != 2 || st.OutOfOrder != 2 {
		t.Errorf("Stats() = %+v, want 25 samples, 2 NaN, 2 out of order", st)
	}
	pts := s.Series("h1/cpu0")[0].Points
	if len(pts) != 10 || pts[0].T != 15000 || pts[9].T != 24000 {
		t.Errorf("kept %d points from %d to %d, want the last 10 (15000…24000)", len(pts), pts[0].T, pts[len(pts)-1].T)
	}
	if first, last := s.TimeRange(); first != 15000 || last != 24000 {
		t.Errorf("TimeRange() = %d, %d", first, last)
	}
}

// feed gives every listed key 100 normal samples, then a shift of the
// given size on some of them for 10 samples.
func feed(s *Store, normal []landscape.JoinKey, shift map[landscape.JoinKey]float64) int64 {
	rng := rand.New(rand.NewPCG(9, 10))
	var t int64
	for i := range 110 {
		t = int64(i) * 1000
		for _, k := range normal {
			v := 50 + rng.NormFloat64()
			if i >= 100 {
				v += shift[k]
			}
			s.Add(Sample{Key: k, Metric: "m", T: t, V: v})
		}
	}
	return t
}

func TestAssessRollUpPropagationAndRank(t *testing.T) {
	s := NewStore(smallGraph(), testConfig())
	cpu, h2, vm, svc := key(landscape.KeyCPU, "0"), key(landscape.KeyHostname, "h2"), key(KeyID, "vm1"), key(KeyID, "svc")
	end := feed(s, []landscape.JoinKey{cpu, h2, vm, svc}, map[landscape.JoinKey]float64{cpu: 30, vm: 6})

	a := s.Assess(end, 0)
	c := a.State("h1/cpu0")
	if c.Level != Critical || c.Metric != "m" || c.Since != 102000 {
		t.Errorf("cpu0 = %+v, want critical on m since 102000 (third shifted sample)", c)
	}
	if v := a.State("vm1"); v.Level < Warning {
		t.Errorf("vm1 = %+v, want its own alarm", v)
	}
	if got := a.State("h2"); got.Level != OK || got.Impacted() {
		t.Errorf("h2 = %+v, want ok and not impacted (COMMUNICATES carries no impact)", got)
	}
	// The host contains the busy CPU: impacted via it; the VM on the host
	// and the service on the VM are impacted through the chain.
	if got := a.State("h1"); got.Level != NoData || !slices.Equal(got.ImpactedBy, []string{"h1/cpu0"}) {
		t.Errorf("h1 = %+v, want no data of its own, impacted by h1/cpu0", got)
	}
	sv := a.State("svc")
	if sv.Level != OK || !slices.Equal(sv.ImpactedBy, []string{"h1/cpu0", "vm1"}) || sv.Via["h1/cpu0"] != "vm1" || sv.Via["vm1"] != "vm1" {
		t.Errorf("svc = %+v, want ok, impacted by h1/cpu0 via vm1 and by vm1", sv)
	}
	if a.State("vol1").Impacted() {
		t.Error("vol1 impacted: nothing it depends on is anomalous")
	}
	if !slices.Equal(a.Causes, []string{"h1/cpu0", "vm1"}) {
		t.Errorf("Causes = %v, want the CPU the VM depends on first", a.Causes)
	}
	if c.Rank != 1 || a.State("vm1").Rank != 2 {
		t.Errorf("ranks %d, %d", c.Rank, a.State("vm1").Rank)
	}
	crit, warn, imp := a.Counts()
	if crit+warn != 2 || imp != 2 {
		t.Errorf("Counts() = %d, %d, %d; want 2 anomalous and 2 impacted only (h1, svc)", crit, warn, imp)
	}

	// Before the shift, nothing; an assessment at an earlier time replays it.
	if early := s.Assess(99000, 0); len(early.Causes) != 0 {
		t.Errorf("at 99000: causes %v, want none", early.Causes)
	}
	// Stale series are ignored.
	if late := s.Assess(end+60000, 5000); len(late.Nodes) != 0 {
		t.Errorf("a minute after the last sample with 5 s staleness: %d nodes known", len(late.Nodes))
	}
}

// A bigger anomaly lower in the stack still wins when it is what the
// others depend on, even with the smaller score.
func TestRankPrefersTheDependee(t *testing.T) {
	s := NewStore(smallGraph(), testConfig())
	cpu, vm, svc := key(landscape.KeyCPU, "0"), key(KeyID, "vm1"), key(KeyID, "svc")
	end := feed(s, []landscape.JoinKey{cpu, vm, svc}, map[landscape.JoinKey]float64{cpu: 9, vm: 30, svc: 30})
	a := s.Assess(end, 0)
	if len(a.Causes) != 3 || a.Causes[0] != "h1/cpu0" {
		t.Errorf("Causes = %v, want h1/cpu0 first", a.Causes)
	}
}

// Scoring the points kept again with other thresholds changes the levels
// as the thresholds say; with the same configuration it gives the same
// points, a gap included.
func TestRescore(t *testing.T) {
	cfg := testConfig()
	s := NewStore(smallGraph(), cfg)
	rng := rand.New(rand.NewPCG(4, 4))
	k := key(KeyID, "h1")
	ms := int64(0)
	for i := range 400 {
		v := 50 + rng.NormFloat64()
		switch {
		case i >= 380 && i < 386: // 3σ for six values: only the CUSUM sees it
			v += 3
		case i >= 390: // 20σ to the end: critical from its third value
			v += 20
		}
		if i == 200 {
			ms += 3600_000 // a gap of an hour
		}
		s.Add(Sample{Key: k, Metric: "m", T: ms, V: v})
		ms += 1000
	}
	before := s.Series("h1")[0].Points
	level := func(i int) Level { return s.Series("h1")[0].Points[i].Level }
	if level(385) != Warning || level(392) != Critical {
		t.Fatalf("levels at the small shift and at the end: %v, %v; want warning, critical", level(385), level(392))
	}
	if n := s.Rescore(cfg); n != 400 {
		t.Errorf("Rescore scored %d points, want 400", n)
	}
	if after := s.Series("h1")[0].Points; !slices.Equal(after, before) {
		t.Error("scoring again with the same configuration changed the points")
	}

	hi := cfg
	hi.Warn, hi.Crit, hi.CusumH = 10, 30, 8
	s.Rescore(hi)
	if level(385) != OK || level(392) != Warning {
		t.Errorf("warning at 10σ, critical at 30σ, CUSUM at 8σ: levels %v, %v; want ok, warning", level(385), level(392))
	}
	one := cfg
	one.K, one.N = 1, 1
	s.Rescore(one)
	if level(390) != Critical {
		t.Errorf("1 of 1: the first value of the 20σ shift is %v, want critical", level(390))
	}
	if got := s.Config(); got.K != 1 || got.Capacity != cfg.Capacity {
		t.Errorf("Config() after Rescore = K %d, capacity %d", got.K, got.Capacity)
	}
}

// The store says which detector gave a point its score, and the node's
// state which one gave the worst series': a small lasting shift is the
// CUSUM's (its score is no number of σ), a large jump a z-score's.
func TestStoreSaysWhichDetectorScored(t *testing.T) {
	tests := []struct {
		name  string
		shift float64
		want  func(Scorer) bool
		level Level
	}{
		{"3σ lasting shift", 3, func(b Scorer) bool { return b == ByCUSUM }, Warning},
		{"30σ jump", 30, func(b Scorer) bool { return b == ByMAD || b == ByEWMA }, Critical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore(smallGraph(), testConfig())
			rng := rand.New(rand.NewPCG(4, 4))
			for i := range 400 {
				v := 50 + rng.NormFloat64()
				if i >= 380 {
					v += tt.shift
				}
				s.Add(Sample{Key: key(KeyID, "h2"), Metric: "cpu", T: int64(i) * 1000, V: v})
			}
			a := s.Assess(399_000, 0)
			n := a.State("h2")
			if n.Level != tt.level || !tt.want(n.By) {
				t.Fatalf("h2: %v, score %.1f by %q; want %v", n.Level, n.Score, n.By, tt.level)
			}
			for _, p := range s.Series("h2")[0].Points[:300] {
				if p.By == ByCUSUM && p.Score >= 4 {
					t.Fatalf("normal value at %d: CUSUM score %.1f", p.T, p.Score)
				}
			}
			if first := s.Series("h2")[0].Points[0]; first.By != ByNone || first.Score != 0 {
				t.Errorf("the first value: score %.1f by %q, want none", first.Score, first.By)
			}
		})
	}
}
