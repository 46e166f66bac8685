package tracer_test

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// Events that are read but are not what they should be are reported with
// their event index and byte offset (where the event ends); the calls
// around them stay.
func TestReadChromeWarnings(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"E without B", `[{"ph":"X","name":"f","ts":1,"dur":1,"tid":1},{"ph":"E","ts":5,"tid":1}]`, "event 1 (byte "},
		{"unknown phase", `[{"ph":"X","name":"f","ts":1,"dur":1,"tid":1},{"ph":"Q","name":"odd","ts":5,"tid":1}]`, `event 1 (byte 84): unknown phase "Q"`},
		{"negative duration", `[{"ph":"X","name":"f","ts":1,"dur":1,"tid":1},{"ph":"X","name":"g","ts":3,"dur":-2,"tid":1}]`, "event 1 (byte 91): negative duration -2 µs"},
		{"E before its B", `[{"ph":"X","name":"f","ts":1,"dur":1,"tid":1},{"ph":"B","name":"g","ts":3,"tid":1},{"ph":"E","ts":2,"tid":1}]`, "event 2 (byte "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tracer.NewTrace(0)
			rep, err := tracer.ReadChromeReport(strings.NewReader(tt.in), tr)
			require.NoError(t, err)
			require.Len(t, rep.Warnings, 1)
			assert.Contains(t, rep.Warnings[0], tt.want)
			g := byKey(tr.Callgraph())
			assert.Equal(t, int64(1), g["f"].Calls)
		})
	}
	// a thousand of the same kind make one warning with a count
	var b strings.Builder
	b.WriteString("[")
	for i := range 1000 {
		fmt.Fprintf(&b, `{"ph":"E","ts":%d,"tid":1},`, i)
	}
	b.WriteString(`{"ph":"X","name":"f","ts":1,"dur":1,"tid":1}]`)
	rep, err := tracer.ReadChromeReport(strings.NewReader(b.String()), tracer.NewTrace(0))
	require.NoError(t, err)
	require.Len(t, rep.Warnings, 1)
	assert.Contains(t, rep.Warnings[0], "event 0 ")
	assert.Contains(t, rep.Warnings[0], "and 999 more")
}

// Unicode and very long names survive a round trip.
func TestChromeUnicodeAndLongNames(t *testing.T) {
	long := strings.Repeat("ß∂ƒ", 40_000) // 240 kB
	in := fmt.Sprintf(`[{"ph":"X","name":"%s","ts":1,"dur":3,"tid":1,"args":{"file":"/tmp/日本.py","first_line":2}},
		{"ph":"X","name":"emoji 🎉 (ü.py:7)","ts":2,"dur":1,"tid":1}]`, long)
	tr := tracer.NewTrace(0)
	require.NoError(t, tracer.ReadChrome(strings.NewReader(in), tr))
	for _, f := range tracer.FileFormats {
		var buf bytes.Buffer
		require.NoError(t, tracer.Export(&buf, f, tr))
		back := tracer.NewTrace(0)
		_, err := tracer.Import(&buf, f, back)
		require.NoError(t, err, f)
		names := map[string]bool{}
		for _, n := range back.Callgraph().Nodes {
			names[n.Frame.Func] = true
		}
		assert.True(t, names[long], "%s keeps the long name", f)
		assert.True(t, names["emoji 🎉"], "%s keeps the emoji", f)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// firstEvents notes how much of the input had been read when the first
// calls reached the recorder, as events or (in end order) whole.
type firstEvents struct {
	*tracer.Trace
	in          *countingReader
	first       int64
	firstWhole  int64
	rowsWaiting bool // rows showed while the calls waited for their callers
}

func (f *firstEvents) Events(tid uint32, evs []tracer.Event) {
	if f.first < 0 {
		f.first = f.in.n.Load()
	}
	f.Trace.Events(tid, evs)
}

func (f *firstEvents) Returned(tid uint32, calls []tracer.CallSpan) {
	if f.firstWhole < 0 {
		f.firstWhole = f.in.n.Load()
	}
	f.Trace.Returned(tid, calls)
	if roots := f.Roots(tid); len(roots) > 0 {
		n, ok := f.Node(roots[0])
		f.rowsWaiting = f.rowsWaiting || ok && n.Waiting
	}
}

// inOrderChrome writes n calls as X events: a root per 100 calls, each
// with a chain of children, in order of start (reversed: in order of end,
// as VizTracer writes them).
func inOrderChrome(n int, reversed bool) []byte {
	type ev struct{ ts, dur, depth int }
	var evs []ev
	for root := 0; len(evs) < n; root++ {
		base := root * 1000
		for d := 0; d < 100 && len(evs) < n; d++ {
			evs = append(evs, ev{base + d, 1000 - 2*d - 1, d})
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"traceEvents":[`)
	for i := range evs {
		e := evs[i]
		if reversed {
			e = evs[len(evs)-1-i]
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"ph":"X","name":"f%d (m.py:%d)","ts":%d.5,"dur":%d,"pid":1,"tid":1}`, e.depth, e.depth+1, e.ts, e.dur)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// A file whose calls come in order of start reaches the recorder while it
// is read, as events; one in order of end (VizTracer's) reaches it while
// it is read too, as whole calls shown while they wait for their callers,
// and ends with the same flow.
func TestReadChromeStreams(t *testing.T) {
	const n = 200_000
	flows := map[bool]string{}
	for _, reversed := range []bool{false, true} {
		in := inOrderChrome(n, reversed)
		cr := &countingReader{r: bytes.NewReader(in)}
		rec := &firstEvents{Trace: tracer.NewTrace(0), in: cr, first: -1, firstWhole: -1}
		rep, err := tracer.ReadChromeReport(cr, rec)
		require.NoError(t, err)
		assert.Equal(t, n, rep.Calls)
		if reversed {
			assert.Equal(t, int64(-1), rec.first, "end order: no events while reading")
			assert.Less(t, rec.firstWhole, int64(len(in))/2, "end order: given whole while reading")
			assert.True(t, rec.rowsWaiting, "end order: rows while reading")
			assert.Zero(t, rec.Stats().Waiting, "all placed at the end")
		} else {
			assert.Less(t, rec.first, int64(len(in))/2, "in order: placed while reading")
			assert.Equal(t, int64(-1), rec.firstWhole)
		}
		var flow bytes.Buffer
		require.NoError(t, tracer.WriteFlow(&flow, rec.Trace))
		flows[reversed] = flow.String()
		g := byKey(rec.Trace.Callgraph())
		assert.Equal(t, int64(n/100), g["f0 (m.py:1)"].Calls)
		assert.Equal(t, int64(n/100)*999_000, g["f0 (m.py:1)"].Incl)
	}
	assert.Equal(t, flows[false], flows[true])
}

// onlyRecorder hides every method of a Trace but the Recorder's.
type onlyRecorder struct{ tr *tracer.Trace }

func (o onlyRecorder) Process(p tracer.ProcessInfo)          { o.tr.Process(p) }
func (o onlyRecorder) Frames(fs []tracer.Frame)              { o.tr.Frames(fs) }
func (o onlyRecorder) Thread(th tracer.Thread)               { o.tr.Thread(th) }
func (o onlyRecorder) Events(tid uint32, evs []tracer.Event) { o.tr.Events(tid, evs) }

var _ tracer.Recorder = onlyRecorder{}

// A thread in end order whose first calls make no call (nothing says yet
// in which order they come) is placed as the same calls in start order,
// without warnings; so is it for a recorder that does not take calls in
// end order.
func TestReadChromeEndOrderLongFlatStart(t *testing.T) {
	// main(0-100000) > 30 000 leaves, then handle > 3 leaves, in end order
	var calls []string
	x := func(name string, ts, dur int) string {
		return fmt.Sprintf(`{"ph":"X","name":"%s (m.py:1)","ts":%d,"dur":%d,"pid":1,"tid":7}`, name, ts, dur)
	}
	for i := range 30_000 {
		calls = append(calls, x("leaf", 1+3*i, 1))
	}
	for i := range 3 {
		calls = append(calls, x("leaf", 90_001+3*i, 1))
	}
	calls = append(calls, x("handle", 90_000, 100), x("main", 0, 100_000))
	end := "[" + strings.Join(calls, ",\n") + "]"
	slices.SortStableFunc(calls, func(a, b string) int { return strings.Compare(tsOf(a), tsOf(b)) })
	start := "[" + strings.Join(calls, ",\n") + "]"

	want := tracer.NewTrace(0)
	_, err := tracer.ReadChromeReport(strings.NewReader(start), want)
	require.NoError(t, err)
	for _, rec := range []tracer.Recorder{tracer.NewTrace(0), onlyRecorder{tracer.NewTrace(0)}} {
		rep, err := tracer.ReadChromeReport(strings.NewReader(end), rec)
		require.NoError(t, err)
		assert.Empty(t, rep.Warnings)
		got, ok := rec.(*tracer.Trace)
		if !ok {
			got = rec.(onlyRecorder).tr
		}
		assert.Equal(t, flowText(t, want), flowText(t, got))
		assert.Equal(t, byKey(want.Callgraph()), byKey(got.Callgraph()))
	}
}

// tsOf returns an event's "ts" padded for sorting as text.
func tsOf(ev string) string {
	_, after, _ := strings.Cut(ev, `"ts":`)
	n, _, _ := strings.Cut(after, ",")
	return fmt.Sprintf("%012s", n)
}
