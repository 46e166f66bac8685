package tracer

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteFlow writes the stored events of t as text, the way DTraceToolkit's
// py_flowinfo.d prints code flow: a header, then one line per entry ("->")
// and exit ("<-", marked "(unwind)" when left by an exception), thread by
// thread, with the thread id, the µs since the thread's previous line (since
// the trace's start for its first), file:line and the function indented two
// spaces per call depth. C functions appear when the trace has them.
func WriteFlow(w io.Writer, t *Trace) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "%7s %11s  %-32s -- %s\n", "TID", "DELTA(us)", "FILE:LINE", "FUNC")
	start := t.StartNS()
	t.mu.RLock()
	threads := append([]*threadStore(nil), t.threads...)
	t.mu.RUnlock()

	frames := map[FrameID]Frame{}
	frame := func(id FrameID) Frame {
		f, ok := frames[id]
		if !ok {
			t.mu.RLock()
			f = t.frameOrStub(id)
			t.mu.RUnlock()
			frames[id] = f
		}
		return f
	}
	buf := make([]span, 1024)
	var line []byte
	for _, th := range threads {
		prev := start
		var werr error
		t.eachRecord(th, buf, func(_ int32, r *record) bool {
			f := frame(r.frame)
			at := int(r.line)
			if at == 0 {
				at = f.Line
			}
			where := f.File
			if where == "" {
				where = "?"
			}
			if !f.C {
				where += ":" + strconv.Itoa(at)
			}
			arrow, suffix := "->", ""
			if !r.entry() {
				arrow = "<-"
				if r.kind&kindMask == Unwind {
					suffix = " (unwind)"
				}
			}
			line = line[:0]
			line = fmt.Appendf(line, "%7d %11d  %-32s %s%s %s%s\n",
				th.tid, (r.ts-prev)/1000, where,
				strings.Repeat("  ", int(r.depth)), arrow, f.Func, suffix)
			prev = r.ts
			_, werr = bw.Write(line)
			return werr == nil
		})
		if werr != nil {
			return werr
		}
	}
	return bw.Flush()
}
