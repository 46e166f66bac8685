package procstat_test

import (
	"context"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources"
	"flowscape/sources/procstat"
	"flowscape/tracer/syscalls"
)

// statLine is a /proc/PID/stat line as Linux 6 writes it (52 fields).
func statLine(pid int, comm string, ppid int, utime, stime, start int) string {
	return strings.Join([]string{itoa(pid), "(" + comm + ")", "S", itoa(ppid), "1", "1", "0", "-1", "4194560",
		"100", "0", "0", "0", itoa(utime), itoa(stime), "0", "0", "20", "0", "1", "0", itoa(start),
		"3133440", "358", "18446744073709551615", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
		"17", "1", "0", "0", "0", "0", "0", "1", "1", "1", "1", "1", "1", "1", "0"}, " ") + "\n"
}

func ioFile(syscr, syscw int) string {
	return "rchar: 6976\nwchar: 0\nsyscr: " + itoa(syscr) + "\nsyscw: " + itoa(syscw) +
		"\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"
}

func statusFile(vol, nonvol int) string {
	return "Name:\tx\nState:\tS (sleeping)\nThreads:\t1\nvoluntary_ctxt_switches:\t" + itoa(vol) +
		"\nnonvoluntary_ctxt_switches:\t" + itoa(nonvol) + "\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

func proc(fsys fstest.MapFS, pid int, comm string, ppid, cpu, start, syscr, syscw, cs int) {
	p := itoa(pid) + "/"
	fsys[p+"stat"] = &fstest.MapFile{Data: []byte(statLine(pid, comm, ppid, cpu, 0, start))}
	fsys[p+"status"] = &fstest.MapFile{Data: []byte(statusFile(cs, 0))}
	if syscr >= 0 {
		fsys[p+"io"] = &fstest.MapFile{Data: []byte(ioFile(syscr, syscw))}
	}
}

var statCases = []struct {
	name, in string
	want     procstat.Counters
	err      string
}{
	{"plain", statLine(42, "bash", 1, 7, 3, 900), procstat.Counters{PID: 42, Comm: "bash", PPID: 1, CPUTicks: 10, Start: 900}, ""},
	{"comm with spaces and parens", statLine(7, "a) b (c", 2, 1, 1, 5), procstat.Counters{PID: 7, Comm: "a) b (c", PPID: 2, CPUTicks: 2, Start: 5}, ""},
	{"no comm", "42 bash S 1\n", procstat.Counters{}, "no (comm)"},
	{"short", "42 (bash) S 1 2 3\n", procstat.Counters{}, "fields after the comm"},
	{"bad pid", "x (bash) S 1\n", procstat.Counters{}, "bad pid"},
	{"bad utime", strings.Replace(statLine(1, "x", 0, 1, 2, 3), " 1 2 0 0 20", " u 2 0 0 20", 1), procstat.Counters{}, "bad utime"},
}

func TestParseStat(t *testing.T) {
	for _, tc := range statCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := procstat.ParseStat([]byte(tc.in))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseStatOfThisProcess(t *testing.T) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("skipped: no /proc here: %v", err)
	}
	c, err := procstat.ParseStat(data)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), c.PID)
	assert.Equal(t, os.Getppid(), c.PPID)
}

var ioCases = []struct {
	name, in string
	r, w     uint64
	err      string
}{
	{"linux", ioFile(10, 3), 10, 3, ""},
	{"missing syscw", "syscr: 4\n", 0, 0, "no syscr or syscw"},
	{"bad number", "syscr: 4\nsyscw: x\n", 0, 0, `line 2: bad syscw "x"`},
	{"empty", "", 0, 0, "no syscr"},
}

func TestParseIO(t *testing.T) {
	for _, tc := range ioCases {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := procstat.ParseIO([]byte(tc.in))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [2]uint64{tc.r, tc.w}, [2]uint64{r, w})
		})
	}
}

var statusCases = []struct {
	name, in string
	want     uint64
	err      string
}{
	{"linux", statusFile(5, 2), 7, ""},
	{"none", "Name:\tx\n", 0, "no context switch"},
	{"bad", "voluntary_ctxt_switches:\tmany\n", 0, "line 1: bad voluntary_ctxt_switches"},
}

func TestParseStatus(t *testing.T) {
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := procstat.ParseStatus([]byte(tc.in))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestScanAndDelta(t *testing.T) {
	fsys := fstest.MapFS{"self/stat": &fstest.MapFile{Data: []byte(statLine(1, "init", 0, 1, 1, 1))}}
	proc(fsys, 1, "init", 0, 100, 1, 50, 20, 10)
	proc(fsys, 200, "nginx", 1, 10, 5000, 1000, 400, 30)
	proc(fsys, 300, "sshd", 1, 10, 6000, -1, 0, 3) // another user's: io unreadable
	fsys["400/stat"] = &fstest.MapFile{Data: []byte("garbage")}
	fsys["net/dev"] = &fstest.MapFile{Data: []byte("x")}
	before, bad, err := procstat.Scan(fsys)
	require.NoError(t, err)
	assert.Equal(t, 1, bad, "the malformed process is counted, not fatal")
	assert.Len(t, before, 3)
	assert.False(t, before[300].HasIO)

	proc(fsys, 200, "nginx", 1, 35, 5000, 1600, 400, 45)
	proc(fsys, 300, "sshd", 1, 12, 6000, -1, 0, 3)
	delete(fsys, "1/stat") // init "exited"
	proc(fsys, 500, "cc1", 200, 2, 9000, 30, 5, 1)
	after, _, err := procstat.Scan(fsys)
	require.NoError(t, err)

	samples, stats := procstat.Delta(before, after, nil)
	assert.ElementsMatch(t, []syscalls.Sample{
		{PID: 200, Comm: "nginx", Syscall: procstat.ReadFamily, Count: 600},
		{PID: 500, Comm: "cc1", Syscall: procstat.ReadFamily, Count: 30},
		{PID: 500, Comm: "cc1", Syscall: procstat.WriteFamily, Count: 5},
	}, samples, "new processes count from zero; unchanged and unreadable ones give nothing")
	assert.ElementsMatch(t, []syscalls.ProcStat{
		{PID: 200, Comm: "nginx", CtxSwitches: 15, CPU: 250 * time.Millisecond},
		{PID: 300, Comm: "sshd", CPU: 20 * time.Millisecond},
		{PID: 500, Comm: "cc1", CtxSwitches: 1, CPU: 20 * time.Millisecond},
	}, stats)

	// pid 200 reused by another process: counts start again from zero.
	proc(fsys, 200, "nginx", 1, 1, 7777, 8, 0, 1)
	again, _, err := procstat.Scan(fsys)
	require.NoError(t, err)
	samples, _ = procstat.Delta(after, again, func(c procstat.Counters) bool { return c.Comm == "nginx" })
	assert.Equal(t, []syscalls.Sample{{PID: 200, Comm: "nginx", Syscall: procstat.ReadFamily, Count: 8}}, samples)
}

func TestRunOnAMapFS(t *testing.T) {
	fsys := fstest.MapFS{"self/stat": &fstest.MapFile{Data: []byte(statLine(1, "x", 0, 1, 1, 1))}}
	proc(fsys, 10, "busy", 1, 0, 1, 0, 0, 0)
	b := procstat.Backend{FS: fsys}
	info := b.Info(context.Background())
	assert.True(t, info.Available)
	assert.Contains(t, info.Detail, "partial")
	assert.True(t, b.Partial())

	src, err := b.NewSyscalls(sources.SyscallConfig{Interval: 20 * time.Millisecond, PID: 10})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := syscalls.New(syscalls.Options{})
	n := 0
	var lastEnd time.Duration
	err = src.Run(ctx, syscalls.SinkFunc(func(iv syscalls.Interval) {
		m.Interval(iv)
		n++
		assert.GreaterOrEqual(t, iv.Length, 15*time.Millisecond, "about the interval")
		assert.Greater(t, iv.End, lastEnd, "monotonic")
		if lastEnd > 0 {
			assert.Equal(t, iv.End-lastEnd, iv.Length)
		}
		lastEnd = iv.End
		// The process works between ticks (the sink runs between scans).
		proc(fsys, 10, "busy", 1, n, 1, 100*n, 10*n, n)
		if n == 3 {
			cancel()
		}
	}))
	require.NoError(t, err)
	assert.Equal(t, uint64(200), m.Totals()[procstat.ReadFamily], "two intervals of 100 after the first")
	assert.Equal(t, uint64(20), m.Totals()[procstat.WriteFamily])

	// The process exits: a clear message, and what was counted stays.
	delete(fsys, "10/stat")
	src, err = b.NewSyscalls(sources.SyscallConfig{Interval: 10 * time.Millisecond, PID: 10})
	require.NoError(t, err)
	err = src.Run(context.Background(), m)
	assert.ErrorIs(t, err, syscalls.ErrProcessExited)
	assert.ErrorContains(t, err, "process 10")
	assert.Equal(t, uint64(200), m.Totals()[procstat.ReadFamily])
}

func TestCountsALaunchedCommandOnRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skipf("skipped: no /proc/self/io: %v", err)
	}
	src, err := procstat.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: 50 * time.Millisecond,
		Command: []string{"sh", "-c", "i=0; while [ $i -lt 300 ]; do echo x >/dev/null; i=$((i+1)); done; sleep 0.3"}})
	require.NoError(t, err)
	m := syscalls.New(syscalls.Options{})
	require.NoError(t, src.Run(context.Background(), m))
	assert.GreaterOrEqual(t, m.Totals()[procstat.WriteFamily], uint64(300), "300 echo writes seen")
	for _, r := range m.Top(syscalls.ByProcess, 0).Rows {
		if r.PID != syscalls.OtherPID {
			assert.Contains(t, []string{"sh", "sleep"}, r.Comm, "only the command's tree")
		}
	}
}

func TestUnreadableProc(t *testing.T) {
	b := procstat.Backend{FS: fstest.MapFS{}}
	info := b.Info(context.Background())
	assert.False(t, info.Available)
	assert.Contains(t, info.Reason, "/proc cannot be read")
	_, err := b.NewSyscalls(sources.SyscallConfig{PID: 1, Command: []string{"x"}})
	assert.ErrorContains(t, err, "not both")
	var _ fs.FS = fstest.MapFS{}
}

func FuzzParseStat(f *testing.F) {
	for _, tc := range statCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := procstat.ParseStat(data)
		if err == nil && c.PID < 0 {
			t.Fatalf("negative pid %d", c.PID)
		}
	})
}

func FuzzParseIO(f *testing.F) {
	for _, tc := range ioCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { _, _, _ = procstat.ParseIO(data) })
}

func FuzzParseStatus(f *testing.F) {
	for _, tc := range statusCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = procstat.ParseStatus(data) })
}

// FuzzScan reads fuzzed stat, io and status files through an fs.FS, as the
// source reads /proc.
func FuzzScan(f *testing.F) {
	f.Add([]byte(statLine(42, "bash", 1, 7, 3, 900)), []byte(ioFile(10, 3)), []byte(statusFile(5, 2)))
	for i := range statCases {
		f.Add([]byte(statCases[i].in), []byte(ioCases[i%len(ioCases)].in), []byte(statusCases[i%len(statusCases)].in))
	}
	f.Fuzz(func(t *testing.T, stat, io, status []byte) {
		fsys := fstest.MapFS{
			"42/stat":   &fstest.MapFile{Data: stat},
			"42/io":     &fstest.MapFile{Data: io},
			"42/status": &fstest.MapFile{Data: status},
		}
		procs, bad, err := procstat.Scan(fsys)
		if err != nil {
			t.Fatal(err)
		}
		if len(procs)+bad != 1 {
			t.Fatalf("%d processes and %d bad from one", len(procs), bad)
		}
		samples, _ := procstat.Delta(nil, procs, nil)
		for _, s := range samples {
			if s.Count == 0 {
				t.Fatalf("empty sample %+v", s)
			}
		}
	})
}
