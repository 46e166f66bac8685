// Package pydtrace traces a running Python's calls with the DTrace CLI on
// systems that have it (macOS, FreeBSD, illumos), from the interpreter's
// python*:::function-entry / function-return probes: the classic flow
// script, one tab-separated line per call and return, read into a
// tracer.Recorder. On Linux it says why it cannot run (use the USDT
// backend with bpftrace instead).
package pydtrace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"flowscape/sources"
	"flowscape/tracer"
)

// Name is the backend's registry name.
const Name = "python-dtrace"

// Script is the D program: $target is the pid given with -p.
const Script = `#pragma D option quiet
#pragma D option switchrate=10hz
#pragma D option bufsize=16m
python$target:::function-entry { printf("%d\t%d\t>\t%s\t%s\t%d\n", timestamp, tid, copyinstr(arg0), copyinstr(arg1), arg2); }
python$target:::function-return { printf("%d\t%d\t<\t%s\t%s\t%d\n", timestamp, tid, copyinstr(arg0), copyinstr(arg1), arg2); }
`

// Available says whether the DTrace CLI can trace here, and why not.
func Available() error {
	if runtime.GOOS == "linux" {
		return errors.New("DTrace is not available on Linux: use --backend usdt (bpftrace) or the agent")
	}
	if _, err := exec.LookPath("dtrace"); err != nil {
		return errors.New("the dtrace command is not installed")
	}
	return nil
}

// Backend describes the DTrace source.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info says whether DTrace can run here.
func (Backend) Info(context.Context) sources.Info {
	info := sources.Info{
		Name:    Name,
		Kind:    sources.KindCodeFlow,
		Summary: "trace a running Python's calls with the DTrace CLI (macOS, FreeBSD, illumos) from its function-entry / function-return probes",
	}
	if err := Available(); err != nil {
		info.Reason = err.Error()
		return info
	}
	if os.Geteuid() != 0 {
		info.Reason = "dtrace needs root (or the dtrace_proc and dtrace_user privileges)"
		return info
	}
	info.Available = true
	return info
}

// Run traces pid until ctx ends, reading dtrace's output into rec.
func Run(ctx context.Context, pid int, rec tracer.Recorder) error {
	if err := Available(); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "dtrace", "-p", strconv.Itoa(pid), "-n", Script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dtrace: %w", err)
	}
	perr := Parse(out, rec)
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if perr != nil {
		return perr
	}
	if werr != nil {
		return fmt.Errorf("dtrace: %v: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Parse reads the flow script's output: per line timestamp (ns), thread
// id, > or <, file, function and line, separated by tabs. Frames are
// interned by file, function and first line (the entry's line; a return
// reports the line it returned from, so returns are matched by file and
// function). Lines dtrace prints about itself are skipped; a malformed line
// is an error naming its number, after the lines before it were recorded.
func Parse(r io.Reader, rec tracer.Recorder) error {
	type key struct{ file, fn string }
	ids := map[key]tracer.FrameID{}
	var next tracer.FrameID = 1
	byTID := map[uint32][]tracer.Event{}
	var order []uint32
	flush := func() {
		for _, tid := range order {
			if evs := byTID[tid]; len(evs) > 0 {
				rec.Events(tid, evs)
				byTID[tid] = evs[:0]
			}
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "dtrace:") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			flush()
			return fmt.Errorf("dtrace output line %d: %d tab-separated fields, want 6: %.80q", n, len(f), line)
		}
		ts, err1 := strconv.ParseInt(f[0], 10, 64)
		tid, err2 := strconv.ParseUint(f[1], 10, 32)
		ln, err3 := strconv.Atoi(f[5])
		if err1 != nil || err2 != nil || err3 != nil {
			flush()
			return fmt.Errorf("dtrace output line %d: bad number in %.80q", n, line)
		}
		var kind tracer.Kind
		switch f[2] {
		case ">":
			kind = tracer.Call
		case "<":
			kind = tracer.Return
		default:
			flush()
			return fmt.Errorf("dtrace output line %d: direction %q, want > or <", n, f[2])
		}
		k := key{f[3], f[4]}
		id, ok := ids[k]
		if !ok {
			id = next
			next++
			ids[k] = id
			first := 0
			if kind == tracer.Call {
				first = ln
			}
			rec.Frames([]tracer.Frame{{ID: id, File: f[3], Func: f[4], Line: first}})
		}
		t := uint32(tid)
		if _, seen := byTID[t]; !seen {
			order = append(order, t)
		}
		byTID[t] = append(byTID[t], tracer.Event{TS: ts, Frame: id, Line: int32(ln), Kind: kind})
		if len(byTID[t]) >= 4096 {
			rec.Events(t, byTID[t])
			byTID[t] = byTID[t][:0]
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dtrace output: %w", err)
	}
	return nil
}
