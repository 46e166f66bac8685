package telemetry

import (
	"fmt"
	"testing"
	"time"
)

// TestEvaluationMeetsTargets runs the evaluation at a small size on fixed
// seeds and asserts the targets: detection ≥ 90 %, false alarms ≤ 5 per
// 1 000 node-hours, root cause top-1 ≥ 80 %; with the faults at their
// default sizes and at half of them (level shifts of 3 to 5σ, drifts to 4
// to 6σ), which the per-value z-scores alone mostly miss.
func TestEvaluationMeetsTargets(t *testing.T) {
	for _, scale := range []float64{1, 0.5} {
		t.Run(fmt.Sprintf("scale %g", scale), func(t *testing.T) {
			var all EvalResult
			for i, seed := range []uint64{1, 2, 3, 4, 5, 6} {
				c := DefaultEvalConfig()
				c.Nodes, c.Hours, c.Seed, c.Scale = 120, 12, seed, scale
				r := Evaluate(c)
				if i == 0 {
					all = r
				} else {
					all = all.Merge(r)
				}
			}
			all.Report(testWriter{t})
			if len(all.Faults) < 40 {
				t.Fatalf("only %d faults injected", len(all.Faults))
			}
			if all.DetectionRate < 0.90 {
				t.Errorf("detection rate %.1f %%, want ≥ 90 %%", 100*all.DetectionRate)
			}
			if all.FalsePer1000 > 5 {
				t.Errorf("%.2f false alarms per 1000 node-hours, want ≤ 5", all.FalsePer1000)
			}
			if all.Top1 < 0.80 {
				t.Errorf("root cause top-1 %.1f %%, want ≥ 80 %%", 100*all.Top1)
			}
			// A level shift or a spike is confirmed on its K-th sample or
			// soon after; a drift before it has grown to its full size
			// (half its length).
			step := all.Config.Step
			for _, k := range []string{FaultShift, FaultSpike} {
				if ks := all.Kind(k); ks.MeanDelay > 2*time.Duration(all.Config.Detect.K)*step {
					t.Errorf("%s: mean delay %s, want ≤ %s", k, ks.MeanDelay, 2*time.Duration(all.Config.Detect.K)*step)
				}
			}
			if ks := all.Kind(FaultDrift); ks.MeanDelayShare >= 0.5 {
				t.Errorf("drift: detected after %.0f %% of its length on average, want before its full size (50 %%)", 100*ks.MeanDelayShare)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// With three faults under way at once, each host still ranks first for
// its own fault (the other faults' hosts set aside).
func TestEvaluationConcurrentFaults(t *testing.T) {
	c := DefaultEvalConfig()
	c.Nodes, c.Hours, c.Seed, c.Concurrent = 120, 12, 5, 3
	r := Evaluate(c)
	r.Report(testWriter{t})
	overlap := 0
	for i := 1; i < len(r.Faults); i++ {
		if r.Faults[i].Start < r.Faults[i-1].End {
			overlap++
		}
	}
	if overlap == 0 {
		t.Fatal("no faults overlap")
	}
	if r.DetectionRate < 0.9 || r.Top1 < 0.8 || r.FalsePer1000 > 5 {
		t.Errorf("detection %.2f, top-1 %.2f, false alarms %.2f per 1000 node-hours", r.DetectionRate, r.Top1, r.FalsePer1000)
	}
}
