package tracer_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flowscape/tracer"
)

// wideEvents returns balanced events over funcs distinct functions: a
// driver calls each function in turn, each calling the next two.
func wideEvents(n, funcs int) ([]tracer.Frame, []tracer.Event) {
	frames := make([]tracer.Frame, funcs+1)
	for i := range frames {
		frames[i] = tracer.Frame{ID: tracer.FrameID(i + 1), Func: fmt.Sprintf("f%d", i), File: "wide.py", Line: i}
	}
	var evs []tracer.Event
	ts := int64(0)
	add := func(f int, k tracer.Kind) {
		ts += 50
		evs = append(evs, tracer.Event{TS: ts, Frame: tracer.FrameID(f + 1), Kind: k})
	}
	for i := 0; len(evs) < n; i++ {
		f := 1 + i%funcs
		add(0, tracer.Call)
		add(f, tracer.Call)
		add(1+(f+1)%funcs, tracer.Call)
		add(1+(f+1)%funcs, tracer.Return)
		add(1+(f+2)%funcs, tracer.Call)
		add(1+(f+2)%funcs, tracer.Return)
		add(f, tracer.Return)
		add(0, tracer.Return)
	}
	return frames, evs
}

// BenchmarkCallgraphWhileIngesting is the Callgraph tab's refresh (a
// snapshot of a 300-function callgraph, trimmed to 80) while another
// goroutine applies events as fast as it can in 10 000-event batches. It
// reports the ingest rate reached meanwhile and the refreshes per second
// the snapshot time allows.
func BenchmarkCallgraphWhileIngesting(b *testing.B) {
	frames, evs := wideEvents(10_000, 300)
	span := evs[len(evs)-1].TS
	tr := tracer.NewTrace(2_000_000) // bounded store; the callgraph counts every event
	tr.Frames(frames)
	tr.Events(1, evs)
	var stop atomic.Bool
	var applied atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		batch := make([]tracer.Event, len(evs))
		for round := int64(1); !stop.Load(); round++ {
			for i, e := range evs {
				e.TS += round * span
				batch[i] = e
			}
			tr.Events(1, batch)
			applied.Add(int64(len(batch)))
		}
	}()
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		g, _ := tr.Callgraph().Trim(tracer.TrimOptions{MaxNodes: tracer.DefaultMaxNodes})
		if len(g.Nodes) != tracer.DefaultMaxNodes {
			b.Fatalf("%d nodes", len(g.Nodes))
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	b.ReportMetric(float64(applied.Load())/elapsed.Seconds(), "ingested-events/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "refreshes/s")
}
