// Package procstat is the syscall source that needs no privileges: it reads
// /proc every interval. It is partial and says so: /proc/PID/io counts only
// read- and write-family syscalls (syscr, syscw), and other users'
// processes' io files are readable by root only. Beside them it reports
// context switches (/proc/PID/status) and CPU time (/proc/PID/stat).
// /proc is read through an fs.FS so that tests use fstest.MapFS.
package procstat

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"flowscape/sources"
	"flowscape/sources/launch"
	"flowscape/tracer/syscalls"
)

// Name is the backend's name in the registry.
const Name = "proc-syscalls"

// Syscall names of the two families /proc counts.
const (
	ReadFamily  = "read-family"
	WriteFamily = "write-family"
)

// PartialReason says what the source cannot see.
const PartialReason = "partial: no bpftrace / not root — only read- and write-family syscall counts from /proc/PID/io, context switches and CPU"

// Backend is the /proc syscall backend. FS is /proc (nil: the real one).
type Backend struct {
	FS fs.FS
}

var _ sources.SyscallBackend = Backend{}

// Partial is true: only two families of syscalls are counted.
func (Backend) Partial() bool { return true }

func (b Backend) fsys() fs.FS {
	if b.FS != nil {
		return b.FS
	}
	return os.DirFS("/proc")
}

// Info says whether /proc can be read.
func (b Backend) Info(ctx context.Context) sources.Info {
	info := sources.Info{
		Name:    Name,
		Kind:    sources.KindSyscalls,
		Summary: "read- and write-family syscall counts, context switches and CPU per process from /proc (no privileges needed; partial)",
	}
	if _, err := fs.ReadFile(b.fsys(), "self/stat"); err != nil {
		info.Reason = fmt.Sprintf("/proc cannot be read: %v", err)
		return info
	}
	info.Available = true
	info.Detail = PartialReason
	if os.Geteuid() != 0 {
		info.Detail += "; other users' processes need root for their io counts"
	}
	return info
}

// NewSyscalls checks cfg before anything runs.
func (b Backend) NewSyscalls(cfg sources.SyscallConfig) (sources.SyscallSource, error) {
	if cfg.PID != 0 && len(cfg.Command) > 0 {
		return nil, errors.New("give a pid or a command, not both")
	}
	if cfg.PID < 0 {
		return nil, fmt.Errorf("bad pid %d", cfg.PID)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Source{cfg: cfg, fsys: b.fsys()}, nil
}

// Counters are one process's running totals as /proc shows them.
type Counters struct {
	PID       int
	Comm      string
	PPID      int
	Start     uint64 // start time in clock ticks since boot: tells a reused pid apart
	CPUTicks  uint64 // utime + stime, in clock ticks (USER_HZ, 100 on Linux)
	SysR      uint64 // read-family syscalls (syscr)
	SysW      uint64 // write-family syscalls (syscw)
	HasIO     bool   // the io file was readable
	CtxSwitch uint64 // voluntary + nonvoluntary context switches
}

// userHZ is the unit of /proc/PID/stat times (sysconf(_SC_CLK_TCK)).
const userHZ = 100

// ParseStat reads /proc/PID/stat: "pid (comm) state ppid ...". The comm
// may contain spaces and parentheses, so it ends at the last ')'.
func ParseStat(data []byte) (Counters, error) {
	s := string(data)
	open := strings.IndexByte(s, '(')
	close := strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return Counters{}, errors.New("stat: no (comm)")
	}
	var c Counters
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return Counters{}, fmt.Errorf("stat: bad pid %q", strings.TrimSpace(s[:open]))
	}
	c.PID, c.Comm = pid, s[open+1:close]
	f := strings.Fields(s[close+1:])
	// After the comm: state(0) ppid(1) ... utime(11) stime(12) ... starttime(19).
	if len(f) < 20 {
		return Counters{}, fmt.Errorf("stat: %d fields after the comm, want at least 20", len(f))
	}
	num := func(i int, name string) (uint64, error) {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: bad %s %q", name, f[i])
		}
		return v, nil
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Counters{}, fmt.Errorf("stat: bad ppid %q", f[1])
	}
	c.PPID = ppid
	ut, err := num(11, "utime")
	if err != nil {
		return Counters{}, err
	}
	st, err := num(12, "stime")
	if err != nil {
		return Counters{}, err
	}
	c.CPUTicks = ut + st
	if c.Start, err = num(19, "starttime"); err != nil {
		return Counters{}, err
	}
	return c, nil
}

// ParseIO reads /proc/PID/io's syscr and syscw.
func ParseIO(data []byte) (syscr, syscw uint64, err error) {
	var haveR, haveW bool
	for i, ln := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(ln, ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch strings.TrimSpace(k) {
		case "syscr":
			dst, haveR = &syscr, true
		case "syscw":
			dst, haveW = &syscw, true
		default:
			continue
		}
		n, perr := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("io line %d: bad %s %q", i+1, strings.TrimSpace(k), strings.TrimSpace(v))
		}
		*dst = n
	}
	if !haveR || !haveW {
		return 0, 0, errors.New("io: no syscr or syscw line")
	}
	return syscr, syscw, nil
}

// ParseStatus reads the context switch counts of /proc/PID/status.
func ParseStatus(data []byte) (uint64, error) {
	var sum uint64
	found := 0
	for i, ln := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(ln, ":")
		if !ok || (k != "voluntary_ctxt_switches" && k != "nonvoluntary_ctxt_switches") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status line %d: bad %s %q", i+1, k, strings.TrimSpace(v))
		}
		sum += n
		found++
	}
	if found == 0 {
		return 0, errors.New("status: no context switch counts")
	}
	return sum, nil
}

// Read reads one process's counters; a process that is gone is an error
// wrapping fs.ErrNotExist. An unreadable io file (another user's process)
// is not an error: HasIO is false.
func Read(fsys fs.FS, pid int) (Counters, error) {
	dir := strconv.Itoa(pid)
	data, err := fs.ReadFile(fsys, dir+"/stat")
	if err != nil {
		return Counters{}, err
	}
	c, err := ParseStat(data)
	if err != nil {
		return Counters{}, fmt.Errorf("/proc/%d/%w", pid, err)
	}
	if data, err := fs.ReadFile(fsys, dir+"/status"); err == nil {
		if n, err := ParseStatus(data); err == nil {
			c.CtxSwitch = n
		}
	}
	if data, err := fs.ReadFile(fsys, dir+"/io"); err == nil {
		if r, w, err := ParseIO(data); err == nil {
			c.SysR, c.SysW, c.HasIO = r, w, true
		}
	}
	return c, nil
}

// Scan reads every process in fsys. Processes that vanish while being read
// are skipped; so are malformed ones, which are counted in bad.
func Scan(fsys fs.FS) (procs map[int]Counters, bad int, err error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, 0, fmt.Errorf("/proc: %w", err)
	}
	procs = make(map[int]Counters, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		c, err := Read(fsys, pid)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				bad++
			}
			continue
		}
		procs[pid] = c
	}
	return procs, bad, nil
}

// Delta turns two scans into an interval's samples and stats. A process
// seen for the first time, or whose start time changed (pid reused), counts
// from zero only when first is false: on the first scan there is no
// "before".
func Delta(prev, cur map[int]Counters, keep func(Counters) bool) ([]syscalls.Sample, []syscalls.ProcStat) {
	var samples []syscalls.Sample
	var stats []syscalls.ProcStat
	for pid, c := range cur {
		if keep != nil && !keep(c) {
			continue
		}
		p, ok := prev[pid]
		if !ok || p.Start != c.Start {
			p = Counters{}
		}
		if c.HasIO {
			if d := sub(c.SysR, p.SysR); d > 0 {
				samples = append(samples, syscalls.Sample{PID: pid, Comm: c.Comm, Syscall: ReadFamily, Count: d})
			}
			if d := sub(c.SysW, p.SysW); d > 0 {
				samples = append(samples, syscalls.Sample{PID: pid, Comm: c.Comm, Syscall: WriteFamily, Count: d})
			}
		}
		cs, cpu := sub(c.CtxSwitch, p.CtxSwitch), sub(c.CPUTicks, p.CPUTicks)
		if cs > 0 || cpu > 0 {
			stats = append(stats, syscalls.ProcStat{PID: pid, Comm: c.Comm, CtxSwitches: cs,
				CPU: time.Duration(cpu) * time.Second / userHZ})
		}
	}
	return samples, stats
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// Source is one run of the /proc reader.
type Source struct {
	cfg  sources.SyscallConfig
	fsys fs.FS
}

// monotonic returns CLOCK_MONOTONIC in ns, the clock bpftrace's nsecs and
// the tracer use, so that all sources' times line up.
func monotonic() time.Duration {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// lastCounts completes the counts of a launched command that exited (it is
// a zombie now) and reaps it. Root may read a zombie's io file; other users
// may not, but reaping adds the child's counts (with those of the children
// it reaped) to this process's own, so the difference of this process's
// counts around the reaping is the command's, give or take this process's
// own calls in between.
func (s *Source) lastCounts(cur map[int]Counters, root int, held *launch.Held) {
	c, seen := cur[root]
	if seen && c.HasIO {
		held.Reap()
		return
	}
	before, errB := Read(s.fsys, os.Getpid())
	held.Reap()
	_ = held.Wait()
	after, errA := Read(s.fsys, os.Getpid())
	if errB != nil || errA != nil || !before.HasIO || !after.HasIO {
		return
	}
	if !seen {
		c = Counters{PID: root, Comm: "?"}
	}
	c.SysR, c.SysW, c.HasIO = sub(after.SysR, before.SysR), sub(after.SysW, before.SysW), true
	cur[root] = c
}

// inTree reports whether pid descends from root, by the ppid links of procs.
func inTree(procs map[int]Counters, pid, root int) bool {
	for i := 0; i < 64 && pid > 0; i++ {
		if pid == root {
			return true
		}
		c, ok := procs[pid]
		if !ok {
			return false
		}
		pid = c.PPID
	}
	return false
}

// Run reads /proc every interval and reports the deltas, until ctx ends or
// the launched command exits.
func (s *Source) Run(ctx context.Context, sink syscalls.Sink) error {
	var held *launch.Held
	root := s.cfg.PID
	if len(s.cfg.Command) > 0 {
		// Keep it a zombie at exit, for a last read of its counts (a
		// parent's io counts include its reaped children's).
		h, err := launch.StartKeepZombie(s.cfg.Command, s.cfg.Stdin, s.cfg.Stdout, s.cfg.Stderr)
		if err != nil {
			return err
		}
		held, root = h, h.PID()
		defer held.Kill()
	}
	scan := func() (map[int]Counters, error) {
		if s.cfg.PID > 0 {
			c, err := Read(s.fsys, s.cfg.PID)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("process %d: %w", s.cfg.PID, syscalls.ErrProcessExited)
				}
				return nil, err
			}
			return map[int]Counters{c.PID: c}, nil
		}
		procs, _, err := Scan(s.fsys)
		return procs, err
	}
	keep := func(c Counters) bool { return syscalls.MatchComm(s.cfg.Comm, c.Comm) }
	if held != nil {
		keep = func(c Counters) bool { return false }
	}
	prev, err := scan()
	if err != nil {
		return err
	}
	last := monotonic()
	var done <-chan struct{}
	if held != nil {
		held.Release()
		done = held.Exited()
	}
	tk := time.NewTicker(s.cfg.Interval)
	defer tk.Stop()
	for {
		var final bool
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			final = true
		case <-tk.C:
		}
		cur, err := scan()
		if err != nil {
			return err
		}
		if final {
			s.lastCounts(cur, root, held)
		}
		t := monotonic()
		if held != nil {
			procs := cur
			keep = func(c Counters) bool { return inTree(procs, c.PID, root) }
		}
		samples, stats := Delta(prev, cur, keep)
		sink.Interval(syscalls.Interval{End: t, Length: t - last, Samples: samples, Stats: stats})
		prev, last = cur, t
		if final {
			return held.Wait()
		}
	}
}
