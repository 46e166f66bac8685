// Package telemetry puts metrics on the landscape: time series per (node,
// metric) joined to nodes by explicit keys (hostname, cpu index, device
// name or MAC, cgroup, OpenStack UUID), streaming anomaly detection per
// series (robust median/MAD z-score, EWMA, Holt-Winters with a deviation
// band, a CUSUM for small lasting shifts and slow drifts, k-of-n
// confirmation), scores rolled up to nodes, impact propagated
// along dependency edges, and the anomalous nodes ranked as likely root
// causes. It also holds the evaluation on generated landscapes with
// injected faults.
package telemetry

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"flowscape/landscape"
)

// KeyID is a join key kind whose value is a node id itself.
const KeyID = "id"

// Sample is one value from a source, before it is joined to a node.
type Sample struct {
	Key    landscape.JoinKey // how to find the node
	Metric string            // e.g. cpu_busy_pct
	T      int64             // Unix milliseconds
	V      float64
}

// Point is one stored sample with what the detector said about it.
type Point struct {
	T     int64 // Unix milliseconds
	V     float64
	Score float32 // the combined score, in standard deviations (an equivalent when By is ByCUSUM)
	Level Level   // the confirmed level after this sample
	By    Scorer  // the detector whose score Score is
}

// SeriesID names a series of a joined node.
type SeriesID struct{ Node, Metric string }

// Series is the bounded history of one metric of one key.
type Series struct {
	Key    landscape.JoinKey
	Metric string
	Node   string // the joined node's id; "" when no node has Key
	// Ambiguous is set when several nodes of the same layer have Key; the
	// series is joined to the first of them in id order (a key shared with
	// nodes of higher layers joins the lowest one and is not ambiguous).
	Ambiguous bool
	ring      []Point
	head      int // index of the oldest point when the ring is full
	det       *Detector
	// step is the usual time between two values (ms; 0 until known);
	// lastGap is the last interval when it was a gap (0 otherwise).
	step, lastGap int64
	// behind holds the values that came in a row before the last point
	// (a clock that went back), until there are enough to follow it.
	behind []Sample
}

// clockBackRun is how many values in a row, in order, before a series'
// last point make the store follow the clock that went back.
const clockBackRun = 3

// Len is the number of points kept.
func (s *Series) Len() int { return len(s.ring) }

// At returns the i-th oldest point kept.
func (s *Series) At(i int) Point {
	if len(s.ring) < cap(s.ring) {
		return s.ring[i]
	}
	return s.ring[(s.head+i)%len(s.ring)]
}

// Points copies the points kept, oldest first.
func (s *Series) Points() []Point {
	out := make([]Point, s.Len())
	for i := range out {
		out[i] = s.At(i)
	}
	return out
}

// Last is the newest point (ok false when there is none).
func (s *Series) Last() (Point, bool) {
	if len(s.ring) == 0 {
		return Point{}, false
	}
	return s.At(s.Len() - 1), true
}

// index returns the index of the last point at or before t, or -1.
func (s *Series) index(t int64) int {
	n := s.Len()
	i := sort.Search(n, func(i int) bool { return s.At(i).T > t })
	return i - 1
}

func (s *Series) push(p Point) {
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, p)
		return
	}
	s.ring[s.head] = p
	s.head = (s.head + 1) % len(s.ring)
}

type seriesKey struct {
	key    landscape.JoinKey
	metric string
}

// Stats counts what the store could not use, and the clock's jumps.
type Stats struct {
	Samples    int // accepted
	NaN        int // not a number or infinite: skipped
	OutOfOrder int // not after the series' last sample (unless 3 such in a row, see ClockBack): skipped
	// Gaps counts the intervals longer than Config.Gap usual steps of
	// their series (the machine slept, the clock jumped forward, a file
	// has hours missing): the value after one is not scored.
	Gaps int
	// ClockBack counts the times a series' clock went back and stayed
	// there (3 values in a row before its last point): the series' points
	// were moved back by the jump, to end a step before the new values.
	ClockBack int
}

// Store holds the series of a landscape. It is safe for concurrent use.
type Store struct {
	mu     sync.RWMutex
	cfg    Config
	graph  *landscape.Graph
	join   map[landscape.JoinKey][]string
	series map[seriesKey]*Series
	stats  Stats
}

// NewStore returns a store joined to g (which may be nil: nothing joins
// until SetGraph).
func NewStore(g *landscape.Graph, cfg Config) *Store {
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultConfig().Capacity
	}
	if cfg.Gap <= 1 {
		cfg.Gap = DefaultConfig().Gap
	}
	s := &Store{cfg: cfg, series: map[seriesKey]*Series{}}
	s.setGraph(g)
	return s
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// JoinIndex maps every join key of g's nodes, and every node id as a KeyID
// key, to the ids of the nodes that have it: the nodes of the lowest layer
// first (a cgroup before the service that runs in it), then in id order.
func JoinIndex(g *landscape.Graph) map[landscape.JoinKey][]string {
	idx := map[landscape.JoinKey][]string{}
	if g == nil {
		return idx
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		idk := landscape.JoinKey{Kind: KeyID, Value: n.ID}
		idx[idk] = append(idx[idk], n.ID)
		for _, k := range n.JoinKeys() {
			if l := idx[k]; len(l) == 0 || l[len(l)-1] != n.ID {
				idx[k] = append(l, n.ID)
			}
		}
	}
	for k, ids := range idx {
		if len(ids) > 1 {
			slices.SortStableFunc(ids, func(a, b string) int { return layerRank(g.Node(a)) - layerRank(g.Node(b)) })
			idx[k] = ids
		}
	}
	return idx
}

func layerRank(n *landscape.Node) int {
	switch n.Layer {
	case landscape.Physical:
		return 0
	case landscape.Virtual:
		return 1
	case landscape.Service:
		return 2
	}
	return 3
}

// SetGraph joins the series to a new version of the landscape: series of
// keys that appeared are joined, those of keys that went are unjoined.
func (s *Store) SetGraph(g *landscape.Graph) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setGraph(g)
}

func (s *Store) setGraph(g *landscape.Graph) {
	s.graph = g
	s.join = JoinIndex(g)
	for _, se := range s.series {
		s.joinSeries(se)
	}
}

func (s *Store) joinSeries(se *Series) {
	ids := s.join[se.Key]
	se.Node, se.Ambiguous = "", false
	if len(ids) > 0 {
		se.Node = ids[0]
		se.Ambiguous = len(ids) > 1 && layerRank(s.graph.Node(ids[0])) == layerRank(s.graph.Node(ids[1]))
	}
}

// Graph is the landscape the series are joined to.
func (s *Store) Graph() *landscape.Graph {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.graph
}

// Add scores and stores samples. NaN and infinite values are skipped, and
// so are samples not after their series' last one, unless three come in a
// row, in order: the series then follows the clock that went back (see
// Stats). A gap in a series is not scored (see Detector.Skip).
func (s *Store) Add(samples ...Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range samples {
		s.add(&samples[i])
	}
}

func (s *Store) add(sm *Sample) {
	if math.IsNaN(sm.V) || math.IsInf(sm.V, 0) {
		s.stats.NaN++
		return
	}
	k := seriesKey{sm.Key, sm.Metric}
	se := s.series[k]
	if se == nil {
		se = &Series{Key: sm.Key, Metric: sm.Metric, ring: make([]Point, 0, s.cfg.Capacity), det: NewDetector(&s.cfg, sm.Metric)}
		s.joinSeries(se)
		s.series[k] = se
	}
	last, ok := se.Last()
	if ok && sm.T <= last.T {
		s.behind(se, sm, last)
		return
	}
	se.behind = se.behind[:0] // strays, counted: the clock had not gone back
	if ok {
		s.gap(se, sm.T-last.T)
	}
	s.score(se, sm)
}

// gap tells the series' detector of a gap before a value dt after the
// last, and counts it.
func (s *Store) gap(se *Series, dt int64) {
	if n := se.gapBefore(dt, s.cfg.Gap); n > 0 {
		s.stats.Gaps++
		se.det.Skip(n)
	}
}

func (s *Store) score(se *Series, sm *Sample) {
	sc, by := se.det.Observe(sm.V).Top()
	se.push(Point{T: sm.T, V: sm.V, Score: float32(sc), Level: se.det.Level(), By: by})
	s.stats.Samples++
}

// gapBefore learns the series' usual step from the time dt since its
// last value and returns how many values were missed when dt is a gap of
// more than gap usual steps (0 otherwise).
func (se *Series) gapBefore(dt int64, gap float64) int {
	switch {
	case se.step == 0:
		se.step = dt
	case float64(dt) <= gap*float64(se.step):
		se.step += (dt - se.step) / 8
		se.step = max(se.step, 1)
		se.lastGap = 0
	case se.lastGap > 0 && dt <= 2*se.lastGap && 2*dt >= se.lastGap:
		// Two long intervals alike in a row: the series is sampled less
		// often from now on (the first was taken for a gap).
		se.step, se.lastGap = dt, 0
	default:
		se.lastGap = dt
		return int((dt+se.step/2)/se.step) - 1
	}
	return 0
}

// behind takes a sample not after its series' last point: a stray one is
// dropped (and counted OutOfOrder at once), but clockBackRun of them in a
// row, in order, are a clock that went back: the series' points move back
// by the jump, to end a step before the first of them, and they are
// scored (and no longer counted).
func (s *Store) behind(se *Series, sm *Sample, last Point) {
	if n := len(se.behind); sm.T == last.T || n > 0 && sm.T <= se.behind[n-1].T {
		s.stats.OutOfOrder++
		return
	}
	se.behind = append(se.behind, *sm)
	s.stats.OutOfOrder++
	if len(se.behind) < clockBackRun {
		return
	}
	s.stats.OutOfOrder -= len(se.behind)
	shift := last.T + max(se.step, 1) - se.behind[0].T
	for i := range se.ring {
		se.ring[i].T -= shift
	}
	s.stats.ClockBack++
	for i := range se.behind {
		if i > 0 {
			s.gap(se, se.behind[i].T-se.behind[i-1].T)
		}
		s.score(se, &se.behind[i])
	}
	se.behind = se.behind[:0]
}

// Rescore scores every series again with cfg's detectors and thresholds
// (cfg.Capacity aside: the points kept stay as they are), from its oldest
// point kept on, as if the series had started there, and keeps cfg for
// the samples to come. It returns the number of points scored.
func (s *Store) Rescore(cfg Config) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.Capacity = s.cfg.Capacity
	if cfg.Gap <= 1 {
		cfg.Gap = DefaultConfig().Gap
	}
	s.cfg = cfg
	n := 0
	for _, se := range s.series {
		se.det = NewDetector(&s.cfg, se.Metric)
		se.step, se.lastGap = 0, 0
		var prev int64
		for i := range se.Len() {
			p := &se.ring[i]
			if len(se.ring) == cap(se.ring) {
				p = &se.ring[(se.head+i)%len(se.ring)]
			}
			if i > 0 {
				if m := se.gapBefore(p.T-prev, s.cfg.Gap); m > 0 {
					se.det.Skip(m)
				}
			}
			prev = p.T
			sc, by := se.det.Observe(p.V).Top()
			p.Score, p.Level, p.By = float32(sc), se.det.Level(), by
			n++
		}
	}
	return n
}

// Stats returns the counts of samples used and skipped.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// SeriesView is a copy of one series for readers.
type SeriesView struct {
	Key       landscape.JoinKey
	Metric    string
	Node      string
	Ambiguous bool
	Points    []Point
}

// Series returns copies of the series of node id, by metric name.
func (s *Store) Series(id string) []SeriesView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []SeriesView
	for _, se := range s.series {
		if se.Node == id {
			out = append(out, view(se))
		}
	}
	slices.SortFunc(out, func(a, b SeriesView) int { return strings.Compare(a.Metric, b.Metric) })
	return out
}

func view(se *Series) SeriesView {
	return SeriesView{Key: se.Key, Metric: se.Metric, Node: se.Node, Ambiguous: se.Ambiguous, Points: se.Points()}
}

// Unjoined lists the series no node of the landscape has a key for, or
// that several nodes have (Ambiguous), sorted by key and metric.
func (s *Store) Unjoined() []SeriesView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []SeriesView
	for _, se := range s.series {
		if se.Node == "" || se.Ambiguous {
			v := view(se)
			v.Points = nil
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b SeriesView) int {
		return strings.Compare(a.Key.Kind+"="+a.Key.Value+"/"+a.Metric, b.Key.Kind+"="+b.Key.Value+"/"+b.Metric)
	})
	return out
}

// TimeRange is the first and last sample time over all series (0, 0 when
// there is none).
func (s *Store) TimeRange() (first, last int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	first = math.MaxInt64
	for _, se := range s.series {
		if se.Len() > 0 {
			first = min(first, se.At(0).T)
			last = max(last, se.At(se.Len()-1).T)
		}
	}
	if last == 0 {
		first = 0
	}
	return first, last
}

// Latest is the time of the newest sample (0 when there is none).
func (s *Store) Latest() int64 {
	_, l := s.TimeRange()
	return l
}
