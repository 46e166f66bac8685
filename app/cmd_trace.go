package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"flowscape/sources"
	"flowscape/sources/pyagent"
	"flowscape/sources/pyusdt"
	"flowscape/sources/replay"
	"flowscape/tracer"
)

func cmdTrace(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("trace", "flowscape trace [-o FILE] [--c-calls] [--limit N] [--hook auto|c|python] -- PYTHON SCRIPT [ARGS...]\n       flowscape trace --pid PID [--backend agent|usdt|dtrace] [--duration D] [--wait D] [-o FILE] [--c-calls] [--hook auto|c|python] [--usdt-lines]", stderr)
	out := fs.String("o", "trace.json", "write the trace to `FILE` (Chrome Trace Event JSON)")
	ccalls := fs.Bool("c-calls", false, "record calls of C functions too (slower)")
	limit := fs.Int("limit", 0, "keep at most `N` events (0: 20 million); call counts stay exact beyond it")
	hook := fs.String("hook", "auto", "the agent's profile `HOOK`: c (compiled on first use; fails without a compiler and headers), python, or auto (c where it can be built)")
	pid := fs.Int("pid", 0, "attach to the running Python process `PID` instead of launching one (Ctrl-C detaches)")
	duration := fs.Duration("duration", 0, "with --pid: detach after `D` (e.g. 10s; 0: at Ctrl-C or when the process exits)")
	wait := fs.Duration("wait", pyagent.AttachTimeout, "with --pid: how long the process's main thread may take to run the injected agent")
	backend := fs.String("backend", "agent", "with --pid: `BACKEND` agent (inject the agent: every call, live), usdt (count calls per function from the interpreter's USDT probes with bpftrace; no injection) or dtrace")
	usdtLines := fs.Bool("usdt-lines", false, "with --backend usdt: attach the line probe too so entries fire on Python 3.11 (CPython gh-98894; "+pyusdt.LineModeCost+")")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *hook != "auto" && *hook != "c" && *hook != "python" {
		return errorf(stderr, "trace: --hook %q: want auto, c or python", *hook)
	}
	if *pid != 0 && *backend != "agent" {
		counts := "" // the counts go to a file only when -o says so
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "o" {
				counts = *out
			}
		})
		return probeTrace(*backend, pyusdt.Config{PID: *pid, LineMode: *usdtLines}, *duration, counts, stdout, stderr)
	}
	if *pid != 0 {
		return attachTrace(pyagent.AttachConfig{PID: *pid, CCalls: *ccalls, PythonHook: *hook == "python", Timeout: *wait}, *hook == "c", *duration, *limit, *out, stderr)
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fmt.Fprintln(stderr, "flowscape trace: want an interpreter and a script after --")
		fs.Usage()
		return 2
	}
	src, err := pyagent.Backend{}.NewFlow(sources.FlowConfig{
		Interpreter: rest[0], Script: rest[1], Args: rest[2:], CCalls: *ccalls,
		PythonHook: *hook == "python",
		Stdin:      stdin, Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		return errorf(stderr, "%v", err)
	}
	if *hook == "c" {
		if _, err := pyagent.HookDir(context.Background(), rest[0]); err != nil {
			return errorf(stderr, "%v", err)
		}
	}
	// Ctrl-C reaches the program too (same process group); let it end and
	// flush, then write what was collected.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)

	t := tracer.NewTrace(*limit)
	runErr := src.Run(context.Background(), t)
	if werr := writeTraceFile(*out, t); werr != nil {
		return errorf(stderr, "%v", werr)
	}
	st := t.Stats()
	fmt.Fprintf(stderr, "flowscape: %d events from %d threads, %d functions; wrote %s\n", st.Events, st.Threads, st.Frames, *out)
	if info := t.Info(); info.Mode != "" {
		fmt.Fprintf(stderr, "flowscape: traced with %s\n", modeText(info))
	}
	if st.Dropped > 0 {
		fmt.Fprintf(stderr, "flowscape: the event limit (%d) was hit: %d events not kept (call counts are still exact)\n", st.Limit, st.Dropped)
	}
	var ee *pyagent.ExitError
	if errors.As(runErr, &ee) {
		fmt.Fprintf(stderr, "flowscape: %v\n", runErr)
		if ee.Code > 0 {
			return ee.Code
		}
		return 1
	}
	if runErr != nil {
		return errorf(stderr, "%v", runErr)
	}
	return 0
}

// writeTraceFile writes t to path as Chrome Trace Event JSON; errors name
// the file.
func writeTraceFile(path string, t *tracer.Trace) error {
	return writeFileAtomic(path, func(w io.Writer) error { return tracer.WriteChrome(w, t) })
}

// loadTraceFile reads a trace file of any importable format (guessed from
// its content and name) for the headless commands; on a fault it reports it
// and goes on with what was read.
func loadTraceFile(path string, stderr io.Writer) (*tracer.Trace, bool) {
	t := tracer.NewTrace(0)
	rep, err := replay.Open(context.Background(), path, replay.Options{}, t)
	for _, n := range rep.Notes {
		fmt.Fprintf(stderr, "flowscape: %s: %s\n", path, n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowscape: %v\n", err)
		if t.Stats().Events == 0 {
			return nil, false
		}
		fmt.Fprintf(stderr, "flowscape: going on with the %d events read before the fault\n", t.Stats().Events)
	}
	return t, true
}

func cmdFlow(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("flow", "flowscape flow FILE", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	path, code, ok := oneFile(fs, stderr)
	if !ok {
		return code
	}
	t, ok := loadTraceFile(path, stderr)
	if !ok {
		return 1
	}
	w := bufio.NewWriter(stdout)
	if err := tracer.WriteFlow(w, t); err != nil {
		return errorf(stderr, "%v", err)
	}
	if err := w.Flush(); err != nil {
		return errorf(stderr, "%v", err)
	}
	return 0
}

// modeText says how a trace was captured, with the caveat when there is
// one: "setprofile (C hook)", "sys.monitoring (no C hook for …: no C
// compiler)".
func modeText(info tracer.ProcessInfo) string {
	if info.Note != "" {
		return info.Mode + " (" + info.Note + ")"
	}
	return info.Mode
}
