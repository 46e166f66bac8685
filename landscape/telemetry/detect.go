package telemetry

import (
	"math"
	"math/bits"
)

// Level is how anomalous a series or a node is.
type Level int8

// Levels, from best to worst. NoData is a node without any series.
const (
	NoData Level = iota - 1
	OK
	Warning
	Critical
)

func (l Level) String() string {
	switch l {
	case OK:
		return "ok"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return "no data"
}

// madToSigma turns a median absolute deviation into a standard deviation
// for normal data; meanAbsToSigma does the same for a mean absolute one.
const (
	madToSigma     = 1.4826
	meanAbsToSigma = 1.2533
)

// Config holds the detectors' parameters and the alarm thresholds. Scores
// are in standard deviations of the series' normal behaviour.
type Config struct {
	Window  int     // samples in the median/MAD window
	Alpha   float64 // EWMA smoothing of mean and variance
	Period  int     // season length in samples for Holt-Winters; 0 turns it off
	HWAlpha float64 // Holt-Winters level smoothing
	HWBeta  float64 // Holt-Winters trend smoothing
	HWGamma float64 // Holt-Winters season smoothing
	HWDev   float64 // smoothing of Holt-Winters' deviation band
	Warn    float64 // a sample with a score at least Warn is a hit
	Crit    float64 // …and at least Crit a critical hit
	K, N    int     // an alarm needs K hits among the last N samples (N ≤ 64)
	// Floor is the smallest scale (standard deviation) a detector assumes,
	// in the series' unit, so that a series that was constant does not
	// score infinitely on its first change. Floors overrides it per metric.
	Floor  float64
	Floors map[string]float64
	// Use turns detectors off: a nil map uses all four.
	Use map[string]bool
	// Capacity is the number of points kept per series.
	Capacity int
	// Relearn slows learning while a series is anomalous: a value that
	// scores at least Warn is learnt (clipped) at 1/Relearn of the usual
	// rate, so that an anomaly that lasts stays visible for a while yet a
	// lasting change of level becomes the new normal. 0 or 1: no slowing.
	Relearn int
	// The CUSUM sums deviations from Holt-Winters' forecast when Period is
	// set (from when it is ready), otherwise from a slow mean of its own
	// with smoothing CusumAlpha, in standard deviations less the allowance
	// CusumK, and scores Warn when a sum reaches CusumH (see CUSUM).
	// Smaller CusumK and CusumH see smaller shifts, sooner, and raise
	// more false alarms.
	CusumK, CusumH, CusumAlpha float64
	// Gap is how many of a series' usual steps between two values make a
	// gap (the machine slept, a file has hours missing): the detectors
	// move on over it (see Detector.Skip) and the value after it is not
	// scored. 1 or less: DefaultConfig's.
	Gap float64
}

// Detector names for Config.Use.
const (
	DetMAD   = "mad"
	DetEWMA  = "ewma"
	DetHW    = "holt-winters"
	DetCUSUM = "cusum"
)

// DefaultConfig suits series sampled every few seconds with no known
// season: no Holt-Winters until Period is set.
func DefaultConfig() Config {
	return Config{
		Window: 60, Alpha: 0.1,
		HWAlpha: 0.02, HWBeta: 0, HWGamma: 0.2, HWDev: 0.01,
		Warn: 4, Crit: 8, K: 3, N: 5,
		Floor: 1e-6, Capacity: 900, Relearn: 3,
		CusumK: 1.5, CusumH: 4, CusumAlpha: 0.02,
		Gap: 5,
	}
}

func (c *Config) use(name string) bool { return c.Use == nil || c.Use[name] }

// Uses reports whether the detector name (DetMAD, DetEWMA, DetHW,
// DetCUSUM) runs with c: it is not turned off in Use, and Holt-Winters
// has a Period, the CUSUM a decision interval CusumH above 0.
func (c Config) Uses(name string) bool {
	switch name {
	case DetHW:
		return c.use(name) && c.Period > 1
	case DetCUSUM:
		return c.use(name) && c.CusumH > 0
	}
	return c.use(name)
}

func (c *Config) floor(metric string) float64 {
	if f, ok := c.Floors[metric]; ok {
		return f
	}
	return c.Floor
}

// MAD scores a value by its distance from the median of the last Window
// values, in units of their median absolute deviation scaled to a
// standard deviation: the robust z-score.
type MAD struct {
	ring   []float64 // the window in arrival order
	sorted []float64 // the same values sorted
	pos    int
	Floor  float64 // the smallest scale assumed
}

// NewMAD returns a MAD detector over a window of w values.
func NewMAD(w int, floor float64) *MAD {
	if w < 3 {
		w = 3
	}
	return &MAD{ring: make([]float64, 0, w), sorted: make([]float64, 0, w), Floor: floor}
}

// Ready reports whether the window is at least half full.
func (m *MAD) Ready() bool { return 2*len(m.ring) >= cap(m.ring) }

// Median and MAD of the window (both 0 when it is empty).
func (m *MAD) Stats() (median, mad float64) {
	s := m.sorted
	n := len(s)
	if n == 0 {
		return 0, 0
	}
	median = (s[(n-1)/2] + s[n/2]) / 2
	// The deviations from the median are two sorted runs: walking left
	// from the middle and right from it. Merge them up to the middle one.
	i, j := (n-1)/2, n/2
	if i == j {
		j++
	}
	var prev, cur float64
	for k := 0; k <= n/2; k++ {
		prev = cur
		if j >= n || (i >= 0 && median-s[i] <= s[j]-median) {
			cur = median - s[i]
			i--
		} else {
			cur = s[j] - median
			j++
		}
	}
	if n%2 == 0 {
		return median, (prev + cur) / 2
	}
	return median, cur
}

// Score is x's robust z-score against the window (0 until Ready).
func (m *MAD) Score(x float64) float64 {
	if !m.Ready() {
		return 0
	}
	med, mad := m.Stats()
	return math.Abs(x-med) / max(mad*madToSigma, m.Floor)
}

// Add puts x in the window, dropping the oldest value when full.
func (m *MAD) Add(x float64) {
	if len(m.ring) < cap(m.ring) {
		m.ring = append(m.ring, x)
		m.sorted = append(m.sorted, x)
		insertSorted(m.sorted, len(m.sorted)-1)
		return
	}
	old := m.ring[m.pos]
	m.ring[m.pos] = x
	m.pos = (m.pos + 1) % len(m.ring)
	// Replace old by x in sorted and move it into place.
	s := m.sorted
	k := searchFloat(s, old)
	s[k] = x
	for k > 0 && s[k-1] > x {
		s[k], s[k-1] = s[k-1], s[k]
		k--
	}
	for k+1 < len(s) && s[k+1] < x {
		s[k], s[k+1] = s[k+1], s[k]
		k++
	}
}

func insertSorted(s []float64, k int) {
	x := s[k]
	for k > 0 && s[k-1] > x {
		s[k] = s[k-1]
		k--
	}
	s[k] = x
}

// searchFloat finds x in sorted s (it is there).
func searchFloat(s []float64, x float64) int {
	lo, hi := 0, len(s)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if s[h] < x {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

// EWMA scores a value by its distance from an exponentially weighted mean,
// in units of the exponentially weighted standard deviation.
type EWMA struct {
	Alpha     float64
	Floor     float64
	mean, v   float64
	n, warmup int
}

// NewEWMA returns an EWMA detector with smoothing alpha.
func NewEWMA(alpha, floor float64) *EWMA {
	if alpha <= 0 || alpha > 1 {
		alpha = 0.1
	}
	return &EWMA{Alpha: alpha, Floor: floor, warmup: int(math.Ceil(2 / alpha))}
}

// Ready reports whether enough values have been seen (2/Alpha).
func (e *EWMA) Ready() bool { return e.n >= e.warmup }

// Mean and standard deviation so far.
func (e *EWMA) Stats() (mean, sd float64) { return e.mean, math.Sqrt(e.v) }

// Score is x's z-score (0 until Ready).
func (e *EWMA) Score(x float64) float64 {
	if !e.Ready() {
		return 0
	}
	return math.Abs(x-e.mean) / max(math.Sqrt(e.v), e.Floor)
}

// Add updates mean and variance with x, clipped to clip standard
// deviations from the mean (clip ≤ 0: not clipped) so that an anomaly
// is learnt slowly rather than at once.
func (e *EWMA) Add(x, clip float64) { e.add(x, clip, 1, 1) }

// add learns x at rate times the usual smoothing; below 1 the variance is
// left as it is. The mean learns at lrate times that besides, the
// variance not at all unless lrate is 1 (see Detector.gapRate).
func (e *EWMA) add(x, clip, rate, lrate float64) {
	e.n++
	if e.n == 1 {
		e.mean = x
		return
	}
	if clip > 0 && e.Ready() {
		sd := max(math.Sqrt(e.v), e.Floor)
		x = min(max(x, e.mean-clip*sd), e.mean+clip*sd)
	}
	d := x - e.mean
	e.mean += min(rate*lrate*e.Alpha, 1) * d
	if rate >= 1 && lrate == 1 {
		e.v = (1 - e.Alpha) * (e.v + e.Alpha*d*d)
	}
}

// HoltWinters forecasts a value from a level, a trend and a season of
// Period samples (additive), and scores it by its distance from the
// forecast in units of a deviation band: the smoothed absolute forecast
// error, scaled to a standard deviation. It is ready once two seasons
// have been seen.
type HoltWinters struct {
	Alpha, Beta, Gamma, DevAlpha float64
	Period                       int
	Floor                        float64
	level, trend, dev            float64
	season                       []float64
	first                        []float64 // the first two seasons, for the start values
	i                            int       // the season index of the next value
}

// NewHoltWinters returns a detector for a season of period samples.
func NewHoltWinters(period int, alpha, beta, gamma, devAlpha, floor float64) *HoltWinters {
	return &HoltWinters{Alpha: alpha, Beta: beta, Gamma: gamma, DevAlpha: devAlpha, Period: period, Floor: floor,
		first: make([]float64, 0, 2*period)}
}

// Ready reports whether two seasons have been seen.
func (h *HoltWinters) Ready() bool { return h.season != nil }

// Forecast is the value expected next, and the band's half-width of one
// standard deviation.
func (h *HoltWinters) Forecast() (f, sd float64) {
	return h.level + h.trend + h.season[h.i], max(h.dev*bandToSigma, h.Floor)
}

// Score is x's distance from the forecast in standard deviations (0
// until Ready).
func (h *HoltWinters) Score(x float64) float64 {
	if !h.Ready() {
		return 0
	}
	f, sd := h.Forecast()
	return math.Abs(x-f) / sd
}

// Add learns x, clipped to clip standard deviations from the forecast
// (clip ≤ 0: not clipped).
func (h *HoltWinters) Add(x, clip float64) { h.add(x, clip, 1, 1) }

// add learns x at rate times the usual smoothing; below 1 the band is left
// as it is. The level learns at lrate times that besides, the band not at
// all unless lrate is 1, nor the trend when lrate is above 1 (see
// Detector.gapRate).
func (h *HoltWinters) add(x, clip, rate, lrate float64) {
	if h.season == nil {
		h.first = append(h.first, x)
		if len(h.first) == 2*h.Period {
			h.start()
		}
		return
	}
	f, sd := h.Forecast()
	if clip > 0 {
		x = min(max(x, f-clip*sd), f+clip*sd)
	}
	s := h.season[h.i]
	a, b, g := min(rate*lrate*h.Alpha, 1), rate*h.Beta, rate*h.Gamma
	if lrate > 1 {
		b = 0 // a level starting again after a gap is no trend
	}
	lv := a*(x-s) + (1-a)*(h.level+h.trend)
	h.trend = b*(lv-h.level) + (1-b)*h.trend
	h.level = lv
	h.season[h.i] = g*(x-lv) + (1-g)*s
	if rate >= 1 && lrate == 1 {
		// The band learns errors capped at 1.5 standard deviations, so
		// that a drift widens it by at most 1 % per sample (DevAlpha 0.01)
		// instead of as fast as it grows.
		h.dev = h.DevAlpha*min(math.Abs(x-f), bandCap*sd) + (1-h.DevAlpha)*h.dev
	}
	h.i = (h.i + 1) % h.Period
}

func (h *HoltWinters) start() {
	p := h.Period
	var m1, m2 float64
	for k := range p {
		m1 += h.first[k]
		m2 += h.first[p+k]
	}
	m1 /= float64(p)
	m2 /= float64(p)
	h.trend = (m2 - m1) / float64(p)
	h.season = make([]float64, p)
	for k := range p {
		h.season[k] = (h.first[k] - m1 + h.first[p+k] - m2) / 2
	}
	// Level at the end of the second season; the band from how well the
	// start values fit the two seasons.
	h.level = m2 + h.trend*float64(p-1)/2
	var dev float64
	for k, x := range h.first {
		m := m1
		if k >= p {
			m = m2
		}
		dev += math.Abs(x - m - h.season[k%p])
	}
	h.dev = dev / float64(len(h.first))
	h.first = nil
	h.i = 0
}

// bandCap caps the errors Holt-Winters' band learns, in standard
// deviations; bandToSigma turns the band (the smoothed capped absolute
// error) into a standard deviation: for normal errors the capped mean
// absolute error settles at 0.745 σ.
const (
	bandCap     = 1.5
	bandToSigma = 1 / 0.745
)

// Detector runs the enabled detectors on one series, one value at a time,
// and confirms alarms k-of-n.
type Detector struct {
	// Read or written for every value.
	cfg   *Config
	mad   *MAD
	ewma  *EWMA
	hw    *HoltWinters
	hits  uint64 // bit 0 is the newest sample: its score was ≥ Warn
	crits uint64 // …≥ Crit
	mask  uint64
	// The MAD window holds residuals from a fast level-and-trend (Holt)
	// forecast, so that a season or a trend does not widen it.
	level, trend float64
	// The CUSUM (when useCusum), in the struct to spare a load per value.
	cusum             CUSUM
	held              int // hits since the MAD window last learnt one
	seen              int
	skipped           int // values missed just before the next (see Skip)
	gapK              int // values since the last gap, for gapRate (0: none or long enough ago)
	goodAge           int // values learnt since good was taken
	useCusum, useSlow bool
	away              bool // a hit since good was taken

	// Used without Holt-Winters, after a hit or after a gap.
	floor float64
	slow  slowMean // the CUSUM's reference without Holt-Winters (when useSlow)
	// The last good reference, from before the last hit (see refState).
	good    refState
	back    [3]float64 // the last deviations from good's forecast, while away
	nback   int
	quiet   int     // values without a hit since the last one, while away
	gapN    int     // values missed at the last gap
	slowest float64 // the smallest smoothing of the detector's levels
}

// Baseline smoothing for the MAD window's residuals.
const (
	baseAlpha = 0.3
	baseBeta  = 0.1
)

// NewDetector returns a detector for metric with cfg (which it keeps).
func NewDetector(cfg *Config, metric string) *Detector {
	fl := cfg.floor(metric)
	d := &Detector{cfg: cfg, floor: fl}
	if cfg.use(DetMAD) {
		d.mad = NewMAD(cfg.Window, fl)
	}
	if cfg.use(DetEWMA) {
		d.ewma = NewEWMA(cfg.Alpha, fl)
	}
	if cfg.Uses(DetHW) {
		d.hw = NewHoltWinters(cfg.Period, cfg.HWAlpha, cfg.HWBeta, cfg.HWGamma, cfg.HWDev, fl)
	}
	if cfg.Uses(DetCUSUM) {
		d.cusum, d.useCusum = *NewCUSUM(cfg.CusumK, cfg.CusumH), true
		if d.hw == nil {
			a := cfg.CusumAlpha
			if a <= 0 || a > 1 {
				a = 0.02
			}
			d.slow, d.useSlow = slowMean{alpha: a}, true
		}
	}
	n := min(max(cfg.N, 1), 64)
	d.mask = ^uint64(0) >> (64 - n)
	d.slowest = d.smoothing()
	return d
}

// Scores is what each detector said about one value (0: not ready or off).
// The CUSUM's is Warn times its larger sum over CusumH.
type Scores struct {
	MAD, EWMA, HW, CUSUM float64
}

// Max is the largest of the four.
func (s Scores) Max() float64 { return max(s.MAD, s.EWMA, s.HW, s.CUSUM) }

// Top is the largest of the four and the detector that gave it (the
// first of MAD, EWMA, Holt-Winters, CUSUM on a tie; ByNone when all are
// 0).
func (s Scores) Top() (float64, Scorer) {
	v, by := 0.0, ByNone
	if s.MAD > v {
		v, by = s.MAD, ByMAD
	}
	if s.EWMA > v {
		v, by = s.EWMA, ByEWMA
	}
	if s.HW > v {
		v, by = s.HW, ByHW
	}
	if s.CUSUM > v {
		v, by = s.CUSUM, ByCUSUM
	}
	return v, by
}

// Scorer names the detector whose score is a value's combined score. A
// z-score (MAD, EWMA, Holt-Winters) is a number of standard deviations;
// the CUSUM's is an equivalent (Warn times its sum over CusumH, at most
// 1.5 Warn): a lasting shift, whatever its size.
type Scorer uint8

// Scorers.
const (
	ByNone  Scorer = iota // no detector scored the value (not ready, or the first after a gap)
	ByMAD                 // the robust median/MAD z-score
	ByEWMA                // the EWMA's z-score
	ByHW                  // Holt-Winters' band
	ByCUSUM               // the CUSUM's sum
)

// String is the detector's name in Config.Use ("" for ByNone).
func (b Scorer) String() string {
	switch b {
	case ByMAD:
		return DetMAD
	case ByEWMA:
		return DetEWMA
	case ByHW:
		return DetHW
	case ByCUSUM:
		return DetCUSUM
	}
	return ""
}

// Step scores x, learns it and returns the combined score (the largest of
// the detectors') and the confirmed level.
func (d *Detector) Step(x float64) (float64, Level) {
	sc := d.Observe(x)
	return sc.Max(), d.Level()
}

// Observe scores and learns x, returning every detector's score (all 0
// for the first value after a gap, which is learnt but not scored).
func (d *Detector) Observe(x float64) Scores {
	first := d.skipped > 0
	if first {
		d.gapN, d.gapK, d.skipped = d.skipped, 1, 0
	}
	var sc Scores
	ref, sd, refOK := d.reference()
	if !first && refOK && d.away && d.returned(x, sd) {
		d.restore()
		ref, sd, _ = d.reference()
	}
	var med, scale float64
	r := x - (d.level + d.trend)
	if d.mad != nil && d.mad.Ready() {
		m, mad := d.mad.Stats()
		med, scale = m, max(mad*madToSigma, d.mad.Floor)
		sc.MAD = math.Abs(r-med) / scale
	}
	if d.ewma != nil {
		sc.EWMA = d.ewma.Score(x)
	}
	if d.hw != nil {
		sc.HW = d.hw.Score(x)
	}
	if refOK && d.useCusum && !first {
		d.cusum.Add((x - ref) / sd)
		sc.CUSUM = d.cusum.Score(d.cfg.Warn)
	}
	clip, rate := d.cfg.Warn, 1.0
	if first {
		sc, clip = Scores{}, 0
	}
	hit := clip > 0 && sc.Max() >= clip
	if hit && d.cfg.Relearn > 1 {
		rate = 1 / float64(d.cfg.Relearn)
	}
	if hit && refOK && !d.away {
		d.good, d.goodAge = d.refState(), 0 // as it was after the last value
	}
	lrB, lrE, lrH, lrS := 1.0, 1.0, 1.0, 1.0 // the levels' rates after a gap
	if d.gapK > 0 {
		lrB, lrS = d.gapRate(baseAlpha), d.gapRate(d.slow.alpha)
		if d.ewma != nil {
			lrE = d.gapRate(d.ewma.Alpha)
		}
		if d.hw != nil {
			lrH = d.gapRate(d.hw.Alpha)
		}
	}
	if d.mad != nil {
		switch {
		case first: // its residual from a baseline that starts again means nothing
		case !hit || !d.mad.Ready():
			d.held = 0
			d.mad.Add(r)
		default:
			if d.held++; d.held >= max(d.cfg.Relearn, 1) {
				d.held = 0
				d.mad.Add(min(max(r, med-clip*scale), med+clip*scale))
			}
		}
		xb := x
		if hit && d.mad.Ready() {
			f := d.level + d.trend + med
			xb = min(max(x, f-clip*scale), f+clip*scale)
		}
		d.baseline(xb, rate, lrB)
	}
	if d.ewma != nil {
		d.ewma.add(x, clip, rate, lrE)
	}
	if d.hw != nil {
		d.hw.add(x, clip, rate, lrH)
	}
	if d.useSlow {
		d.slow.add(x, clip, d.floor, rate, lrS)
	}
	if first {
		d.away = false
	}
	d.keepGood(hit && refOK)
	if d.gapK > 0 {
		if d.gapK++; float64(d.gapK)*d.slowest > 1 {
			d.gapK = 0
		}
	}
	s := sc.Max()
	d.hits <<= 1
	d.crits <<= 1
	if s >= d.cfg.Warn {
		d.hits |= 1
	}
	if s >= d.cfg.Crit {
		d.crits |= 1
	}
	return sc
}

// gapRate is how much faster than usual a level smoothed with alpha
// learns the gapK-th value after a gap of gapN values: what it knew
// before the gap counts as (1-alpha)^(gapN+1)/alpha values, each value
// since as one, and the value gets its share (at least alpha). A level
// that moved during a long gap is thus the mean of the values since; a
// short gap changes little.
func (d *Detector) gapRate(alpha float64) float64 {
	if d.gapK == 0 || alpha <= 0 || alpha >= 1 {
		return 1
	}
	old := math.Pow(1-alpha, float64(d.gapN+1)) / alpha
	return max(1, 1/((old+float64(d.gapK))*alpha))
}

// Skip tells the detector that n values were missed: the series had a
// gap. The gap is not scored: the k-of-n window moves on by n values with
// no hit among them, the season by n, the CUSUM's sums keep the share of
// them the reference keeps of what it knew, (1-alpha)^(n+1) (most of them
// over a short gap, little over a long one), and the next value is not
// scored but
// learnt as n+1 values would have been (a level that moved during a long
// gap is the series' level from then on; after a short one the detectors
// mostly keep what they knew).
func (d *Detector) Skip(n int) {
	if n <= 0 {
		return
	}
	sh := min(n, 63)
	d.hits <<= sh
	d.crits <<= sh
	if h := d.hw; h != nil {
		if h.Ready() {
			h.i = (h.i + n) % h.Period
			h.level += float64(n) * h.trend
		} else {
			h.first = h.first[:0] // two seasons in a row, from the next value
		}
	}
	if d.useCusum {
		a := d.slow.alpha
		if d.hw != nil {
			a = d.hw.Alpha
		}
		d.cusum.Keep(math.Pow(1-min(max(a, 0), 1), float64(n+1)))
	}
	d.skipped += n
}

// smoothing returns the smallest smoothing of the detector's levels.
func (d *Detector) smoothing() float64 {
	a := baseAlpha
	if d.ewma != nil {
		a = min(a, d.ewma.Alpha)
	}
	if d.hw != nil && d.hw.Alpha > 0 {
		a = min(a, d.hw.Alpha)
	}
	if d.useSlow {
		a = min(a, d.slow.alpha)
	}
	return a
}

// reference is the forecast of x the CUSUM measures from and its
// standard deviation: Holt-Winters' when there is a season, otherwise the
// slow mean's (ok false until it is ready, or without either).
func (d *Detector) reference() (f, sd float64, ok bool) {
	switch {
	case d.hw != nil:
		if !d.hw.Ready() {
			return 0, 0, false
		}
		f, sd = d.hw.Forecast()
		return f, sd, true
	case d.useSlow && d.slow.ready():
		f, sd = d.slow.stats()
		return f, max(sd, d.floor), true
	}
	return 0, 0, false
}

// The last good reference (Detector.good) is what the slow reference
// (Holt-Winters' or the slow mean's) had learnt before the last hit: its
// level and trend. It is taken before a hit is learnt when no hit has
// come since it was last taken, and put back when the values come back to its forecast
// after a hit, so that what the detectors learnt of an anomaly, slowly as
// they do while it lasts, is not taken for a change the other way when it
// ends. Values that stay away from it without a hit for a MAD window are
// the new normal.
type refState struct {
	level, trend float64 // Holt-Winters' or the slow mean's
}

// The return to normal: while away, when the mean deviation of the last
// len(Detector.back) values (the one being observed included) from the
// last good reference's forecast is within returnTol standard deviations,
// the good reference is put back before the value is scored.
const returnTol = 1

func (d *Detector) refState() refState {
	if d.hw != nil {
		return refState{d.hw.level, d.hw.trend}
	}
	if d.useSlow {
		return refState{level: d.slow.mean}
	}
	return refState{}
}

// returned records x's deviation from the last good reference's forecast
// and reports whether the values have come back to it.
func (d *Detector) returned(x, sd float64) bool {
	f := d.good.level + float64(d.goodAge+1)*d.good.trend
	if d.hw != nil {
		f += d.hw.season[d.hw.i]
	}
	d.back[d.nback%len(d.back)] = (x - f) / sd
	d.nback++
	if d.nback < len(d.back) {
		return false
	}
	var m float64
	for _, z := range d.back {
		m += z
	}
	return math.Abs(m/float64(len(d.back))) <= returnTol
}

// restore puts the last good reference back, moved on by its trend, and
// clears the CUSUM's sums. The EWMA's mean and the MAD baseline, which
// follow a season where there is one, are set to the reference's
// forecast of the value being observed (the baseline keeping its trend).
func (d *Detector) restore() {
	g, n := d.good, float64(d.goodAge)
	var f float64
	if d.hw != nil {
		h := d.hw
		h.level, h.trend = g.level+n*g.trend, g.trend
		f = h.level + h.trend + h.season[h.i]
	} else {
		d.slow.mean = g.level
		f = g.level
	}
	if d.ewma != nil && d.ewma.n > 0 {
		d.ewma.mean = f
	}
	if d.mad != nil && d.seen > 2 {
		d.level = f - d.trend
	}
	if d.useCusum {
		d.cusum.Reset()
	}
	d.away = false
	d.good, d.goodAge = d.refState(), 0
}

// keepGood counts the values learnt since the last good reference was
// taken (before the first hit, in Observe) and ends the time away.
func (d *Detector) keepGood(hit bool) {
	if d.hw == nil && !d.useSlow {
		return
	}
	switch {
	case hit:
		if !d.away {
			d.away, d.nback = true, 0
		}
		d.quiet = 0
	case d.away:
		if d.quiet++; d.quiet >= max(d.cfg.Window, 1) {
			d.away = false
		}
	}
	if d.away {
		d.goodAge++
	}
}

// baseline learns x into the Holt forecast the MAD residuals come from.
// Its level learns at lrate times the usual rate besides, and its trend
// not at all when lrate is above 1 (see gapRate).
func (d *Detector) baseline(x, rate, lrate float64) {
	d.seen++
	switch d.seen {
	case 1:
		d.level = x
		return
	case 2:
		d.trend = x - d.level
		d.level = x
		return
	}
	a, b := min(rate*lrate*baseAlpha, 1), rate*baseBeta
	if lrate > 1 {
		b = 0 // a level starting again after a gap is no trend
	}
	lv := a*x + (1-a)*(d.level+d.trend)
	d.trend = b*(lv-d.level) + (1-b)*d.trend
	d.level = lv
}

// Level is the confirmed level after the last value: Critical when K of
// the last N values scored at least Crit, Warning when K scored at least
// Warn.
func (d *Detector) Level() Level {
	k := max(d.cfg.K, 1)
	switch {
	case bits.OnesCount64(d.crits&d.mask) >= k:
		return Critical
	case bits.OnesCount64(d.hits&d.mask) >= k:
		return Warning
	}
	return OK
}
