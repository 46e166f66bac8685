package tracer_test

import (
	"fmt"
	"strconv"
	"strings"

	"flowscape/tracer"
)

// batch is one Events call.
type batch struct {
	tid uint32
	evs []tracer.Event
}

// scripted is a trace written by hand, see script.
type scripted struct {
	frames  []tracer.Frame
	byName  map[string]tracer.FrameID
	batches []batch
}

// script parses a trace written one event per line (or per ';'):
//
//	@tid          switch to thread tid (default 1)
//	ts op func [line]
//
// where op is > (call), < (return), c> (C call), c< (C return) or ! (unwind).
// Frames get ids from 1 in order of first appearance, file "prog.py" and
// first line 10×id; C functions get file "~" and line 0.
func script(s string) scripted {
	sc := scripted{byName: map[string]tracer.FrameID{}}
	tid := uint32(1)
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ';' }) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(f[0], "@") {
			n, err := strconv.ParseUint(f[0][1:], 10, 32)
			if err != nil {
				panic(err)
			}
			tid = uint32(n)
			continue
		}
		if len(f) < 3 {
			panic(fmt.Sprintf("script line %q", line))
		}
		ts, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			panic(err)
		}
		var kind tracer.Kind
		switch f[1] {
		case ">":
			kind = tracer.Call
		case "<":
			kind = tracer.Return
		case "c>":
			kind = tracer.CCall
		case "c<":
			kind = tracer.CReturn
		case "!":
			kind = tracer.Unwind
		default:
			panic("script op " + f[1])
		}
		id, ok := sc.byName[f[2]]
		if !ok {
			id = tracer.FrameID(len(sc.frames) + 1)
			fr := tracer.Frame{ID: id, Func: f[2], File: "prog.py", Line: 10 * int(id)}
			if kind == tracer.CCall || kind == tracer.CReturn {
				fr.File, fr.Line, fr.C = "~", 0, true
			}
			sc.byName[f[2]] = id
			sc.frames = append(sc.frames, fr)
		}
		var ln int64
		if len(f) > 3 {
			ln, _ = strconv.ParseInt(f[3], 10, 32)
		}
		e := tracer.Event{TS: ts, Frame: id, Line: int32(ln), Kind: kind}
		if n := len(sc.batches); n > 0 && sc.batches[n-1].tid == tid {
			sc.batches[n-1].evs = append(sc.batches[n-1].evs, e)
		} else {
			sc.batches = append(sc.batches, batch{tid: tid, evs: []tracer.Event{e}})
		}
	}
	return sc
}

// apply gives the script to rec.
func (sc scripted) apply(rec tracer.Recorder) {
	rec.Frames(sc.frames)
	for _, b := range sc.batches {
		rec.Events(b.tid, b.evs)
	}
}

// trace returns a Trace holding the script.
func (sc scripted) trace(limit int, info tracer.ProcessInfo) *tracer.Trace {
	tr := tracer.NewTrace(limit)
	tr.Process(info)
	sc.apply(tr)
	return tr
}

// names renders a frame path as "a>b>c".
func names(tr *tracer.Trace, path []tracer.FrameID) string {
	s := make([]string, len(path))
	for i, id := range path {
		f, _ := tr.Frame(id)
		s[i] = f.Func
	}
	return strings.Join(s, ">")
}

// nodeByFunc finds a graph node by function name.
func nodeByFunc(g *tracer.Graph, fn string) (tracer.GraphNode, bool) {
	for _, n := range g.Nodes {
		if n.Frame.Func == fn {
			return n, true
		}
	}
	return tracer.GraphNode{}, false
}
