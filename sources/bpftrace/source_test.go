package bpftrace_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources"
	"flowscape/sources/bpftrace"
	"flowscape/tracer/syscalls"
)

// needBpftrace skips unless bpftrace can run here.
func needBpftrace(t testing.TB) {
	t.Helper()
	if err := bpftrace.Trial(); err != nil {
		t.Skipf("skipped: %v", err)
	}
}

// buildWorkload compiles testdata/workload.c into dir as name.
func buildWorkload(t testing.TB, name string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("skipped: gcc is not installed (Debian: apt-get install gcc)")
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command(cc, "-O2", "-pthread", "-o", bin, "testdata/workload.c").CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)
	return bin
}

// collect is a sink keeping the model and the intervals' count.
type collect struct {
	mu sync.Mutex
	n  int
	m  *syscalls.Model
}

func (c *collect) Interval(iv syscalls.Interval) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.m.Interval(iv)
}

func TestCountsACommandTreeExactly(t *testing.T) {
	needBpftrace(t)
	bin := buildWorkload(t, "work,er")
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: 300 * time.Millisecond, Command: []string{bin, "30000", "7000", "2"}})
	require.NoError(t, err)
	c := &collect{m: syscalls.New(syscalls.Options{})}
	require.NoError(t, src.Run(context.Background(), c))
	tot := c.m.Totals()
	// 3 processes × 2 threads.
	assert.Equal(t, uint64(6*30000), tot["getppid"])
	assert.Equal(t, uint64(6*7000), tot["sched_yield"])
	assert.Equal(t, uint64(1), tot["execve"])
	assert.Equal(t, uint64(2), tot["clone"], "the two forks (threads use clone3)")
	snap := c.m.Top(syscalls.ByProcess, 0)
	pids := map[int]bool{}
	for _, r := range snap.Rows {
		if r.PID == syscalls.OtherPID {
			continue // a process idle long enough (waiting for its children) is folded
		}
		assert.Equal(t, "work,er", r.Comm)
		pids[r.PID] = true
	}
	assert.LessOrEqual(t, len(pids), 3, "the command and its two children, nothing else")
	require.NoError(t, c.m.Validate())
}

func TestCommandExitStatusIsReturned(t *testing.T) {
	needBpftrace(t)
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Command: []string{"sh", "-c", "exit 7"}})
	require.NoError(t, err)
	err = src.Run(context.Background(), syscalls.SinkFunc(func(syscalls.Interval) {}))
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "got %v", err)
	assert.Equal(t, 7, ee.ExitCode())
}

func TestWholeMachineUntilCancelled(t *testing.T) {
	needBpftrace(t)
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	c := &collect{m: syscalls.New(syscalls.Options{})}
	sink := syscalls.SinkFunc(func(iv syscalls.Interval) {
		c.Interval(iv)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n == 3 {
			cancel()
		}
	})
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	// Something to see besides bpftrace itself.
	for ctx.Err() == nil {
		_, _ = os.Stat("/")
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, <-done)
	snap := c.m.Top(syscalls.ByProcess, 0)
	found := false
	for _, r := range snap.Rows {
		if r.PID == os.Getpid() {
			found = true
		}
	}
	assert.True(t, found, "this test's own calls are seen")
	assert.GreaterOrEqual(t, snap.Intervals, 3)
}

func TestFilterByPID(t *testing.T) {
	needBpftrace(t)
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: 100 * time.Millisecond, PID: os.Getpid()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := syscalls.New(syscalls.Options{})
	done := make(chan error, 1)
	n := 0
	go func() {
		done <- src.Run(ctx, syscalls.SinkFunc(func(iv syscalls.Interval) {
			m.Interval(iv)
			if n++; n == 4 {
				cancel()
			}
		}))
	}()
	for ctx.Err() == nil {
		_ = syscall.Getppid()
		time.Sleep(100 * time.Microsecond)
	}
	require.NoError(t, <-done)
	snap := m.Top(syscalls.ByProcess, 0)
	require.NotEmpty(t, snap.Rows)
	for _, r := range snap.Rows {
		if r.PID != syscalls.OtherPID { // intervals without calls can fold it
			assert.Equal(t, os.Getpid(), r.PID, "%+v", r)
		}
	}
	assert.Positive(t, m.Totals()["getppid"])
}

// bpftraceChild finds the bpftrace process this test started.
func bpftraceChild(t *testing.T) int {
	me := strconv.Itoa(os.Getpid())
	for i := 0; i < 100; i++ {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(stat)
			close := strings.LastIndexByte(s, ')')
			if close < 0 || !strings.Contains(s[:close], "(bpftrace") {
				continue
			}
			if f := strings.Fields(s[close+1:]); len(f) > 2 && f[1] == me {
				pid, _ := strconv.Atoi(e.Name())
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no bpftrace child found")
	return 0
}

func TestBpftraceDyingIsReportedAndCountsAreKept(t *testing.T) {
	needBpftrace(t)
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	c := &collect{m: syscalls.New(syscalls.Options{})}
	done := make(chan error, 1)
	go func() { done <- src.Run(context.Background(), c) }()
	pid := bpftraceChild(t)
	for {
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after bpftrace died")
	}
	require.ErrorIs(t, err, bpftrace.ErrDied)
	assert.Contains(t, err.Error(), "killed")
	assert.GreaterOrEqual(t, c.m.Top(syscalls.ByProcess, 0).Intervals, 2, "intervals already reported are kept")
}

func TestBadConfig(t *testing.T) {
	needBpftrace(t)
	_, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{PID: 1, Command: []string{"true"}})
	assert.ErrorContains(t, err, "not both")
	_, err = bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: time.Microsecond})
	assert.ErrorContains(t, err, "at least 1ms")
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Command: []string{"/no/such/program"}})
	require.NoError(t, err)
	err = src.Run(context.Background(), syscalls.SinkFunc(func(syscalls.Interval) {}))
	assert.ErrorContains(t, err, "/no/such/program")
}

func TestInfo(t *testing.T) {
	info := bpftrace.Backend{}.Info(context.Background())
	assert.Equal(t, sources.KindSyscalls, info.Kind)
	if _, err := bpftrace.Check(); err != nil {
		assert.False(t, info.Available)
		assert.Contains(t, info.Reason, "bpftrace")
		return
	}
	assert.True(t, info.Available)
	assert.Contains(t, info.Detail, "bpftrace v")
}

func TestFilterByCommPattern(t *testing.T) {
	needBpftrace(t)
	bin := buildWorkload(t, "fscommprobe")
	// A long run of the workload under its own name, counted by name only.
	work := exec.Command(bin, "3000000", "0", "0")
	require.NoError(t, work.Start())
	t.Cleanup(func() { _ = work.Process.Kill(); _ = work.Wait() })
	src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: 100 * time.Millisecond, Comm: "fscomm*"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := syscalls.New(syscalls.Options{})
	n := 0
	require.NoError(t, src.Run(ctx, syscalls.SinkFunc(func(iv syscalls.Interval) {
		m.Interval(iv)
		if n++; n == 3 {
			cancel()
		}
	})))
	snap := m.Top(syscalls.ByProcess, 0)
	require.NotEmpty(t, snap.Rows, "the workload was seen")
	for _, r := range snap.Rows {
		assert.Equal(t, "fscommprobe", r.Comm)
		assert.Equal(t, work.Process.Pid, r.PID)
	}
	assert.Positive(t, m.Totals()["getppid"])
}
