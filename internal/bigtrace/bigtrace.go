// Package bigtrace writes big generated Chrome traces for the benchmarks
// that open them (tracer, sources/replay).
package bigtrace

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

// Write writes a Chrome trace of n X events (≈ 110 bytes each, as
// VizTracer and Perfetto write them) to path: four threads, each a run of
// requests whose calls form a tree 7 deep with 3 children per call, over
// 300 functions in 30 files, µs timestamps with fractions. The events come
// in order of their start, as Perfetto writes them, or with byEnd in order
// of their end, as VizTracer writes them (each call when it returns).
// With root, each thread's requests run under one outer call that returns
// last, as a VizTracer trace's <module> does.
func Write(path string, n int, byEnd, root bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
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
		return fmt.Errorf("the requests end at %d, after their outer calls (%d)", last, end)
	}
	if root && byEnd {
		for tid := 1; tid <= 4; tid++ {
			event(tid, t0-500, end-t0+500, "main_", 300+tid)
		}
	}
	fmt.Fprintf(w, "\n],\"displayTimeUnit\":\"ns\",\"viztracer_metadata\":{\"version\":\"1.1.1\"}}\n")
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
