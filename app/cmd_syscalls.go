package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"flowscape/sources"
	"flowscape/sources/bpftrace"
	"flowscape/sources/dtrace"
	"flowscape/sources/procstat"
	"flowscape/sources/registry"
	"flowscape/tracer/syscalls"
)

const syscallsSynopsis = "flowscape syscalls [--interval 1s] [--count N] [--pid PID | --comm PATTERN | -- COMMAND [ARGS...]] [--by process|syscall] [--format text|json] [--source bpftrace|dtrace|proc] [--top N]"

// syscallSourceNames maps --source values to registry names.
var syscallSourceNames = map[string]string{
	"bpftrace": bpftrace.Name,
	"dtrace":   dtrace.Name,
	"proc":     procstat.Name,
}

// chosenSyscalls is the syscall backend picked for a run.
type chosenSyscalls struct {
	name    string // bpftrace, dtrace or proc
	backend sources.SyscallBackend
	// fallback says why the preferred source could not be used ("" when
	// it was).
	fallback string
}

// pickSyscallSource returns the backend for --source want ("" or "auto":
// bpftrace, else /proc with the reason).
func pickSyscallSource(want string) (chosenSyscalls, error) {
	reg := registry.Default()
	if want != "" && want != "auto" {
		name, ok := syscallSourceNames[want]
		if !ok {
			return chosenSyscalls{}, fmt.Errorf("unknown source %q (want bpftrace, dtrace or proc)", want)
		}
		b, err := reg.Syscalls(name)
		if err != nil {
			return chosenSyscalls{}, err
		}
		return chosenSyscalls{name: want, backend: b}, nil
	}
	b, err := reg.Syscalls(bpftrace.Name)
	if err != nil {
		return chosenSyscalls{}, err
	}
	if _, cerr := bpftrace.Check(); cerr != nil {
		p, err := reg.Syscalls(procstat.Name)
		if err != nil {
			return chosenSyscalls{}, err
		}
		return chosenSyscalls{name: "proc", backend: p, fallback: cerr.Error()}, nil
	}
	return chosenSyscalls{name: "bpftrace", backend: b}, nil
}

type syscallsOptions struct {
	interval time.Duration
	count    int
	pid      int
	comm     string
	by       syscalls.By
	format   string
	source   string
	top      int
	command  []string
}

func cmdSyscalls(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("syscalls", syscallsSynopsis, stderr)
	var o syscallsOptions
	var by string
	fs.DurationVar(&o.interval, "interval", time.Second, "report every `DURATION`")
	fs.IntVar(&o.count, "count", 0, "stop after `N` intervals (0: until interrupted); not with a command, counted until it exits")
	fs.IntVar(&o.pid, "pid", 0, "count only the process `PID`")
	fs.StringVar(&o.comm, "comm", "", "count only processes whose name matches `PATTERN` (a glob with * ? [ ], else a substring)")
	fs.StringVar(&by, "by", "process", "one row per process or per syscall: `BY` is process or syscall")
	fs.StringVar(&o.format, "format", "text", "output `FORMAT`: text or json (one object per line)")
	fs.StringVar(&o.source, "source", "auto", "`SOURCE`: bpftrace (root), dtrace (macOS, FreeBSD, illumos), proc (partial, no privileges) or auto")
	fs.IntVar(&o.top, "top", 20, "show the `N` busiest rows per interval, the rest as other (0: all)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.command = fs.Args()
	var err error
	if o.by, err = syscalls.ParseBy(by); err != nil {
		return usageError(fs, stderr, err)
	}
	switch {
	case o.format != "text" && o.format != "json":
		return usageError(fs, stderr, fmt.Errorf("format %q: want text or json", o.format))
	case o.interval < time.Millisecond:
		return usageError(fs, stderr, fmt.Errorf("interval %v: want at least 1ms", o.interval))
	case o.pid != 0 && len(o.command) > 0:
		return usageError(fs, stderr, errors.New("give --pid or a command after --, not both"))
	case o.count != 0 && len(o.command) > 0:
		return usageError(fs, stderr, errors.New("--count does not go with a command: a command is counted until it exits"))
	case o.pid < 0 || o.count < 0 || o.top < 0:
		return usageError(fs, stderr, errors.New("--pid, --count and --top must not be negative"))
	}
	ch, err := pickSyscallSource(o.source)
	if err != nil {
		return errorf(stderr, "%v", err)
	}
	if ch.fallback != "" {
		fmt.Fprintf(stderr, "flowscape: %s; counting from /proc instead (%s)\n", ch.fallback, procstat.PartialReason)
	} else if ch.backend.Partial() {
		fmt.Fprintf(stderr, "flowscape: %s\n", procstat.PartialReason)
	}
	cfg := sources.SyscallConfig{
		Interval: o.interval, PID: o.pid, Comm: o.comm, Command: o.command,
		Stdin: stdin, Stdout: stdout, Stderr: stderr,
	}
	src, err := ch.backend.NewSyscalls(cfg)
	if err != nil {
		return errorf(stderr, "%v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	go func() {
		select {
		case <-sig:
			// A launched command gets the interrupt itself (same process
			// group); it ends and the totals are printed. Otherwise stop.
			if len(o.command) == 0 {
				cancel()
			}
		case <-ctx.Done():
		}
	}()

	m := syscalls.New(syscalls.Options{})
	n := 0
	var werr error
	sink := syscalls.SinkFunc(func(iv syscalls.Interval) {
		m.Interval(iv)
		n++
		if len(o.command) == 0 && werr == nil && (o.count == 0 || n <= o.count) {
			werr = writeInterval(stdout, o, m.Top(o.by, o.top), iv)
		}
		if o.count > 0 && n >= o.count {
			cancel()
		}
	})
	runErr := src.Run(ctx, sink)
	if errors.Is(runErr, bpftrace.ErrNotStarted) && ch.fallback == "" && (o.source == "auto" || o.source == "") {
		// bpftrace is there but cannot count here (e.g. a container that
		// refuses BPF): nothing ran yet, so go on from /proc.
		fmt.Fprintf(stderr, "flowscape: %v; counting from /proc instead (%s)\n", runErr, procstat.PartialReason)
		if ch, err = pickSyscallSource("proc"); err != nil {
			return errorf(stderr, "%v", err)
		}
		ch.fallback = runErr.Error()
		if src, err = ch.backend.NewSyscalls(cfg); err != nil {
			return errorf(stderr, "%v", err)
		}
		runErr = src.Run(ctx, sink)
	}
	if werr != nil {
		return errorf(stderr, "write: %v", werr)
	}
	var ee *exec.ExitError
	status := 0
	if errors.As(runErr, &ee) {
		status = ee.ExitCode()
		if status <= 0 {
			status = 1
		}
		fmt.Fprintf(stderr, "flowscape: %s: %v\n", o.command[0], ee)
		runErr = errors.Join(unwrapAllBut(runErr, ee)...)
	}
	if errors.Is(runErr, syscalls.ErrProcessExited) {
		fmt.Fprintf(stderr, "flowscape: %v\n", runErr)
		runErr = nil
	}
	if len(o.command) > 0 {
		if err := writeTotals(stdout, o, ch, m, status); err != nil {
			return errorf(stderr, "write: %v", err)
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "flowscape: %s source: %v\n", ch.name, runErr)
		if status == 0 {
			status = 1
		}
	}
	return status
}

// unwrapAllBut returns the errors joined in err, without skip.
func unwrapAllBut(err error, skip error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			if e != skip {
				out = append(out, unwrapAllBut(e, skip)...)
			}
		}
		return out
	}
	if err == skip {
		return nil
	}
	return []error{err}
}

func usageError(fs *flag.FlagSet, stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "flowscape syscalls: %v\n", err)
	fs.Usage()
	return 2
}

// jsonRow is one row of the JSON output.
type jsonRow struct {
	PID     int     `json:"pid,omitempty"`
	Comm    string  `json:"comm,omitempty"`
	Syscall string  `json:"syscall,omitempty"`
	Calls   uint64  `json:"calls"`
	Rate    float64 `json:"rate_per_s"`
	Total   uint64  `json:"total"`
}

func jsonRows(snap syscalls.Snapshot) []jsonRow {
	out := make([]jsonRow, 0, len(snap.Rows))
	for _, r := range snap.Rows {
		out = append(out, jsonRow{PID: r.PID, Comm: r.Comm, Syscall: r.Syscall, Calls: r.Last, Rate: r.Rate, Total: r.Total})
	}
	return out
}

func writeInterval(w io.Writer, o syscallsOptions, snap syscalls.Snapshot, iv syscalls.Interval) error {
	if o.format == "json" {
		return json.NewEncoder(w).Encode(struct {
			Interval int       `json:"interval"`
			LengthNS int64     `json:"length_ns"`
			By       string    `json:"by"`
			Calls    uint64    `json:"calls"`
			Rows     []jsonRow `json:"rows"`
		}{snap.Intervals, int64(iv.Length), o.by.String(), snap.All.Last, jsonRows(snap)})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- interval %d, %v, %d calls, %.0f/s\n", snap.Intervals, iv.Length.Round(time.Millisecond), snap.All.Last, snap.All.Rate)
	if o.by == syscalls.BySyscall {
		fmt.Fprintf(&b, "%10s %10s  %s\n", "CALLS", "PER S", "SYSCALL")
		for _, r := range snap.Rows {
			fmt.Fprintf(&b, "%10d %10.0f  %s\n", r.Last, r.Rate, r.Label())
		}
	} else {
		fmt.Fprintf(&b, "%8s %10s %10s  %s\n", "PID", "CALLS", "PER S", "COMM")
		for _, r := range snap.Rows {
			fmt.Fprintf(&b, "%8s %10d %10.0f  %s\n", pidText(r.PID), r.Last, r.Rate, r.Comm)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pidText(pid int) string {
	if pid == syscalls.OtherPID {
		return "-"
	}
	return fmt.Sprint(pid)
}

func writeTotals(w io.Writer, o syscallsOptions, ch chosenSyscalls, m *syscalls.Model, status int) error {
	snap := m.Top(o.by, 0)
	if o.format == "json" {
		rows := jsonRows(snap)
		return json.NewEncoder(w).Encode(struct {
			Command   []string  `json:"command"`
			Status    int       `json:"exit_status"`
			Source    string    `json:"source"`
			Partial   bool      `json:"partial"`
			By        string    `json:"by"`
			Intervals int       `json:"intervals"`
			ElapsedNS int64     `json:"elapsed_ns"`
			Total     uint64    `json:"total"`
			Rows      []jsonRow `json:"rows"`
		}{o.command, status, ch.name, ch.backend.Partial(), o.by.String(), snap.Intervals, int64(snap.Elapsed), snap.All.Total, rows})
	}
	var b strings.Builder
	partial := ""
	if ch.backend.Partial() {
		partial = ", partial"
	}
	fmt.Fprintf(&b, "-- %s: %d calls in %v (source %s%s)\n", strings.Join(o.command, " "), snap.All.Total,
		snap.Elapsed.Round(time.Millisecond), ch.name, partial)
	if o.by == syscalls.BySyscall {
		fmt.Fprintf(&b, "%10s  %s\n", "CALLS", "SYSCALL")
		for _, r := range snap.Rows {
			fmt.Fprintf(&b, "%10d  %s\n", r.Total, r.Label())
		}
	} else {
		fmt.Fprintf(&b, "%8s %10s  %s\n", "PID", "CALLS", "COMM")
		for _, r := range snap.Rows {
			fmt.Fprintf(&b, "%8s %10d  %s\n", pidText(r.PID), r.Total, r.Comm)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
