package telemetry

import (
	"math/rand/v2"
	"testing"
)

func TestCUSUMSums(t *testing.T) {
	tests := []struct {
		name   string
		z      []float64
		hi, lo float64
	}{
		{"noise within the allowance stays at 0", []float64{0.9, -0.9, 1, -1, 0.5}, 0, 0},
		{"a shift of 2 adds 1 a value", []float64{2, 2, 2}, 3, 0},
		{"down as well", []float64{-2, -2.5}, 0, 2.5},
		{"an outlier counts K+H/2 = 3 at most", []float64{50}, 2, 0},
		{"the other way it empties the sum", []float64{50, -50}, 0, 2},
		{"capped at 1.5 H", []float64{3, 3, 3, 3, 3}, 6, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCUSUM(1, 4)
			for _, z := range tt.z {
				c.Add(z)
			}
			if hi, lo := c.Sums(); hi != tt.hi || lo != tt.lo {
				t.Errorf("Sums() = %v, %v; want %v, %v", hi, lo, tt.hi, tt.lo)
			}
			if got, want := c.Score(4), 4*max(tt.hi, tt.lo)/4; got != want {
				t.Errorf("Score(4) = %v, want %v", got, want)
			}
		})
	}
	c := NewCUSUM(1, 4)
	c.Add(3)
	c.Add(-3)
	c.Add(-3) // hi 0, lo 2+2 = 4
	c.Keep(0.25)
	if hi, lo := c.Sums(); hi != 0 || lo != 1 {
		t.Errorf("after Keep(0.25): %v, %v; want 0, 1", hi, lo)
	}
}

// shiftRun feeds d n normal values (mean 50, σ 1, plus a season of period
// p when p > 0) and then m values shifted by size σ, and returns the
// index among the shifted values at which the level first became at
// least Warning (-1: never), failing if a normal value raised it.
func shiftRun(t *testing.T, d *Detector, seed uint64, p, n, m int, size float64) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	season := func(i int) float64 {
		if p == 0 {
			return 0
		}
		return seasonal(i, p, 10)
	}
	for i := range n {
		if _, lv := d.Step(50 + season(i) + rng.NormFloat64()); lv != OK {
			t.Fatalf("seed %d: alarm on normal value %d", seed, i)
		}
	}
	for j := range m {
		if _, lv := d.Step(50 + season(n+j) + size + rng.NormFloat64()); lv >= Warning {
			return j
		}
	}
	return -1
}

// A level shift of 3σ is within the noise of a per-value z-score at a
// threshold of 4; the CUSUM confirms it within ten values, with or
// without a season, where the other detectors alone miss most of them.
func TestCUSUMConfirmsSmallShifts(t *testing.T) {
	for _, p := range []int{0, 60} {
		cfg := testConfig()
		cfg.Period = p
		without := cfg
		without.Use = map[string]bool{DetMAD: true, DetEWMA: true, DetHW: true}
		missed := 0
		for seed := range uint64(10) {
			if j := shiftRun(t, NewDetector(&cfg, "m"), seed, p, 5*max(p, 60), 40, 3); j < 0 || j >= 10 {
				t.Errorf("period %d, seed %d: 3σ shift confirmed at value %d, want within 10", p, seed, j)
			}
			if j := shiftRun(t, NewDetector(&without, "m"), seed, p, 5*max(p, 60), 40, 3); j < 0 {
				missed++
			}
		}
		if missed < 5 {
			t.Errorf("period %d: without the CUSUM, only %d of 10 shifts of 3σ missed; the test wants a case it is needed for", p, missed)
		}
	}
}

// On long normal series with lone outliers of 6 to 10σ, one and two in a
// row, the CUSUM raises no alarm.
func TestCUSUMQuietOnNoiseAndOutliers(t *testing.T) {
	for _, p := range []int{0, 60} {
		cfg := testConfig()
		cfg.Period = p
		d := NewDetector(&cfg, "m")
		rng := rand.New(rand.NewPCG(uint64(p), 5))
		for i := range 50_000 {
			x := 50 + rng.NormFloat64()
			if p > 0 {
				x += seasonal(i, p, 10)
			}
			if i > 1000 && (i%500 == 0 || i%1500 == 1) {
				x += (6 + 4*rng.Float64()) * float64(1-2*rng.IntN(2))
			}
			if _, lv := d.Step(x); lv != OK {
				t.Fatalf("period %d: alarm at value %d", p, i)
			}
		}
	}
}

// When an anomaly that lasted ends, the series comes back to what it was
// before: the alarm ends within a few values and none follows, although
// the reference learnt part of the anomaly while it lasted.
func TestReturnToNormalRaisesNoAlarm(t *testing.T) {
	for _, p := range []int{0, 60} {
		for seed := range uint64(5) {
			cfg := testConfig()
			cfg.Period = p
			d := NewDetector(&cfg, "m")
			rng := rand.New(rand.NewPCG(seed, 7))
			x := func(i int, shift float64) float64 {
				v := 50 + shift + rng.NormFloat64()
				if p > 0 {
					v += seasonal(i, p, 10)
				}
				return v
			}
			i := 0
			for ; i < 400; i++ {
				d.Step(x(i, 0))
			}
			alarmed := false
			for ; i < 480; i++ { // 8σ for 80 values
				_, lv := d.Step(x(i, 8))
				alarmed = alarmed || lv >= Warning
			}
			if !alarmed {
				t.Fatalf("period %d, seed %d: no alarm on the 8σ shift", p, seed)
			}
			for j := range 300 {
				if _, lv := d.Step(x(i+j, 0)); lv != OK && j >= 2*cfg.N {
					t.Fatalf("period %d, seed %d: level %v %d values after the series came back", p, seed, lv, j)
				}
			}
		}
	}
}

// A shift that lasts becomes the new normal: the alarm ends and the
// series stays quiet at its new level.
func TestLastingShiftBecomesNormal(t *testing.T) {
	cfg := testConfig()
	cfg.Period = 60
	d := NewDetector(&cfg, "m")
	rng := rand.New(rand.NewPCG(3, 3))
	end := -1
	for i := range 3000 {
		v := 50 + seasonal(i, 60, 10) + rng.NormFloat64()
		if i >= 400 {
			v += 6
		}
		_, lv := d.Step(v)
		switch {
		case i >= 400 && lv != OK:
			end = -1
		case i >= 400 && end < 0:
			end = i
		}
	}
	if end < 0 || end > 1500 {
		t.Errorf("the alarm on a lasting 6σ shift ended at value %d, want by 1500 and for good", end)
	}
}
