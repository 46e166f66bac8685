package replay_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flowscape/internal/bigtrace"
	"flowscape/sources/replay"
	"flowscape/tracer"
)

// firstPaint notes when the first calls reach the trace: from then on
// the flow tree has rows to show. A file in order of the calls' starts
// gives them as events; one in order of their ends (VizTracer) gives them
// whole to Returned, where they show at once as the thread's top-level
// rows until their callers come.
type firstPaint struct {
	*tracer.Trace
	start time.Time
	first atomic.Int64 // ns since start, 0 before
}

// firstPaint is given both kinds: the reader takes calls in end order only
// from a recorder that has Returned
var _ tracer.EndOrderRecorder = (*firstPaint)(nil)

func (f *firstPaint) note() {
	if f.first.Load() == 0 {
		f.first.Store(int64(time.Since(f.start)))
	}
}

func (f *firstPaint) Events(tid uint32, evs []tracer.Event) {
	f.note()
	f.Trace.Events(tid, evs)
}

func (f *firstPaint) Returned(tid uint32, calls []tracer.CallSpan) {
	f.note()
	f.Trace.Returned(tid, calls)
}

// peakHeap samples the heap in use until stop is called, and returns the
// largest sample in bytes.
func peakHeap() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// benchOpen opens a generated n-event Chrome trace as the Flow tab does and
// reports the time to the first rows of the flow tree, the time to the
// complete callgraph and the peak heap.
func benchOpen(b *testing.B, n int, byEnd bool) {
	path := filepath.Join(b.TempDir(), "big.json")
	if err := bigtrace.Write(path, n, byEnd, false); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	var paint, full, peak, cpu float64
	runs := 0
	for b.Loop() {
		runtime.GC()
		stop := peakHeap()
		cpu0 := cpuSeconds()
		rec := &firstPaint{Trace: tracer.NewTrace(0), start: time.Now()}
		if _, err := replay.Open(context.Background(), path, replay.Options{}, rec); err != nil {
			b.Fatal(err)
		}
		g := rec.Callgraph()
		full += time.Since(rec.start).Seconds()
		cpu += cpuSeconds() - cpu0
		peak += float64(stop()) / (1 << 20)
		if rec.first.Load() == 0 {
			b.Fatal("no calls reached the trace: the first rows were not measured")
		}
		paint += time.Duration(rec.first.Load()).Seconds()
		runs++
		if rec.Stats().Events != 2*n || len(g.Nodes) != 300 {
			b.Fatalf("read %d events and %d functions, want %d and 300", rec.Stats().Events, len(g.Nodes), 2*n)
		}
	}
	b.ReportMetric(paint/float64(runs), "s-first-rows")
	b.ReportMetric(full/float64(runs), "s-callgraph")
	b.ReportMetric(peak/float64(runs), "MiB-peak-heap")
	// on a shared machine the wall time depends on the others; the CPU
	// time used (both cores) much less
	b.ReportMetric(cpu/float64(runs), "s-cpu")
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB-file")
}

// cpuSeconds is the CPU time this process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkOpenChrome1M opens a 1 M-event (≈ 110 MB) Chrome trace.
func BenchmarkOpenChrome1M(b *testing.B) { benchOpen(b, 1_000_000, false) }

// BenchmarkOpenVizTracer1M opens a 1 M-event Chrome trace written in order
// of the calls' ends, as VizTracer writes them: nothing can be placed
// before the outermost calls are read.
func BenchmarkOpenVizTracer1M(b *testing.B) { benchOpen(b, 1_000_000, true) }

// BenchmarkOpenChrome10M opens a 10 M-event (≈ 1.1 GB) Chrome trace. It
// writes the file to the temporary directory and needs ≈ 1.5 GB of memory,
// so it runs only when FLOWSCAPE_BIG=1.
func BenchmarkOpenChrome10M(b *testing.B) {
	if os.Getenv("FLOWSCAPE_BIG") != "1" {
		b.Skip("set FLOWSCAPE_BIG=1 to run: writes a ≈ 1.1 GB trace to the temporary directory and needs ≈ 1.5 GB of memory")
	}
	benchOpen(b, 10_000_000, false)
}
