package telemetry

import (
	"math"
	"math/rand/v2"
	"testing"

	"flowscape/landscape"
)

// clockSeries adds values of one series to a store, at times it is told.
type clockSeries struct {
	t   *testing.T
	s   *Store
	k   landscape.JoinKey
	rng *rand.Rand
	p   int     // season length in values (0: none)
	i   int     // the index of the next value in the series' own time
	lvl float64 // added to the values
}

func newClockSeries(t *testing.T, period int) *clockSeries {
	cfg := testConfig()
	cfg.Period = period
	cfg.Capacity = 5000
	return &clockSeries{t: t, s: NewStore(smallGraph(), cfg), k: key(KeyID, "h1"), rng: rand.New(rand.NewPCG(1, uint64(period))), p: period}
}

// add adds the value of index c.i at time ms and returns the point stored.
func (c *clockSeries) add(ms int64) Point {
	v := 50 + c.lvl + c.rng.NormFloat64()
	if c.p > 0 {
		v += seasonal(c.i, c.p, 10)
	}
	c.i++
	c.s.Add(Sample{Key: c.k, Metric: "m", T: ms, V: v})
	pts := c.s.Series("h1")[0].Points
	return pts[len(pts)-1]
}

// run adds n values a second apart from ms on and fails on an alarm.
func (c *clockSeries) run(ms int64, n int, what string) int64 {
	c.t.Helper()
	for j := range n {
		if p := c.add(ms); p.Level != OK {
			c.t.Fatalf("%s: value %d (t=%d) is %v, score %.1f", what, j, ms, p.Level, p.Score)
		}
		ms += 1000
	}
	return ms
}

// points checks that the series' points are in time order and returns
// how many there are.
func (c *clockSeries) points() int {
	c.t.Helper()
	pts := c.s.Series("h1")[0].Points
	for i := 1; i < len(pts); i++ {
		if pts[i].T <= pts[i-1].T {
			c.t.Fatalf("points %d and %d out of order: %d, %d", i-1, i, pts[i-1].T, pts[i].T)
		}
	}
	return len(pts)
}

// A seasonal series whose sampling stops for a season and a half (the
// machine slept): the values after the gap are where the season says, and
// raise no alarm; the first is not scored.
func TestGapKeepsTheSeason(t *testing.T) {
	c := newClockSeries(t, 60)
	ms := c.run(0, 600, "before the gap")
	c.i += 90 // the season goes on while nothing is sampled
	ms += 90 * 1000
	if p := c.add(ms); p.Score != 0 || p.Level != OK {
		t.Errorf("first value after the gap: score %.1f, level %v; want 0, ok", p.Score, p.Level)
	}
	c.run(ms+1000, 600, "after the gap")
	if st := c.s.Stats(); st.Gaps != 1 || st.Samples != 1201 {
		t.Errorf("Stats() = %+v, want 1 gap and 1201 samples", st)
	}
}

// A series whose level moved while it was not sampled for an hour (the
// load changed while the machine slept) starts again from the new level.
func TestLongGapStartsFromTheNewLevel(t *testing.T) {
	for _, p := range []int{0, 60} {
		c := newClockSeries(t, p)
		ms := c.run(0, 600, "before the gap")
		c.lvl = 10
		c.i += 3600
		c.run(ms+3600*1000, 300, "after the gap")
	}
}

// A short gap in the middle of an anomaly does not end it.
func TestShortGapKeepsAnAnomaly(t *testing.T) {
	for _, p := range []int{0, 60} {
		c := newClockSeries(t, p)
		ms := c.run(0, 600, "before")
		c.lvl = 8
		for range 10 {
			c.add(ms)
			ms += 1000
		}
		c.i += 6
		ms += 6 * 1000
		var lv Level
		for range 5 {
			lv = c.add(ms).Level
			ms += 1000
		}
		if lv < Warning {
			t.Errorf("period %d: level %v five values after a gap of 6 in an 8σ shift, want an alarm", p, lv)
		}
	}
}

// The clock jumps forward an hour while the values go on as before: no
// alarm, and the points stay in order.
func TestClockForwardJump(t *testing.T) {
	c := newClockSeries(t, 0)
	ms := c.run(0, 600, "before the jump")
	c.run(ms+3600*1000, 300, "after the jump")
	if n := c.points(); n != 900 {
		t.Errorf("%d points kept, want 900", n)
	}
	if st := c.s.Stats(); st.Gaps != 1 {
		t.Errorf("Stats() = %+v, want 1 gap", st)
	}
}

// A series sampled ten times less often from some point on has one gap,
// at the first longer interval, and then a new usual step.
func TestSlowerSamplingIsNotAGapEachTime(t *testing.T) {
	c := newClockSeries(t, 0)
	ms := c.run(0, 600, "every second")
	for j := range 300 {
		if p := c.add(ms + 9000); p.Level != OK {
			t.Fatalf("every 10 s: value %d is %v", j, p.Level)
		}
		ms += 10_000
	}
	if st := c.s.Stats(); st.Gaps != 1 || st.Samples != 900 {
		t.Errorf("Stats() = %+v, want 1 gap, 900 samples", st)
	}
}

// The clock goes back an hour and the series goes on from there: after
// three values behind its last point the series follows the new clock,
// its history moved back by the jump so that it stays in order and ends a
// step before the new values; nothing is dropped and no alarm is raised.
// One value behind on its own is dropped and counted.
func TestClockGoesBack(t *testing.T) {
	for _, p := range []int{0, 60} {
		c := newClockSeries(t, p)
		ms := c.run(10_000_000, 600, "before the jump")
		last := ms - 1000
		c.s.Add(Sample{Key: c.k, Metric: "m", T: last - 5000, V: 50}) // a stray late value
		c.run(ms, 10, "after a stray value")
		ms += 10 * 1000
		back := ms - 3600*1000
		end := c.run(back, 300, "after the clock went back")
		st := c.s.Stats()
		if st.ClockBack != 1 || st.OutOfOrder != 1 || st.Samples != 910 {
			t.Errorf("period %d: Stats() = %+v; want 1 clock back, 1 out of order, 910 samples", p, st)
		}
		if n := c.points(); n != 910 {
			t.Errorf("period %d: %d points kept, want 910", p, n)
		}
		pts := c.s.Series("h1")[0].Points
		if got := pts[len(pts)-1].T; got != end-1000 {
			t.Errorf("period %d: last point at %d, want %d", p, got, end-1000)
		}
		if got, want := pts[609].T, back-1000; got != want {
			t.Errorf("period %d: the last point from before the jump moved to %d, want %d (a step before the first after it)", p, got, want)
		}
	}
}

// After a gap, a level learns the k-th value with weight 1/(old + k),
// where old = (1-alpha)^(n+1)/alpha is what it knew before, in values.
func TestGapRate(t *testing.T) {
	tests := []struct {
		alpha      float64
		gapN, gapK int
		want       float64 // the weight, rate × alpha
	}{
		{0.02, 0, 0, 0.02},                             // no gap
		{0.02, 100_000, 1, 1},                          // a long gap: the first value is the level
		{0.02, 100_000, 4, 0.25},                       // …and the fourth a quarter of it
		{0.5, 4, 1, 1 / (math.Pow(0.5, 5)/0.5 + 1)},    // a fast level forgets most of it over 4 values
		{0.02, 5, 1, 1 / (math.Pow(0.98, 6)/0.02 + 1)}, // a slow one keeps 44 values' worth over 5
	}
	for _, tt := range tests {
		d := &Detector{gapN: tt.gapN, gapK: tt.gapK}
		if got := d.gapRate(tt.alpha) * tt.alpha; math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("alpha %v, gap %d, value %d: weight %v, want %v", tt.alpha, tt.gapN, tt.gapK, got, tt.want)
		}
	}
}
