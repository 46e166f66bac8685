package tracer_test

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"flowscape/internal/bigtrace"
	"flowscape/tracer"
)

// watch polls a trace as the Flow and Callgraph tabs do while a file is
// read (every 10 ms) and notes when the first rows and the first
// callgraph nodes show, and the peak heap in use.
type watch struct {
	start            time.Time
	rows, graph      time.Duration // 0 before
	peak             uint64
	stop, done       chan struct{}
	sawRows, sawNode bool
}

func watchTrace(tr *tracer.Trace) *watch {
	w := &watch{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		// the heap in use (HeapInuse), read without stopping the world
		heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		for {
			metrics.Read(heap)
			w.peak = max(w.peak, heap[0].Value.Uint64()+heap[1].Value.Uint64())
			if !w.sawRows {
				for _, th := range tr.Threads() {
					if len(tr.Roots(th.TID)) > 0 {
						w.sawRows, w.rows = true, time.Since(w.start)
						break
					}
				}
			}
			if !w.sawNode && len(tr.Callgraph().Nodes) > 0 {
				w.sawNode, w.graph = true, time.Since(w.start)
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *watch) finish() {
	close(w.stop)
	<-w.done
}

// benchImport reads a generated n-event Chrome trace into a Trace as the
// Flow tab does, and reports the time to the first rows of the flow tree
// and the first callgraph nodes, the time to the complete callgraph, the
// CPU time and the peak heap.
func benchImport(b *testing.B, n int, byEnd, root bool, limit int) {
	path := filepath.Join(b.TempDir(), "big.json")
	if err := bigtrace.Write(path, n, byEnd, root); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	var rows, graph, full, peak, cpu float64
	runs := 0
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		cpu0 := cpuSeconds()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		tr := tracer.NewTrace(limit)
		w := watchTrace(tr)
		if _, err := tracer.Import(bufio.NewReaderSize(f, 1<<20), tracer.Chrome, tr); err != nil {
			b.Fatal(err)
		}
		f.Close()
		g := tr.Callgraph()
		full += time.Since(w.start).Seconds()
		cpu += cpuSeconds() - cpu0
		w.finish()
		rows += w.rows.Seconds()
		graph += w.graph.Seconds()
		peak += float64(w.peak) / (1 << 20)
		runs++
		want, wantCalls := 300, int64(n)
		if root {
			want, wantCalls = want+4, wantCalls+4
		}
		var calls int64
		for _, nd := range g.Nodes {
			calls += nd.Calls
		}
		if calls != wantCalls || len(g.Nodes) != want {
			b.Fatalf("callgraph of %d calls and %d functions, want %d and %d", calls, len(g.Nodes), wantCalls, want)
		}
	}
	b.ReportMetric(rows/float64(runs), "s-first-rows")
	b.ReportMetric(graph/float64(runs), "s-first-graph")
	b.ReportMetric(full/float64(runs), "s-callgraph")
	b.ReportMetric(peak/float64(runs), "MiB-peak-heap")
	// on a shared machine the wall time depends on the others; the CPU
	// time used (both cores) much less
	b.ReportMetric(cpu/float64(runs), "s-cpu")
}

// cpuSeconds is the CPU time this process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func bigOnly(b *testing.B) {
	if os.Getenv("FLOWSCAPE_BIG") != "1" {
		b.Skip("set FLOWSCAPE_BIG=1 to run: writes a ≈ 1.1 GB trace to the temporary directory and needs ≈ 1.5 GB of memory")
	}
}

// BenchmarkImportChrome1M reads a 1 M-event trace in start order (Perfetto).
func BenchmarkImportChrome1M(b *testing.B) { benchImport(b, 1_000_000, false, false, 0) }

// BenchmarkImportVizTracer1M reads a 1 M-event trace in end order
// (VizTracer), each thread under one outer call that is read last.
func BenchmarkImportVizTracer1M(b *testing.B) { benchImport(b, 1_000_000, true, true, 0) }

// BenchmarkImportChrome10M reads a 10 M-event (≈ 1.1 GB) trace in start
// order; only with FLOWSCAPE_BIG=1.
func BenchmarkImportChrome10M(b *testing.B) {
	bigOnly(b)
	benchImport(b, 10_000_000, false, false, 0)
}

// BenchmarkImportVizTracer10M reads a 10 M-event trace in end order; only
// with FLOWSCAPE_BIG=1.
func BenchmarkImportVizTracer10M(b *testing.B) {
	bigOnly(b)
	benchImport(b, 10_000_000, true, true, 0)
}

// BenchmarkImportVizTracer10MLimit reads the 10 M-event end-order trace
// with the Flow tab's smallest memory limit (120 MB, 5 M events): most
// calls wait on disk for their callers. Only with FLOWSCAPE_BIG=1.
func BenchmarkImportVizTracer10MLimit(b *testing.B) {
	bigOnly(b)
	benchImport(b, 10_000_000, true, true, 5_000_000)
}
