package tracer_test

import (
	"bytes"
	"fmt"
	"io"
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
// events reached the recorder.
type firstEvents struct {
	*tracer.Trace
	in    *countingReader
	first int64
}

func (f *firstEvents) Events(tid uint32, evs []tracer.Event) {
	if f.first < 0 {
		f.first = f.in.n.Load()
	}
	f.Trace.Events(tid, evs)
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
// is read; one in another order reaches it at the end, with the same flow.
func TestReadChromeStreams(t *testing.T) {
	const n = 200_000
	flows := map[bool]string{}
	for _, reversed := range []bool{false, true} {
		in := inOrderChrome(n, reversed)
		cr := &countingReader{r: bytes.NewReader(in)}
		rec := &firstEvents{Trace: tracer.NewTrace(0), in: cr, first: -1}
		rep, err := tracer.ReadChromeReport(cr, rec)
		require.NoError(t, err)
		assert.Equal(t, n, rep.Calls)
		if reversed {
			assert.Equal(t, int64(len(in)), rec.first, "out of order: placed at the end")
		} else {
			assert.Less(t, rec.first, int64(len(in))/2, "in order: placed while reading")
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
