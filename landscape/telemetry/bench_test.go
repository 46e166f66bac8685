package telemetry

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"flowscape/landscape"
)

func benchValues(n int) []float64 {
	rng := rand.New(rand.NewPCG(11, 12))
	v := make([]float64, n)
	for i := range v {
		v[i] = 50 + seasonal(i, 60, 10) + rng.NormFloat64()
	}
	return v
}

// BenchmarkDetector scores samples of one series with the four detectors
// (MAD window 60, EWMA, Holt-Winters with a season of 60, the CUSUM) and
// k-of-n, on one goroutine: samples/s is the figure for one core.
func BenchmarkDetector(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Period = 60
	vals := benchValues(4096)
	d := NewDetector(&cfg, "m")
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		d.Step(vals[i&4095])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkStoreAdd adds samples of 1 000 series of a generated landscape
// through the store: join, detectors, ring.
func BenchmarkStoreAdd(b *testing.B) {
	g := landscape.Generate(1000, 1)
	cfg := DefaultConfig()
	cfg.Period = 60
	s := NewStore(g, cfg)
	vals := benchValues(4096)
	keys := make([]landscape.JoinKey, 0, len(g.Nodes))
	for i := range g.Nodes {
		keys = append(keys, landscape.JoinKey{Kind: KeyID, Value: g.Nodes[i].ID})
	}
	batch := make([]Sample, len(keys))
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; n < b.N; i++ {
		m := min(len(batch), b.N-n)
		for j := range m {
			batch[j] = Sample{Key: keys[j], Metric: "cpu", T: int64(i) * 1000, V: vals[(i+j)&4095]}
		}
		s.Add(batch[:m]...)
		n += m
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkAssess rolls up, propagates and ranks a generated landscape
// with 1 % of its nodes anomalous.
func BenchmarkAssess(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g := landscape.Generate(n, 1)
			s := NewStore(g, testConfig())
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range 40 {
				var batch []Sample
				for k := range g.Nodes {
					v := 10 + rng.NormFloat64()
					if i >= 35 && k%100 == 0 {
						v += 50
					}
					batch = append(batch, Sample{Key: landscape.JoinKey{Kind: KeyID, Value: g.Nodes[k].ID}, Metric: "m", T: int64(i) * 1000, V: v})
				}
				s.Add(batch...)
			}
			b.ResetTimer()
			for range b.N {
				if a := s.Assess(39000, 0); len(a.Causes) == 0 {
					b.Fatal("no anomaly")
				}
			}
		})
	}
}
