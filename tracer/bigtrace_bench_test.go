package tracer_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"flowscape/tracer"
)

// writeBigTrace writes a Chrome trace of n X events (≈ 110 bytes each, as
// VizTracer and Perfetto write them) to path: four threads, each a run of
// requests whose calls form a tree 7 deep with 3 children per call, over
// 300 functions in 30 files, µs timestamps with fractions. The events come
// in order of their start, as Perfetto writes them, or with byEnd in order
// of their end, as VizTracer writes them (each call when it returns).
// With root, each thread's requests run under one outer call that returns
// last, as a VizTracer trace's <module> does.
func writeBigTrace(tb testing.TB, path string, n int, byEnd, root bool) {
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
	written := 0 // request calls; the outer calls are not counted
	b := make([]byte, 0, 256)
	first := true
	var last int64 // the latest end written
	event := func(tid int, ts, dur int64, name string, fn int) {
		last = max(last, ts+dur)
		b = b[:0]
		if !first {
			b = append(b, ",\n"...)
		}
		first = false
		b = append(b, `{"ph":"X","name":"`...)
		b = append(b, name...)
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
		b = strconv.AppendFloat(b, float64(dur)/1000, 'f', 3, 64)
		b = append(b, '}')
		w.Write(b)
	}
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
		event(tid, ts, dur[d], "handler_", (key*7919+d*104729)%300)
		written++
		if d == depth || byEnd {
			return
		}
		for i := range fanout {
			emit(tid, ts+1000+int64(i)*dur[d+1], d+1, key*fanout+i+1)
		}
	}
	w.WriteString(`{"traceEvents":[` + "\n")
	const t0 = 1_000_000
	ts := int64(t0)
	// the requests of n calls end by then
	end := t0 + int64(n/(4*1093)+1)*(dur[0]+5000) + 1000
	if root && !byEnd {
		for tid := 1; tid <= 4; tid++ {
			event(tid, t0-500, end-t0+500, "main_", 300+tid)
		}
	}
	for req := 0; written < n; req++ {
		emit(1+req%4, ts, 0, req%97)
		if req%4 == 3 {
			ts += dur[0] + 5000
		}
	}
	if last > end {
		tb.Fatalf("the requests end at %d, after their outer calls (%d)", last, end)
	}
	if root && byEnd {
		for tid := 1; tid <= 4; tid++ {
			event(tid, t0-500, end-t0+500, "main_", 300+tid)
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

// watch polls a trace as the Flow and Callgraph tabs do while a file is
// read (every 10 ms) and notes when the first rows and the first
// callgraph nodes show, and the peak heap in use.
type watch struct {
	start            time.Time
	rows, graph      time.Duration // 0 before
	peak             uint64
	stop, done       chan struct{}
	mu               sync.Mutex
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
	writeBigTrace(b, path, n, byEnd, root)
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
