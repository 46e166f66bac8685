package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"flowscape/sources/pyagent"
	"flowscape/sources/pydtrace"
	"flowscape/sources/pyusdt"
	"flowscape/tracer"
)

// attachTrace is flowscape trace --pid: attach, trace until Ctrl-C, the
// duration or the process's exit, detach, write the trace.
func attachTrace(cfg pyagent.AttachConfig, needC bool, duration time.Duration, limit int, out string, stderr io.Writer) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	a, err := pyagent.NewAttacher(ctx, cfg)
	if err != nil {
		return errorf(stderr, "%v", err)
	}
	if needC {
		if _, err := pyagent.HookDir(ctx, a.Interpreter().Path); err != nil {
			return errorf(stderr, "%v", err)
		}
	}
	fmt.Fprintf(stderr, "flowscape: attaching to pid %d (Python %s); Ctrl-C detaches\n", cfg.PID, a.Interpreter().Version)
	t := tracer.NewTrace(limit)
	if duration > 0 {
		// the duration counts from the moment the agent is in
		var c context.CancelFunc
		ctx, c = context.WithCancel(ctx)
		defer c()
		go func() {
			for t.Info().PID == 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(duration):
				c()
			}
		}()
	}
	runErr := a.Run(ctx, t)
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		runErr = nil // detached as asked
	}
	st := t.Stats()
	if st.Events == 0 && runErr != nil {
		return errorf(stderr, "%v", runErr)
	}
	if werr := writeTraceFile(out, t); werr != nil {
		return errorf(stderr, "%v", werr)
	}
	fmt.Fprintf(stderr, "flowscape: detached; %d events from %d threads, %d functions; wrote %s\n", st.Events, st.Threads, st.Frames, out)
	if info := t.Info(); info.Mode != "" {
		fmt.Fprintf(stderr, "flowscape: traced with %s\n", modeText(info))
	}
	if runErr != nil {
		return errorf(stderr, "%v", runErr)
	}
	return 0
}

// probeTrace is flowscape trace --pid PID --backend usdt|dtrace: count the
// process's calls per function from its probes, print each interval and
// the totals, write the totals as JSON to out.
func probeTrace(backend string, cfg pyusdt.Config, duration time.Duration, out string, stdout, stderr io.Writer) int {
	switch backend {
	case "usdt":
	case "dtrace":
		return errorf(stderr, "%v", pydtrace.Available())
	default:
		return errorf(stderr, "trace: --backend %q: want agent, usdt or dtrace", backend)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if duration > 0 {
		// the duration counts from the moment the probes are attached
		var c context.CancelFunc
		ctx, c = context.WithCancel(ctx)
		defer c()
		cfg.Attached = func() { time.AfterFunc(duration, c) }
	}
	fmt.Fprintf(stderr, "flowscape: counting pid %d's calls from its USDT probes; Ctrl-C stops\n", cfg.PID)
	totals := map[[2]string]*pyusdt.FuncCount{}
	warned := false
	err := pyusdt.Run(ctx, cfg, func(r pyusdt.Report) {
		e, n := r.Totals()
		top := ""
		for i, f := range r.Funcs {
			if i == 3 {
				break
			}
			top += fmt.Sprintf("  %s %d", f.Func, f.Returns)
		}
		fmt.Fprintf(stdout, "%s  %d functions  %d entries  %d returns %s\n", r.At.Format("15:04:05"), len(r.Funcs), e, n, top)
		if r.Warning != "" && !warned {
			warned = true
			fmt.Fprintf(stderr, "flowscape: %s (--usdt-lines)\n", r.Warning)
		}
		for _, f := range r.Funcs {
			k := [2]string{f.File, f.Func}
			t := totals[k]
			if t == nil {
				t = &pyusdt.FuncCount{File: f.File, Func: f.Func, Line: f.Line}
				totals[k] = t
			}
			t.Entries += f.Entries
			t.Returns += f.Returns
		}
	})
	list := make([]pyusdt.FuncCount, 0, len(totals))
	for _, t := range totals {
		list = append(list, *t)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Returns > list[j].Returns })
	fmt.Fprintf(stdout, "\n%10s %10s  %s\n", "ENTRIES", "RETURNS", "FUNCTION")
	for _, f := range list {
		fmt.Fprintf(stdout, "%10d %10d  %s (%s:%d)\n", f.Entries, f.Returns, f.Func, f.File, f.Line)
	}
	if out != "" {
		if werr := writeFileAtomic(out, func(w io.Writer) error {
			return json.NewEncoder(w).Encode(map[string]any{"pid": cfg.PID, "backend": backend, "functions": list})
		}); werr != nil {
			return errorf(stderr, "%v", werr)
		}
		fmt.Fprintf(stderr, "flowscape: wrote the totals to %s\n", out)
	}
	if err != nil {
		return errorf(stderr, "%v", err)
	}
	return 0
}
