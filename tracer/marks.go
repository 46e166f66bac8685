package tracer

import "slices"

// Instant is a moment a trace file marks (Chrome's "i" events: a log
// line, a GC, a request arriving), on a thread, its process or everywhere.
type Instant struct {
	TS    int64  // ns, on the trace's clock
	TID   uint32 // the thread it was recorded on
	Name  string
	Scope byte // 't' thread, 'p' process, 'g' global
}

// CounterSample is one value of a counter series (Chrome's "C" events: a
// counter named Name with one value per Series, e.g. heap "used" and
// "total").
type CounterSample struct {
	TS     int64 // ns, on the trace's clock
	Name   string
	Series string
	Value  float64
}

// MarkRecorder is a Recorder that also keeps instants and counter samples.
type MarkRecorder interface {
	Recorder
	Marks(instants []Instant, counters []CounterSample)
}

// MaxMarks is how many instants, and how many counter samples, a trace
// keeps; later ones are counted (Stats.MarksDropped).
const MaxMarks = 1 << 20

type marks struct {
	instants []Instant
	counters []CounterSample
	dropped  int
}

var _ MarkRecorder = (*Trace)(nil)

// Marks adds instants and counter samples, up to MaxMarks of each.
func (t *Trace) Marks(instants []Instant, counters []CounterSample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := &t.marks
	n := min(len(instants), MaxMarks-len(m.instants))
	m.instants = append(m.instants, instants[:n]...)
	m.dropped += len(instants) - n
	n = min(len(counters), MaxMarks-len(m.counters))
	m.counters = append(m.counters, counters[:n]...)
	m.dropped += len(counters) - n
	t.version.Add(1)
}

// Instants returns the instants kept, in the order they were given.
func (t *Trace) Instants() []Instant {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.marks.instants)
}

// Counters returns the counter samples kept, in the order they were given.
func (t *Trace) Counters() []CounterSample {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.marks.counters)
}

// MarkCounts returns how many instants and counter samples are kept.
func (t *Trace) MarkCounts() (instants, counters int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.marks.instants), len(t.marks.counters)
}
