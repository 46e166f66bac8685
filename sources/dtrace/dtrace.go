// Package dtrace is the syscall source for systems that have DTrace (macOS,
// FreeBSD, illumos): the aggregation @calls[pid, execname, probefunc] =
// count() over syscall:::entry, printed with printa and truncated every
// interval. On Linux it is unavailable, with the reason.
package dtrace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	assetsd "flowscape/assets/dtrace"
	"flowscape/sources"
	"flowscape/sources/launch"
	"flowscape/tracer/syscalls"
)

// Name is the backend's name in the registry.
const Name = "dtrace-syscalls"

// Backend is the DTrace syscall backend.
type Backend struct{}

var _ sources.SyscallBackend = Backend{}

// Partial is false: every syscall is counted.
func (Backend) Partial() bool { return false }

// LinuxReason is why the backend cannot run on Linux.
const LinuxReason = "DTrace is not available on Linux: the kernel has no DTrace providers (a /usr/bin/dtrace there is SystemTap's USDT header tool); use bpftrace"

// Check finds dtrace and checks that it can run here.
func Check() (string, error) {
	if runtime.GOOS == "linux" {
		return "", errors.New(LinuxReason)
	}
	path, err := exec.LookPath("dtrace")
	if err != nil {
		return "", errors.New("dtrace is not installed")
	}
	if os.Geteuid() != 0 {
		return "", errors.New("dtrace needs root (on macOS also System Integrity Protection's dtrace restrictions lifted)")
	}
	return path, nil
}

// Info says whether DTrace can run here.
func (Backend) Info(ctx context.Context) sources.Info {
	info := sources.Info{
		Name:    Name,
		Kind:    sources.KindSyscalls,
		Summary: "count every syscall per process with a DTrace aggregation (macOS, FreeBSD, illumos)",
	}
	path, err := Check()
	if err != nil {
		info.Reason = err.Error()
		return info
	}
	info.Available, info.Detail = true, path
	return info
}

// NewSyscalls checks cfg before anything runs.
func (Backend) NewSyscalls(cfg sources.SyscallConfig) (sources.SyscallSource, error) {
	path, err := Check()
	if err != nil {
		return nil, err
	}
	if cfg.PID != 0 && len(cfg.Command) > 0 {
		return nil, errors.New("give a pid or a command, not both")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Source{cfg: cfg, dtrace: path}, nil
}

// Script returns the D program for cfg; root is a launched command's pid.
func Script(cfg sources.SyscallConfig, root int) (string, error) {
	ms := cfg.Interval.Milliseconds()
	if ms < 1 {
		ms = 1000
	}
	v := struct {
		Filter     string
		IntervalMS int64
	}{IntervalMS: ms}
	switch {
	case root > 0:
		v.Filter = fmt.Sprintf("/progenyof(%d)/", root)
	case cfg.PID > 0:
		v.Filter = fmt.Sprintf("/pid == %d/", cfg.PID)
	}
	t, err := template.New("syscalls.d").Parse(assetsd.SyscallsD)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.Execute(&b, v)
	return b.String(), err
}

// Parser reads the script's output: "flowscape ready|tick|end NS" lines
// around printa's default lines of the aggregation, "PID EXECNAME
// PROBEFUNC COUNT" in padded columns. The execname may contain spaces; the
// pid is the first field and the count the last.
type Parser struct {
	line    int
	started bool
	ended   bool
	lastNS  int64
	pending []syscalls.Sample
}

// NewParser returns a parser.
func NewParser() *Parser { return &Parser{} }

// Started reports whether the script began.
func (p *Parser) Started() bool { return p.started }

// Line parses one line; it returns an interval and true when the line
// closes one.
func (p *Parser) Line(b []byte) (syscalls.Interval, bool, error) {
	p.line++
	f := strings.Fields(string(b))
	if len(f) == 0 || p.ended {
		return syscalls.Interval{}, false, nil
	}
	if f[0] == "flowscape" {
		if len(f) != 3 {
			return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: %q", p.line, b)
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || ns < 0 {
			return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: bad time %q", p.line, f[2])
		}
		switch f[1] {
		case "ready":
			p.started, p.lastNS, p.pending = true, ns, nil
			return syscalls.Interval{}, false, nil
		case "tick", "end":
			if !p.started {
				return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: %s before ready", p.line, f[1])
			}
			iv := syscalls.Interval{End: time.Duration(ns), Length: time.Duration(max(ns-p.lastNS, 0)), Samples: p.pending}
			p.lastNS, p.pending, p.ended = ns, nil, f[1] == "end"
			return iv, true, nil
		}
		return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: unknown marker %q", p.line, f[1])
	}
	if !p.started {
		return syscalls.Interval{}, false, nil
	}
	if len(f) < 4 {
		return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: want PID EXECNAME PROBEFUNC COUNT, got %q", p.line, strings.TrimSpace(string(b)))
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid < 0 {
		return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: bad pid %q", p.line, f[0])
	}
	n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
	if err != nil {
		return syscalls.Interval{}, false, fmt.Errorf("dtrace output line %d: bad count %q", p.line, f[len(f)-1])
	}
	p.pending = append(p.pending, syscalls.Sample{PID: pid, Comm: strings.Join(f[1:len(f)-2], " "), Syscall: f[len(f)-2], Count: n})
	return syscalls.Interval{}, false, nil
}

// Source is one run of the D script.
type Source struct {
	cfg    sources.SyscallConfig
	dtrace string
}

// Run starts dtrace (and the command once dtrace is ready) and reports
// intervals until ctx ends or the command exits.
func (s *Source) Run(ctx context.Context, sink syscalls.Sink) error {
	var held *launch.Held
	root := 0
	if len(s.cfg.Command) > 0 {
		h, err := launch.Start(s.cfg.Command, s.cfg.Stdin, s.cfg.Stdout, s.cfg.Stderr)
		if err != nil {
			return err
		}
		held, root = h, h.PID()
		defer held.Kill()
	}
	script, err := Script(s.cfg, root)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.dtrace, "-q", "-n", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dtrace: %w", err)
	}
	ready := make(chan struct{})
	exited := make(chan error, 1)
	go func() {
		p := NewParser()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
		signalled := false
		for sc.Scan() {
			iv, ok, _ := p.Line(sc.Bytes())
			if p.Started() && !signalled {
				signalled = true
				close(ready)
			}
			if ok {
				iv.Samples = keepComm(iv.Samples, s.cfg.Comm)
				sink.Interval(iv)
			}
		}
		exited <- cmd.Wait()
	}()
	stop := func() { _ = cmd.Process.Signal(syscall.SIGINT) }
	var done <-chan struct{}
	select {
	case <-ready:
	case err := <-exited:
		return fmt.Errorf("dtrace exited before it was ready: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if held != nil {
		held.Release()
		done = held.Done()
	}
	select {
	case <-ctx.Done():
		stop()
		<-exited
		return nil
	case <-done:
		stop()
		<-exited
		return held.Wait()
	case err := <-exited:
		return fmt.Errorf("dtrace exited: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
}

func keepComm(in []syscalls.Sample, pattern string) []syscalls.Sample {
	if pattern == "" {
		return in
	}
	out := in[:0]
	for _, s := range in {
		if syscalls.MatchComm(pattern, s.Comm) {
			out = append(out, s)
		}
	}
	return out
}
