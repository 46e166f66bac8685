package telemetry

import "math"

// CUSUM is a two-sided tabular cumulative sum of standardised deviations
// from a reference (Page's CUSUM): each value adds its deviation less an
// allowance K, and the sum never drops below 0. Noise, which stays within
// ±K, keeps the sums near 0; a lasting shift of δ > K standard deviations
// adds about δ-K per value until the sum crosses the decision interval H.
// It sees level shifts and slow drifts of a few standard deviations that a
// per-value z-score misses, at the cost of a delay of about H/(δ-K) values.
//
// A deviation counts at most Clip = K + H/2, so that one outlier, or two,
// cannot cross H on their own, and the sums are capped at 1.5 H, so that
// the alarm ends a few values after the deviation does.
type CUSUM struct {
	K, H   float64 // allowance and decision interval, in standard deviations
	hi, lo float64 // the upward and downward sums
}

// cusumCap is the cap on the sums, in units of H.
const cusumCap = 1.5

// NewCUSUM returns a CUSUM with allowance k and decision interval h.
func NewCUSUM(k, h float64) *CUSUM {
	if k < 0 {
		k = 0
	}
	if h <= 0 {
		h = 1
	}
	return &CUSUM{K: k, H: h}
}

// Add adds a standardised deviation z.
func (c *CUSUM) Add(z float64) {
	clip := c.K + c.H/2
	z = min(max(z, -clip), clip)
	c.hi = min(max(0, c.hi+z-c.K), cusumCap*c.H)
	c.lo = min(max(0, c.lo-z-c.K), cusumCap*c.H)
}

// Sums returns the upward and downward sums.
func (c *CUSUM) Sums() (hi, lo float64) { return c.hi, c.lo }

// Score is the larger sum in units of H, times warn: it is warn when a sum
// reaches H, and at most 1.5 warn.
func (c *CUSUM) Score(warn float64) float64 { return warn * max(c.hi, c.lo) / c.H }

// Reset sets both sums to 0.
func (c *CUSUM) Reset() { c.hi, c.lo = 0, 0 }

// Keep multiplies both sums by f, the share of the reference still known
// after a gap: the evidence gathered against a reference that has mostly
// been forgotten goes with it.
func (c *CUSUM) Keep(f float64) {
	f = min(max(f, 0), 1)
	c.hi *= f
	c.lo *= f
}

// slowMean is the reference of the CUSUM when there is no Holt-Winters
// forecast: a slow exponentially weighted mean and variance that start as
// the plain mean and variance of the first 1/alpha values.
type slowMean struct {
	alpha, mean, v float64
	n              int
}

// ready reports whether half of the 1/alpha start has been seen.
func (m *slowMean) ready() bool { return float64(m.n)*m.alpha >= 0.5 }

func (m *slowMean) stats() (mean, sd float64) { return m.mean, math.Sqrt(m.v) }

// add learns x at rate times the usual smoothing, clipped to clip standard
// deviations (when ready and clip > 0); below rate 1 the variance is left
// as it is. The mean learns at lrate times that besides, the variance not
// at all unless lrate is 1 (see Detector.gapRate).
func (m *slowMean) add(x, clip, floor, rate, lrate float64) {
	m.n++
	a := max(m.alpha, 1/float64(m.n))
	if m.n == 1 {
		m.mean = x
		return
	}
	if clip > 0 && m.ready() {
		sd := max(math.Sqrt(m.v), floor)
		x = min(max(x, m.mean-clip*sd), m.mean+clip*sd)
	}
	d := x - m.mean
	m.mean += min(rate*lrate*a, 1) * d
	if rate >= 1 && lrate == 1 {
		m.v = (1 - a) * (m.v + a*d*d)
	}
}
