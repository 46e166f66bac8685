package telemetry

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMADStats(t *testing.T) {
	tests := []struct {
		name      string
		window    []float64
		med, mad  float64
		x, zScore float64
	}{
		{"odd with an outlier", []float64{4, 1, 100, 3, 2}, 3, 1, 3 + 5*madToSigma, 5},
		{"even", []float64{1, 2, 3, 4}, 2.5, 1, 2.5 - 2*madToSigma, 2},
		{"constant uses the floor", []float64{7, 7, 7, 7}, 7, 0, 7.5, 0.5 / 0.1},
		{"negative", []float64{-10, -20, -30}, -20, 10, 0, 20 / (10 * madToSigma)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMAD(len(tt.window), 0.1)
			for _, v := range tt.window {
				m.Add(v)
			}
			med, mad := m.Stats()
			if med != tt.med || mad != tt.mad {
				t.Errorf("Stats() = %v, %v; want %v, %v", med, mad, tt.med, tt.mad)
			}
			if got := m.Score(tt.x); math.Abs(got-tt.zScore) > 1e-9 {
				t.Errorf("Score(%v) = %v, want %v", tt.x, got, tt.zScore)
			}
		})
	}
}

// The sliding window must give the median and MAD of its last values,
// as computed by sorting them.
func TestMADSlidingMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, w := range []int{3, 4, 7, 30} {
		m := NewMAD(w, 0)
		var all []float64
		for range 500 {
			x := math.Round(rng.NormFloat64()*10) / 2 // ties happen
			m.Add(x)
			all = append(all, x)
			win := slices.Clone(all[max(0, len(all)-w):])
			slices.Sort(win)
			n := len(win)
			wantMed := (win[(n-1)/2] + win[n/2]) / 2
			dev := make([]float64, n)
			for i, v := range win {
				dev[i] = math.Abs(v - wantMed)
			}
			slices.Sort(dev)
			wantMAD := (dev[(n-1)/2] + dev[n/2]) / 2
			med, mad := m.Stats()
			if med != wantMed || math.Abs(mad-wantMAD) > 1e-12 {
				t.Fatalf("w=%d after %d values: Stats() = %v, %v; want %v, %v", w, len(all), med, mad, wantMed, wantMAD)
			}
		}
	}
}

func TestEWMA(t *testing.T) {
	e := NewEWMA(0.5, 0)
	if e.Ready() {
		t.Fatal("ready before any value")
	}
	e.Add(0, 0)
	e.Add(2, 0)
	mean, sd := e.Stats()
	// mean = 0 + 0.5·2; var = (1-0.5)·(0 + 0.5·2²)
	if mean != 1 || sd != 1 {
		t.Fatalf("Stats() = %v, %v; want 1, 1", mean, sd)
	}
	e.Add(1, 0)
	e.Add(1, 0)
	if !e.Ready() {
		t.Fatal("not ready after 2/alpha values")
	}
	mean, sd = e.Stats()
	if got, want := e.Score(mean+3*sd), 3.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("Score(mean+3sd) = %v, want %v", got, want)
	}
}

func TestEWMAClipLearnsAnAnomalySlowly(t *testing.T) {
	plain, clipped := NewEWMA(0.2, 0.01), NewEWMA(0.2, 0.01)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		x := 10 + rng.NormFloat64()
		plain.Add(x, 0)
		clipped.Add(x, 4)
	}
	plain.Add(1000, 0)
	clipped.Add(1000, 4)
	pm, _ := plain.Stats()
	cm, _ := clipped.Stats()
	if pm < 100 {
		t.Errorf("unclipped mean %v: want it dragged past 100 by one value of 1000", pm)
	}
	if cm > 12 {
		t.Errorf("clipped mean %v: want it within 2 of 10 after one value of 1000", cm)
	}
}

func seasonal(i, period int, amp float64) float64 {
	return amp * math.Sin(2*math.Pi*float64(i)/float64(period))
}

// Holt-Winters learns a noiseless season exactly: its forecasts match and
// a value off the season by 5 scores far more than values on it.
func TestHoltWintersLearnsTheSeason(t *testing.T) {
	const p = 24
	h := NewHoltWinters(p, 0.1, 0, 0.2, 0.05, 0.01)
	for i := range 2 * p {
		if h.Ready() {
			t.Fatalf("ready after %d values, before two seasons", i)
		}
		h.Add(50+seasonal(i, p, 10), 4)
	}
	if !h.Ready() {
		t.Fatal("not ready after two seasons")
	}
	for i := 2 * p; i < 6*p; i++ {
		x := 50 + seasonal(i, p, 10)
		f, _ := h.Forecast()
		if math.Abs(f-x) > 1e-6 {
			t.Fatalf("value %d: forecast %v, want %v", i, f, x)
		}
		h.Add(x, 4)
	}
	if got := h.Score(50 + seasonal(6*p, p, 10) + 5); got < 100 {
		t.Errorf("score of a value 5 off a noiseless season = %v, want ≥ 100 (floor 0.01)", got)
	}
}

// On a noisy season, Holt-Winters' band is the noise's standard deviation:
// normal values score below 4 nearly always and a 10σ spike scores near 10,
// where a plain mean-and-deviation (no season) scores the spike far lower.
func TestHoltWintersBandOnNoisySeason(t *testing.T) {
	const p = 60
	rng := rand.New(rand.NewPCG(5, 6))
	h := NewHoltWinters(p, 0.05, 0, 0.2, 0.05, 1e-6)
	e := NewEWMA(0.01, 1e-6)
	over := 0
	n := 0
	for i := range 20 * p {
		x := 100 + seasonal(i, p, 20) + rng.NormFloat64()
		if i >= 4*p {
			n++
			if h.Score(x) >= 4 {
				over++
			}
		}
		h.Add(x, 4)
		e.Add(x, 0)
	}
	if over > n/1000+1 {
		t.Errorf("%d of %d normal values scored ≥ 4", over, n)
	}
	x := 100 + seasonal(20*p, p, 20) + 10
	if got := h.Score(x); got < 7 || got > 14 {
		t.Errorf("10σ spike scored %v by Holt-Winters, want about 10", got)
	}
	if got := e.Score(x); got > 3 {
		t.Errorf("10σ spike scored %v by a season-blind EWMA, want it hidden by the season (< 3)", got)
	}
}

func testConfig() Config {
	c := DefaultConfig()
	c.Floor = 0.01
	return c
}

func TestConfirmationKOfN(t *testing.T) {
	cfg := testConfig() // 3 of 5
	rng := rand.New(rand.NewPCG(7, 8))
	d := NewDetector(&cfg, "m")
	for range 200 {
		if _, lv := d.Step(10 + rng.NormFloat64()); lv != OK {
			t.Fatalf("alarm on normal values")
		}
	}
	// Isolated spikes, two samples apart: never 3 hits in 5.
	for i := range 20 {
		x := 10 + rng.NormFloat64()
		if i%3 == 0 {
			x = 40
		}
		if _, lv := d.Step(x); lv != OK {
			t.Fatalf("sample %d: level %v from isolated spikes", i, lv)
		}
	}
	for range 20 {
		d.Step(10 + rng.NormFloat64())
	}
	// A level shift of 20σ: critical exactly at its third sample.
	for i := range 3 {
		sc, lv := d.Step(30)
		if sc < cfg.Crit {
			t.Fatalf("shift sample %d scored %v", i, sc)
		}
		want := OK
		if i == 2 {
			want = Critical
		}
		if lv != want {
			t.Fatalf("shift sample %d: level %v, want %v", i, lv, want)
		}
	}
}

func TestDetectorsOff(t *testing.T) {
	cfg := testConfig()
	cfg.Use = map[string]bool{DetEWMA: true}
	d := NewDetector(&cfg, "m")
	for i := range 100 {
		d.Observe(float64(i % 2))
	}
	sc := d.Observe(50)
	if sc.MAD != 0 || sc.HW != 0 || sc.EWMA < 10 {
		t.Errorf("scores %+v: want only EWMA, and high", sc)
	}
}

func TestFloorsPerMetric(t *testing.T) {
	cfg := testConfig()
	cfg.Floors = map[string]float64{"cpu_busy_pct": 5}
	quiet, other := NewDetector(&cfg, "cpu_busy_pct"), NewDetector(&cfg, "x")
	for range 50 {
		quiet.Step(0)
		other.Step(0)
	}
	if sc, _ := quiet.Step(2); sc >= cfg.Warn {
		t.Errorf("a 2-point blip on an idle CPU scored %v with a floor of 5", sc)
	}
	if sc, _ := other.Step(2); sc < cfg.Crit {
		t.Errorf("a change of 2 on a constant series scored %v with the default floor", sc)
	}
}

func TestConfigUses(t *testing.T) {
	seasonal := DefaultConfig()
	seasonal.Period = 60
	noCusum := DefaultConfig()
	noCusum.CusumH = 0
	only := DefaultConfig()
	only.Use = map[string]bool{DetMAD: true}
	tests := []struct {
		name string
		cfg  Config
		want map[string]bool
	}{
		{"default: no season, no Holt-Winters", DefaultConfig(), map[string]bool{DetMAD: true, DetEWMA: true, DetHW: false, DetCUSUM: true}},
		{"with a season", seasonal, map[string]bool{DetMAD: true, DetEWMA: true, DetHW: true, DetCUSUM: true}},
		{"CusumH 0 turns the CUSUM off", noCusum, map[string]bool{DetMAD: true, DetEWMA: true, DetHW: false, DetCUSUM: false}},
		{"Use", only, map[string]bool{DetMAD: true, DetEWMA: false, DetHW: false, DetCUSUM: false}},
	}
	for _, tt := range tests {
		for name, want := range tt.want {
			if got := tt.cfg.Uses(name); got != want {
				t.Errorf("%s: Uses(%q) = %v, want %v", tt.name, name, got, want)
			}
		}
	}
}
