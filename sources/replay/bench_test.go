package replay_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flowscape/sources/replay"
	"flowscape/tracer"
)

// writeBigChrome writes a Chrome trace of n X events (≈ 100 bytes each,
// as VizTracer and Perfetto write them) to path: four threads, each a run
// of requests whose calls form a tree 7 deep with 3 children per call, over
// 300 functions in 30 files, µs timestamps with fractions. The events come
// in order of their start, as Perfetto writes them, or with byEnd in order
// of their end, as VizTracer writes them.
func writeBigChrome(tb testing.TB, path string, n int, byEnd bool) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const fanout, depth = 3, 6
	var dur [depth + 1]int64 // ns
	dur[depth] = 1125
	for d := depth - 1; d >= 0; d-- {
		dur[d] = fanout*dur[d+1] + 2250
	}
	written := 0
	b := make([]byte, 0, 256)
	var emit func(tid int, ts int64, d, key int)
	emit = func(tid int, ts int64, d, key int) {
		if written >= n {
			return
		}
		if byEnd && d < depth {
			for i := range fanout {
				emit(tid, ts+1000+int64(i)*dur[d+1], d+1, key*fanout+i+1)
			}
			if written >= n {
				return
			}
		}
		fn := (key*7919 + d*104729) % 300
		b = b[:0]
		if written > 0 {
			b = append(b, ",\n"...)
		}
		b = append(b, `{"ph":"X","name":"handler_`...)
		b = strconv.AppendInt(b, int64(fn), 10)
		b = append(b, ` (/srv/app/module`...)
		b = strconv.AppendInt(b, int64(fn%30), 10)
		b = append(b, `.py:`...)
		b = strconv.AppendInt(b, int64(10*(fn/30)+1), 10)
		b = append(b, `)","cat":"FEE","pid":1,"tid":`...)
		b = strconv.AppendInt(b, int64(tid), 10)
		b = append(b, `,"ts":`...)
		b = strconv.AppendFloat(b, float64(ts)/1000, 'f', 3, 64)
		b = append(b, `,"dur":`...)
		b = strconv.AppendFloat(b, float64(dur[d])/1000, 'f', 3, 64)
		b = append(b, '}')
		w.Write(b)
		written++
		if d == depth || byEnd {
			return
		}
		for i := range fanout {
			emit(tid, ts+1000+int64(i)*dur[d+1], d+1, key*fanout+i+1)
		}
	}
	w.WriteString(`{"traceEvents":[` + "\n")
	ts := int64(1_000_000)
	for req := 0; written < n; req++ {
		emit(1+req%4, ts, 0, req%97)
		if req%4 == 3 {
			ts += dur[0] + 5000
		}
	}
	fmt.Fprintf(w, "\n],\"displayTimeUnit\":\"ns\",\"viztracer_metadata\":{\"version\":\"1.1.1\"}}\n")
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

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
	writeBigChrome(b, path, n, byEnd)
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
