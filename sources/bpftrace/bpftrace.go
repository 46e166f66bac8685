// Package bpftrace is the syscall source on Linux: one
// tracepoint:raw_syscalls:sys_enter probe counting calls in a kernel map
// keyed by pid, comm and syscall number, printed and cleared every interval
// by bpftrace (`-f json`). It needs root (or CAP_BPF and CAP_PERFMON).
package bpftrace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	assetsbt "flowscape/assets/bpftrace"
	"flowscape/sources"
	"flowscape/sources/launch"
	"flowscape/tracer/syscalls"
)

// Name is the backend's name in the registry.
const Name = "bpftrace-syscalls"

// Backend is the bpftrace syscall backend.
type Backend struct{}

var _ sources.SyscallBackend = Backend{}

// Partial is false: every syscall of every process is counted.
func (Backend) Partial() bool { return false }

// Info says whether bpftrace can run here.
func (Backend) Info(ctx context.Context) sources.Info {
	info := sources.Info{
		Name:    Name,
		Kind:    sources.KindSyscalls,
		Summary: "count every syscall per process with one bpftrace tracepoint (raw_syscalls:sys_enter), aggregated in the kernel",
	}
	path, err := Check()
	if err != nil {
		info.Reason = err.Error()
		return info
	}
	info.Available = true
	info.Detail = path
	if v, err := exec.CommandContext(ctx, path, "--version").Output(); err == nil {
		info.Detail = strings.TrimSpace(string(v)) + " at " + path
	}
	return info
}

// ErrUnavailable is wrapped by Check's errors.
var ErrUnavailable = errors.New("bpftrace unavailable")

// Check finds bpftrace and checks the privileges it needs; it returns the
// path of bpftrace.
func Check() (string, error) {
	path, err := exec.LookPath("bpftrace")
	if err != nil {
		return "", fmt.Errorf("%w: bpftrace is not installed (Debian: apt-get install bpftrace)", ErrUnavailable)
	}
	if !privileged() {
		return "", fmt.Errorf("%w: not root, and no CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN): run as root", ErrUnavailable)
	}
	return path, nil
}

// privileged reports whether this process may load BPF programs: root, or
// CAP_SYS_ADMIN, or both CAP_BPF and CAP_PERFMON in its effective set.
func privileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, ln := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(ln, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false
			}
			const sysAdmin, perfmon, bpf = 21, 38, 39
			return caps&(1<<sysAdmin) != 0 || (caps&(1<<perfmon) != 0 && caps&(1<<bpf) != 0)
		}
	}
	return false
}

// Names is the syscall table: the embedded one, completed by this
// machine's asm/unistd_64.h when it is installed and newer.
var Names = sync.OnceValue(func() syscalls.Names {
	names, _ := syscalls.ParseUnistd(assetsbt.UnistdH) // tested: it parses
	if data, err := os.ReadFile("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"); err == nil {
		if local, err := syscalls.ParseUnistd(data); err == nil {
			names = syscalls.Merge(names, local)
		}
	}
	return names
})

// NewSyscalls checks cfg before anything runs.
func (Backend) NewSyscalls(cfg sources.SyscallConfig) (sources.SyscallSource, error) {
	path, err := Check()
	if err != nil {
		return nil, err
	}
	if cfg.PID != 0 && len(cfg.Command) > 0 {
		return nil, errors.New("give a pid or a command, not both")
	}
	if cfg.PID < 0 {
		return nil, fmt.Errorf("bad pid %d", cfg.PID)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Interval < time.Millisecond {
		return nil, fmt.Errorf("interval %v: want at least 1ms", cfg.Interval)
	}
	return &Source{cfg: cfg, bpftrace: path}, nil
}

// Source is one run of the syscall script.
type Source struct {
	cfg      sources.SyscallConfig
	bpftrace string
}

// Script returns the bpftrace program for cfg; root is the pid of a
// launched command's process (0: none).
func Script(cfg sources.SyscallConfig, root int) (string, error) {
	ms := cfg.Interval.Milliseconds()
	if ms < 1 {
		ms = 1000
	}
	v := struct {
		Begin, Tree, Filter, End string
		IntervalMS               int64
	}{IntervalMS: ms}
	switch {
	case root > 0:
		// Follow the tree by thread id: sched_process_fork reports the
		// forking thread and the new task (thread or process).
		v.Begin = fmt.Sprintf("\t@flowscape_tree[%d] = 1;\n", root)
		v.Tree = `
tracepoint:sched:sched_process_fork /@flowscape_tree[args->parent_pid]/
{
	@flowscape_tree[args->child_pid] = 1;
}

tracepoint:sched:sched_process_exit /@flowscape_tree[tid]/
{
	delete(@flowscape_tree[tid]);
}
`
		v.Filter = "/@flowscape_tree[tid]/"
		v.End = "\tclear(@flowscape_tree);\n"
	case cfg.PID > 0:
		v.Filter = fmt.Sprintf("/pid == %d/", cfg.PID)
	}
	var b strings.Builder
	t, err := template.New("syscalls.bt").Parse(assetsbt.SyscallsBT)
	if err != nil {
		return "", err
	}
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// tracefsPaths are where the kernel's tracing events can be found.
var tracefsPaths = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// ensureTracefs mounts tracefs at /sys/kernel/tracing when no tracing
// directory has the raw_syscalls events (as in some containers); bpftrace
// cannot find tracepoints without it.
func ensureTracefs() error {
	for _, p := range tracefsPaths {
		if _, err := os.Stat(p + "/events/raw_syscalls"); err == nil {
			return nil
		}
	}
	if err := syscall.Mount("tracefs", tracefsPaths[0], "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it at %s failed: %w (mount -t tracefs nodev %s)", tracefsPaths[0], err, tracefsPaths[0])
	}
	return nil
}

// ErrDied is wrapped when bpftrace exits on its own.
var ErrDied = errors.New("bpftrace exited")

// ErrNotStarted is wrapped when bpftrace could not start counting (it
// exited before its probes were attached, e.g. the kernel refused them):
// nothing was counted, and a launched command never ran.
var ErrNotStarted = errors.New("bpftrace could not start")

// Trial runs a trivial bpftrace program once per process and returns its
// error: whether bpftrace can really load programs here (a container may
// refuse even root).
var Trial = sync.OnceValue(func() error {
	path, err := Check()
	if err != nil {
		return err
	}
	if err := ensureTracefs(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr tail
	cmd := exec.CommandContext(ctx, path, "-e", "tracepoint:raw_syscalls:sys_enter /pid == 0/ { @n = count(); } BEGIN { exit(); }")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: a trial run failed: %v%s", ErrUnavailable, err, stderr.message())
	}
	return nil
})

// Run starts bpftrace (and the command, once bpftrace is ready) and reports
// intervals until ctx ends or the command exits.
func (s *Source) Run(ctx context.Context, sink syscalls.Sink) error {
	if err := ensureTracefs(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	if s.cfg.PID > 0 && !alive(s.cfg.PID) {
		return fmt.Errorf("process %d: %w", s.cfg.PID, syscalls.ErrProcessExited)
	}
	var held *launch.Held
	root := 0
	if len(s.cfg.Command) > 0 {
		h, err := launch.Start(s.cfg.Command, s.cfg.Stdin, s.cfg.Stdout, s.cfg.Stderr)
		if err != nil {
			return err
		}
		held, root = h, h.PID()
		defer held.Kill() // only if it never ran or we return early
	}
	script, err := Script(s.cfg, root)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bpftrace, "-f", "json", "-e", script)
	// The default of 4096 keys is too few for pid × syscall on a busy
	// machine; keys past the limit would be lost.
	cmd.Env = append(os.Environ(), "BPFTRACE_MAP_KEYS_MAX=65536")
	// Its own process group: a Ctrl-C on the terminal must not stop it
	// before the command's last calls are printed; we stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bpftrace: %w", err)
	}
	exited := make(chan error, 1)
	ready := make(chan struct{})
	parseErrs := make(chan error, 16)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		p := NewParser(Names())
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
		signalled := false
		for sc.Scan() {
			iv, ok, err := p.Line(sc.Bytes())
			if err != nil {
				select {
				case parseErrs <- err:
				default:
				}
				continue
			}
			if p.Started() && !signalled {
				signalled = true
				close(ready)
			}
			if ok {
				if s.cfg.Comm != "" {
					iv.Samples = keepComm(iv.Samples, s.cfg.Comm)
				}
				sink.Interval(iv)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		<-readDone
		exited <- cmd.Wait()
	}()

	stop := func() { _ = cmd.Process.Signal(syscall.SIGINT) }
	// Watching a pid: stop when it exits.
	var pidGone chan struct{}
	if s.cfg.PID > 0 {
		pidGone = make(chan struct{})
		watchCtx, endWatch := context.WithCancel(ctx)
		defer endWatch()
		go func() {
			tk := time.NewTicker(min(s.cfg.Interval, 200*time.Millisecond))
			defer tk.Stop()
			for {
				select {
				case <-watchCtx.Done():
					return
				case <-tk.C:
					if !alive(s.cfg.PID) {
						close(pidGone)
						return
					}
				}
			}
		}()
	}
	var cmdDone <-chan struct{}
	select {
	case <-ready:
		if held != nil {
			held.Release()
			cmdDone = held.Done()
		}
	case err := <-exited:
		return fmt.Errorf("%w: %w before it was ready: %v%s", ErrNotStarted, ErrDied, err, stderr.message())
	case <-ctx.Done():
		stop()
		<-exited
		return nil
	}

	var runErr error
	select {
	case <-ctx.Done():
		stop()
		<-exited
	case <-pidGone:
		stop()
		<-exited
		runErr = fmt.Errorf("process %d: %w", s.cfg.PID, syscalls.ErrProcessExited)
	case <-cmdDone:
		stop()
		<-exited
		runErr = held.Wait()
	case err := <-exited:
		runErr = fmt.Errorf("%w: %v%s", ErrDied, err, stderr.message())
		if held != nil {
			// Counting stopped; the command goes on to its end.
			runErr = errors.Join(runErr, held.Wait())
		}
	}
	select {
	case perr := <-parseErrs:
		runErr = errors.Join(runErr, perr)
	default:
	}
	return runErr
}

// alive reports whether process pid exists (and is not a zombie).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func keepComm(in []syscalls.Sample, pattern string) []syscalls.Sample {
	out := in[:0]
	for _, s := range in {
		if syscalls.MatchComm(pattern, s.Comm) {
			out = append(out, s)
		}
	}
	return out
}

// tail keeps the last few KiB written to it (bpftrace's stderr).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(b), nil
}

// message is stderr without the harmless RLIMIT_MEMLOCK warning, as
// ": text", or "".
func (t *tail) message() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keep []string
	for _, ln := range bytes.Split(t.buf, []byte("\n")) {
		s := strings.TrimSpace(string(ln))
		if s == "" || strings.Contains(s, "RLIMIT_MEMLOCK") {
			continue
		}
		keep = append(keep, s)
	}
	if len(keep) == 0 {
		return ""
	}
	return ": " + strings.Join(keep, "; ")
}
