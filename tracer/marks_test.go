package tracer_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// VizTracer's log lines are instant events: each is kept, with its name,
// on the calls' clock, and written back by WriteChrome, so converting a
// trace keeps them.
func TestInstantsAndCountersAreKept(t *testing.T) {
	path := "testdata/interop/viztracer_logging_integration.json"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var file struct {
		TraceEvents []struct {
			Ph   string  `json:"ph"`
			Name string  `json:"name"`
			TS   float64 `json:"ts"`
			S    string  `json:"s"`
		} `json:"traceEvents"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	var want []string
	first := 0.0
	for _, e := range file.TraceEvents {
		if e.Ph == "X" && (first == 0 || e.TS < first) {
			first = e.TS
		}
		if e.Ph == "i" {
			want = append(want, e.Name)
		}
	}
	require.NotEmpty(t, want, "the fixture has instant events")

	tr, _, err := importFile(t, path)
	require.NoError(t, err)
	ins := tr.Instants()
	require.Len(t, ins, len(want))
	for i, in := range ins {
		assert.Equal(t, want[i], in.Name)
		assert.Equal(t, byte('p'), in.Scope, "VizTracer writes process-wide instants")
	}
	// on the calls' clock: the first log line comes after the first call
	var firstCall int64
	tr.Walk(func(_ uint32, e tracer.Event, _ int) bool {
		if firstCall == 0 || e.TS < firstCall {
			firstCall = e.TS
		}
		return true
	})
	assert.Greater(t, ins[0].TS, firstCall)

	// a counter, added as a Chrome file would give it, survives too
	tr.Marks(nil, []tracer.CounterSample{{TS: ins[0].TS, Name: "heap", Series: "used", Value: 1.5e6}})
	var buf bytes.Buffer
	require.NoError(t, tracer.WriteChrome(&buf, tr))
	back := tracer.NewTrace(0)
	require.NoError(t, tracer.ReadChrome(&buf, back))
	got := back.Instants()
	require.Len(t, got, len(ins))
	for i := range ins {
		assert.Equal(t, ins[i].Name, got[i].Name)
		assert.Equal(t, ins[i].Scope, got[i].Scope)
		assert.InDelta(t, ins[i].TS, got[i].TS, 1, "ns, within the µs with 3 decimals written")
	}
	assert.Equal(t, []tracer.CounterSample{{TS: got[0].TS, Name: "heap", Series: "used", Value: 1.5e6}}, back.Counters())
}
