package syscalls_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer/syscalls"
)

func iv(secs float64, samples ...syscalls.Sample) syscalls.Interval {
	return syscalls.Interval{Length: time.Duration(secs * float64(time.Second)), Samples: samples}
}

func s(pid int, comm, sys string, n uint64) syscalls.Sample {
	return syscalls.Sample{PID: pid, Comm: comm, Syscall: sys, Count: n}
}

func row(t *testing.T, snap syscalls.Snapshot, label string) syscalls.Row {
	t.Helper()
	for _, r := range snap.Rows {
		if r.Label() == label {
			return r
		}
	}
	t.Fatalf("no row %q in %v", label, labels(snap))
	return syscalls.Row{}
}

func labels(snap syscalls.Snapshot) []string {
	var out []string
	for _, r := range snap.Rows {
		out = append(out, r.Label())
	}
	return out
}

func TestRatesAndDeltasPerProcess(t *testing.T) {
	m := syscalls.New(syscalls.Options{})
	m.Interval(iv(0.5, s(10, "nginx", "read", 100), s(10, "nginx", "write", 50), s(20, "sshd", "read", 5)))
	m.Interval(iv(2, s(10, "nginx", "read", 400), s(20, "sshd", "poll", 40)))
	require.NoError(t, m.Validate())

	snap := m.Top(syscalls.ByProcess, 0)
	assert.Equal(t, []string{"nginx (10)", "sshd (20)"}, labels(snap))
	ng := row(t, snap, "nginx (10)")
	assert.Equal(t, uint64(400), ng.Last, "last interval's calls")
	assert.Equal(t, uint64(550), ng.Total)
	assert.InDelta(t, 200.0, ng.Rate, 1e-9, "400 calls in 2 s")
	assert.Equal(t, []float64{300, 200}, ng.History, "150 calls in 0.5 s, then 400 in 2 s")
	sshd := row(t, snap, "sshd (20)")
	assert.Equal(t, []float64{10, 20}, sshd.History)
	assert.Equal(t, 2, snap.Intervals)
	assert.Equal(t, 2500*time.Millisecond, snap.Elapsed)
	assert.Equal(t, uint64(595), snap.All.Total)

	br, ok := m.Breakdown(10)
	require.True(t, ok)
	require.Len(t, br, 2)
	assert.Equal(t, "read", br[0].Syscall)
	assert.Equal(t, []float64{200, 200}, br[0].History)
	assert.Equal(t, "write", br[1].Syscall)
	assert.Equal(t, []float64{100, 0}, br[1].History, "no writes in the second interval")
	assert.Equal(t, uint64(0), br[1].Last)
	_, ok = m.Breakdown(99)
	assert.False(t, ok)
}

func TestBySyscallSumsProcesses(t *testing.T) {
	m := syscalls.New(syscalls.Options{})
	m.Interval(iv(1, s(1, "a", "read", 10), s(2, "b", "read", 30), s(2, "b", "openat", 7), s(1, "a", "read", 5)))
	snap := m.Top(syscalls.BySyscall, 0)
	assert.Equal(t, []string{"read", "openat"}, labels(snap))
	assert.Equal(t, uint64(45), row(t, snap, "read").Total, "repeated keys add up")
	assert.Equal(t, map[string]uint64{"read": 45, "openat": 7}, m.Totals())
	callers := m.Callers("read")
	require.Len(t, callers, 2)
	assert.Equal(t, "b (2)", callers[0].Label())
	assert.Equal(t, uint64(30), callers[0].Total)
	assert.Equal(t, []float64{30}, callers[0].History)
	assert.Equal(t, uint64(15), callers[1].Total)
	assert.Empty(t, m.Callers("write"))
	require.NoError(t, m.Validate())
}

func TestTopNSumsTheRestIntoOther(t *testing.T) {
	m := syscalls.New(syscalls.Options{})
	var samples []syscalls.Sample
	for pid := 1; pid <= 10; pid++ {
		samples = append(samples, s(pid, fmt.Sprintf("p%d", pid), "read", uint64(pid*10)))
	}
	m.Interval(iv(1, samples...))
	snap := m.Top(syscalls.ByProcess, 3)
	assert.Equal(t, []string{"p10 (10)", "p9 (9)", "p8 (8)", "other"}, labels(snap))
	other := snap.Rows[3]
	assert.Equal(t, uint64(10+20+30+40+50+60+70), other.Total)
	assert.InDelta(t, 280.0, other.Rate, 1e-9)
	assert.Equal(t, []float64{280}, other.History)

	bySys := m.Top(syscalls.BySyscall, 1)
	assert.Equal(t, []string{"read"}, labels(bySys), "nothing left over, no other row")
}

func TestGoneProcessesFoldIntoOtherKeepingTotals(t *testing.T) {
	m := syscalls.New(syscalls.Options{Linger: 2})
	m.Interval(iv(1, s(5, "short", "execve", 1), s(5, "short", "exit_group", 1), s(6, "long", "read", 3)))
	for i := 0; i < 2; i++ {
		m.Interval(iv(1, s(6, "long", "read", 3)))
		snap := m.Top(syscalls.ByProcess, 0)
		short := row(t, snap, "short (5)")
		assert.Equal(t, i+1, short.Idle, "shown as idle while it lingers")
		assert.Zero(t, short.Rate)
	}
	m.Interval(iv(1, s(6, "long", "read", 3)))
	snap := m.Top(syscalls.ByProcess, 0)
	assert.Equal(t, []string{"long (6)", "other"}, labels(snap))
	assert.Equal(t, uint64(2), row(t, snap, "other").Total)
	assert.Equal(t, uint64(14), snap.All.Total)
	assert.Equal(t, 1, snap.Folded)
	br, ok := m.Breakdown(syscalls.OtherPID)
	require.True(t, ok)
	assert.Len(t, br, 2, "other keeps the folded syscalls")
	require.NoError(t, m.Validate())
}

func TestPIDReuseStartsANewProcess(t *testing.T) {
	m := syscalls.New(syscalls.Options{})
	m.Interval(iv(1, s(7, "sh", "read", 4)))
	m.Interval(iv(1))
	m.Interval(iv(1, s(7, "python3", "read", 9)))
	snap := m.Top(syscalls.ByProcess, 0)
	assert.Equal(t, []string{"python3 (7)", "other"}, labels(snap))
	assert.Equal(t, uint64(9), snap.Rows[0].Total)
	assert.Equal(t, uint64(4), snap.Rows[1].Total)
	require.NoError(t, m.Validate())
}

func TestExecKeepsTheProcessUnderItsNewName(t *testing.T) {
	m := syscalls.New(syscalls.Options{})
	// The exec happens within the first interval: a few calls as sh, most
	// as the new program, in any order.
	m.Interval(iv(1, s(7, "make", "openat", 50), s(7, "sh", "execve", 1), s(7, "sh", "read", 3)))
	m.Interval(iv(1, s(7, "make", "openat", 20)))
	snap := m.Top(syscalls.ByProcess, 0)
	assert.Equal(t, []string{"make (7)"}, labels(snap))
	assert.Equal(t, uint64(74), snap.Rows[0].Total)
	assert.Equal(t, []float64{54, 20}, snap.Rows[0].History)
	require.NoError(t, m.Validate())
}

func TestThousandsOfShortLivedProcessesStayBounded(t *testing.T) {
	m := syscalls.New(syscalls.Options{MaxProcs: 50, History: 10})
	var want uint64
	pid := 1000
	for i := 0; i < 200; i++ {
		var samples []syscalls.Sample
		for j := 0; j < 100; j++ { // 100 new processes per interval
			pid++
			samples = append(samples, s(pid, "cc1", "openat", uint64(j+1)), s(pid, "cc1", "mmap", 2))
			want += uint64(j + 3)
		}
		samples = append(samples, s(1, "make", "wait4", 1000))
		want += 1000
		m.Interval(iv(0.1, samples...))
		require.NoError(t, m.Validate())
	}
	snap := m.Top(syscalls.ByProcess, 0)
	assert.LessOrEqual(t, snap.Procs, 50)
	assert.LessOrEqual(t, len(snap.Rows), 51)
	assert.Equal(t, want, snap.All.Total, "nothing counted is lost")
	var sum uint64
	for _, r := range snap.Rows {
		sum += r.Total
		assert.LessOrEqual(t, len(r.History), 10)
	}
	assert.Equal(t, want, sum)
	assert.Equal(t, "make (1)", snap.Rows[0].Label(), "the steady busy process is kept")
}

func TestStatsOfPartialSources(t *testing.T) {
	m := syscalls.New(syscalls.Options{})
	m.Interval(syscalls.Interval{Length: time.Second,
		Samples: []syscalls.Sample{s(3, "bash", "read-family", 12)},
		Stats:   []syscalls.ProcStat{{PID: 3, Comm: "bash", CtxSwitches: 4, CPU: 20 * time.Millisecond}},
	})
	r := row(t, m.Top(syscalls.ByProcess, 0), "bash (3)")
	assert.True(t, r.HasStat)
	assert.Equal(t, uint64(4), r.Stat.CtxSwitches)
	assert.Equal(t, 20*time.Millisecond, r.Stat.CPU)
}

func TestParseBy(t *testing.T) {
	for in, want := range map[string]syscalls.By{"process": syscalls.ByProcess, "syscall": syscalls.BySyscall} {
		got, err := syscalls.ParseBy(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, in, got.String())
	}
	_, err := syscalls.ParseBy("thread")
	assert.ErrorContains(t, err, `"thread"`)
}

func TestMatchComm(t *testing.T) {
	for _, tc := range []struct {
		pattern, comm string
		want          bool
	}{
		{"", "anything", true},
		{"python", "python3.11", true},
		{"python", "bash", false},
		{"py*", "python3.11", true},
		{"py*", "cpython", false},
		{"kworker/?:1", "kworker/0:1", true},
		{"[", "x[", false}, // a bad glob matches nothing
	} {
		assert.Equal(t, tc.want, syscalls.MatchComm(tc.pattern, tc.comm), "%q ~ %q", tc.pattern, tc.comm)
	}
}
