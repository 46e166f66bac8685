package tracer_test

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// fibFrames are the functions of fibEvents.
var fibFrames = []tracer.Frame{
	{ID: 1, Func: "<module>", File: "fib.py", Line: 1},
	{ID: 2, Func: "run", File: "fib.py", Line: 10},
	{ID: 3, Func: "fib", File: "fib.py", Line: 3},
	{ID: 4, Func: "len", File: "~", C: true},
	{ID: 5, Func: "log", File: "fib.py", Line: 20},
}

// fibEvents returns n events of a program that calls fib(k) for k in
// 8…14 in a loop, with a C call and a helper now and then: deep, repetitive
// nesting like real traces.
func fibEvents(n int) []tracer.Event {
	evs := make([]tracer.Event, 0, n)
	ts := int64(1_000_000)
	add := func(f tracer.FrameID, line int32, k tracer.Kind) {
		ts += 40 + ts%97
		evs = append(evs, tracer.Event{TS: ts, Frame: f, Line: line, Kind: k})
	}
	var fib func(k int)
	fib = func(k int) {
		add(3, 3, tracer.Call)
		if k > 1 {
			fib(k - 1)
			fib(k - 2)
		}
		if k == 5 {
			add(4, 5, tracer.CCall)
			add(4, 5, tracer.CReturn)
		}
		add(3, 6, tracer.Return)
	}
	add(1, 1, tracer.Call)
	for i := 0; len(evs) < n; i++ {
		add(2, 12, tracer.Call)
		fib(8 + i%7)
		add(5, 14, tracer.Call)
		add(5, 21, tracer.Return)
		add(2, 15, tracer.Return)
	}
	return evs[:n]
}

func BenchmarkApply(b *testing.B) {
	const total = 2_000_000
	const batch = 4096
	evs := fibEvents(total)
	var ms0, ms1 runtime.MemStats
	var elapsed time.Duration
	var bytesPerEvent float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		b.StartTimer()

		start := time.Now()
		tr := tracer.NewTrace(0)
		tr.Frames(fibFrames)
		for i := 0; i < total; i += batch {
			tr.Events(1, evs[i:min(i+batch, total)])
		}
		elapsed += time.Since(start)

		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		bytesPerEvent = float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / total
		runtime.KeepAlive(tr)
		if got := tr.Stats().Events; got != total {
			b.Fatalf("stored %d events, want %d", got, total)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(bytesPerEvent, "B/event")
}

func BenchmarkCallgraph(b *testing.B) {
	tr := tracer.NewTrace(0)
	tr.Frames(fibFrames)
	tr.Events(1, fibEvents(1_000_000))
	for b.Loop() {
		tr.Callgraph()
	}
}

func BenchmarkChildren(b *testing.B) {
	tr := tracer.NewTrace(0)
	tr.Frames(fibFrames)
	tr.Events(1, fibEvents(1_000_000))
	root := tr.Roots(1)[0]
	for b.Loop() {
		tr.Children(root)
	}
}

func BenchmarkWriteChrome(b *testing.B) {
	tr := tracer.NewTrace(0)
	tr.Frames(fibFrames)
	tr.Events(1, fibEvents(200_000))
	for b.Loop() {
		if err := tracer.WriteChrome(io.Discard, tr); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadChrome(b *testing.B) {
	tr := tracer.NewTrace(0)
	tr.Frames(fibFrames)
	tr.Events(1, fibEvents(200_000))
	var buf bytes.Buffer
	if err := tracer.WriteChrome(&buf, tr); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if err := tracer.ReadChrome(bytes.NewReader(buf.Bytes()), tracer.NewTrace(0)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRetainedBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 50 MB")
	}
	const total = 1_000_000
	evs := fibEvents(total)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	tr := tracer.NewTrace(0)
	tr.Frames(fibFrames)
	for i := 0; i < total; i += 4096 {
		tr.Events(1, evs[i:min(i+4096, total)])
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	perEvent := float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / total
	runtime.KeepAlive(tr)
	assert.LessOrEqual(t, perEvent, 32.0, "retained bytes per event")
}

// TestConcurrentReaders runs one writer and several readers; run it with
// -race.
func TestConcurrentReaders(t *testing.T) {
	evs := fibEvents(200_000)
	tr := tracer.NewTrace(150_000)
	tr.Frames(fibFrames)
	tr.Thread(tracer.Thread{TID: 1, Name: "MainThread"})

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < len(evs); i += 512 {
			tid := uint32(1 + (i/512)%2)
			tr.Events(tid, evs[i:min(i+512, len(evs))])
		}
	}()
	reader := func(read func()) {
		defer wg.Done()
		var last uint64
		for {
			select {
			case <-done:
				read()
				return
			default:
			}
			if v := tr.Version(); v != last {
				last = v
				read()
			}
		}
	}
	wg.Add(4)
	go reader(func() {
		for _, th := range tr.Threads() {
			for _, r := range tr.Roots(th.TID) {
				for _, c := range tr.Children(r) {
					tr.Node(c)
					tr.ChildrenFolded(c)
				}
			}
		}
	})
	go reader(func() { tr.Callgraph(); tr.CallgraphThread(2) })
	go reader(func() {
		st := tr.Stats()
		assert.LessOrEqual(t, st.Events, st.Limit)
	})
	go reader(func() {
		v := tr.Filter("log")
		v.Contains(tracer.NodeID{TID: 1})
		n := 0
		tr.Walk(func(uint32, tracer.Event, int) bool { n++; return n < 10_000 })
	})
	wg.Wait()

	st := tr.Stats()
	require.Equal(t, 150_000, st.Events)
	require.Equal(t, len(evs), st.Events+st.Dropped+st.Unmatched, "every event is stored, dropped or unmatched")
	require.Positive(t, st.Dropped)
}
