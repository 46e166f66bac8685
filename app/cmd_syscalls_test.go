package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources/bpftrace"
)

// syscallTotals is the JSON `flowscape syscalls -- COMMAND` prints.
type syscallTotals struct {
	Command []string `json:"command"`
	Status  int      `json:"exit_status"`
	Source  string   `json:"source"`
	Partial bool     `json:"partial"`
	By      string   `json:"by"`
	Total   uint64   `json:"total"`
	Rows    []struct {
		PID     int    `json:"pid"`
		Comm    string `json:"comm"`
		Syscall string `json:"syscall"`
		Total   uint64 `json:"total"`
	} `json:"rows"`
}

func (s syscallTotals) bySyscall() map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range s.Rows {
		out[r.Syscall] = r.Total
	}
	return out
}

// buildSyscallWorkload compiles the deterministic workload (getppid and
// sched_yield in a process tree with threads).
func buildSyscallWorkload(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("skipped: gcc is not installed (Debian: apt-get install gcc)")
	}
	bin := filepath.Join(t.TempDir(), "workload")
	out, err := exec.Command(cc, "-O2", "-pthread", "-o", bin, "../sources/bpftrace/testdata/workload.c").CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)
	return bin
}

// straceCounts runs argv under `strace -c -f` and returns the calls per
// syscall from its summary table.
func straceCounts(t *testing.T, argv ...string) map[string]uint64 {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("skipped: strace is not installed (Debian: apt-get install strace)")
	}
	out := filepath.Join(t.TempDir(), "strace.txt")
	cmdOut, err := exec.Command(strace, append([]string{"-c", "-f", "-o", out}, argv...)...).CombinedOutput()
	require.NoError(t, err, "strace: %s", cmdOut)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	counts := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// % time  seconds  usecs/call  calls  [errors]  syscall
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] == "%" || strings.HasPrefix(f[0], "-") || f[len(f)-1] == "total" {
			continue
		}
		n, err := strconv.ParseUint(f[3], 10, 64)
		require.NoError(t, err, "strace line %q", sc.Text())
		counts[f[len(f)-1]] = n
	}
	require.NotEmpty(t, counts, "strace summary:\n%s", data)
	return counts
}

func runSyscalls(t *testing.T, args ...string) (syscallTotals, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"syscalls"}, args...), nil, &stdout, &stderr)
	var got syscallTotals
	if strings.HasPrefix(stdout.String(), "{") {
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), "stdout: %s", stdout.String())
	}
	return got, stderr.String(), code
}

// TestSyscallCountsEqualStrace is the oracle: for a workload making known
// numbers of getppid and sched_yield calls in 3 processes × 2 threads,
// `flowscape syscalls -- COMMAND` counts what `strace -c -f` counts.
func TestSyscallCountsEqualStrace(t *testing.T) {
	if err := bpftrace.Trial(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	bin := buildSyscallWorkload(t)
	argv := []string{bin, "20000", "3000", "2"}
	want := straceCounts(t, argv...)
	require.Equal(t, uint64(6*20000), want["getppid"], "strace agrees with the workload's design")
	require.Equal(t, uint64(6*3000), want["sched_yield"])

	got, stderr, code := runSyscalls(t, append([]string{"--by", "syscall", "--format", "json", "--interval", "100ms", "--"}, argv...)...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Equal(t, "bpftrace", got.Source)
	assert.False(t, got.Partial)
	counts := got.bySyscall()
	for _, name := range []string{"getppid", "sched_yield"} {
		assert.Equal(t, want[name], counts[name], "%s: flowscape vs strace -c -f", name)
	}
	for _, name := range []string{"clone", "clone3", "wait4"} {
		assert.Equal(t, want[name], counts[name], "%s: flowscape vs strace -c -f", name)
	}

	byProc, stderr, code := runSyscalls(t, append([]string{"--format", "json", "--"}, argv...)...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	pids := map[int]bool{}
	for _, r := range byProc.Rows {
		pids[r.PID] = true
		assert.Equal(t, "workload", r.Comm)
	}
	assert.Len(t, pids, 3, "one row per process of the tree")
}

func TestSyscallsExitStatusAndTextTotals(t *testing.T) {
	if err := bpftrace.Trial(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"syscalls", "--by", "syscall", "--", "sh", "-c", "echo hi; exit 4"}, nil, &stdout, &stderr)
	assert.Equal(t, 4, code, "the command's exit status")
	out := stdout.String()
	assert.True(t, strings.HasPrefix(out, "hi\n-- sh -c echo hi; exit 4: "), out)
	assert.Regexp(t, `(?m)^\s+1  execve$`, out)
	assert.Regexp(t, `(?m)^\s+1  write$`, out, "the echo")
	assert.Contains(t, stderr.String(), "exit status 4")
}

func TestSyscallsFromProcIsPartialAndSaysSo(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skipf("skipped: no /proc/self/io: %v", err)
	}
	got, stderr, code := runSyscalls(t, "--source", "proc", "--by", "syscall", "--format", "json", "--",
		"sh", "-c", "i=0; while [ $i -lt 200 ]; do echo x >/dev/null; i=$((i+1)); done")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "partial: no bpftrace / not root")
	assert.True(t, got.Partial)
	assert.Equal(t, "proc", got.Source)
	assert.GreaterOrEqual(t, got.bySyscall()["write-family"], uint64(200), "the 200 echo writes")
}

func TestSyscallsIntervalsForAPID(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"syscalls", "--source", "proc", "--pid", strconv.Itoa(os.Getpid()), "--interval", "20ms", "--count", "3", "--format", "json"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 3, "--count 3: three intervals")
	for i, ln := range lines {
		var iv struct {
			Interval int `json:"interval"`
			By       string
		}
		require.NoError(t, json.Unmarshal([]byte(ln), &iv), ln)
		assert.Equal(t, i+1, iv.Interval)
		assert.Equal(t, "process", iv.By)
	}
}

func TestSyscallsStopsWhenThePIDExits(t *testing.T) {
	if err := bpftrace.Trial(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	// Writes for a few seconds (however long bpftrace takes to attach), then exits.
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200 ]; do echo x >/dev/null; sleep 0.01; i=$((i+1)); done")
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var stdout, stderr bytes.Buffer
	code := run([]string{"syscalls", "--pid", strconv.Itoa(cmd.Process.Pid), "--interval", "200ms", "--by", "syscall"}, nil, &stdout, &stderr)
	<-done
	assert.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stderr.String(), fmt.Sprintf("process %d: process exited", cmd.Process.Pid))
	assert.Contains(t, stdout.String(), "write", "the shell's writes were counted")
}

func TestSyscallsFallBackToProcWithoutBpftrace(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no bpftrace on it
	var stdout, stderr bytes.Buffer
	code := run([]string{"syscalls", "--pid", strconv.Itoa(os.Getpid()), "--interval", "20ms", "--count", "2"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stderr.String(), "bpftrace is not installed")
	assert.Contains(t, stderr.String(), "counting from /proc instead (partial: no bpftrace / not root")
	assert.Equal(t, 2, strings.Count(stdout.String(), "-- interval"), stdout.String())

	_, stderr2, code := runSyscalls(t, "--source", "bpftrace", "--count", "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr2, "bpftrace is not installed", "asked for by name: no fallback")
}

// fakeBpftrace puts a bpftrace on PATH that fails as a kernel refusing
// BPF would make it fail.
func fakeBpftrace(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: bpftrace is only tried as root")
	}
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'ERROR: Could not attach probe: Operation not permitted' >&2\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bpftrace"), []byte(script), 0o755))
	t.Setenv("PATH", dir+":/usr/bin:/bin")
}

func TestSyscallsFallBackWhenBpftraceCannotStart(t *testing.T) {
	fakeBpftrace(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"syscalls", "--pid", strconv.Itoa(os.Getpid()), "--interval", "20ms", "--count", "2"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stderr.String(), "bpftrace could not start")
	assert.Contains(t, stderr.String(), "Could not attach probe: Operation not permitted", "bpftrace's own words")
	assert.Contains(t, stderr.String(), "counting from /proc instead")
	assert.Equal(t, 2, strings.Count(stdout.String(), "-- interval"), stdout.String())

	got, stderr2, code := runSyscalls(t, "--format", "json", "--", "sh", "-c", "echo x >/dev/null")
	require.Equal(t, 0, code, stderr2)
	assert.Equal(t, "proc", got.Source)
	assert.True(t, got.Partial)
	assert.Positive(t, got.Total, "the command ran once, under /proc")
}

func TestSyscallsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--by", "thread"}, 2, `group by "thread"`},
		{[]string{"--format", "xml"}, 2, `format "xml"`},
		{[]string{"--interval", "1us"}, 2, "at least 1ms"},
		{[]string{"--pid", "1", "--", "true"}, 2, "not both"},
		{[]string{"--count", "3", "--", "true"}, 2, "--count does not go with a command"},
		{[]string{"--source", "etw"}, 1, `unknown source "etw"`},
		{[]string{"--source", "proc", "--pid", "999999999", "--count", "1"}, 0, "process 999999999: process exited"},
		{[]string{"--source", "proc", "--", "/no/such/program"}, 1, "/no/such/program"},
	} {
		_, stderr, code := runSyscalls(t, tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.msg, "%v", tc.args)
	}
}
