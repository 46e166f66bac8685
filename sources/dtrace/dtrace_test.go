package dtrace_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources"
	"flowscape/sources/dtrace"
	"flowscape/tracer/syscalls"
)

func parseAll(text string) ([]syscalls.Interval, []error) {
	p := dtrace.NewParser()
	var ivs []syscalls.Interval
	var errs []error
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		iv, ok, err := p.Line(sc.Bytes())
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			ivs = append(ivs, iv)
		}
	}
	return ivs, errs
}

// testdata/macos.txt is the script's output as `dtrace -q` prints it:
// printa's default columns (pid right-aligned, execname and probefunc
// left-aligned and padded, the count right-aligned), sorted by count,
// after a blank line, between the script's own marker lines.
func TestRecordedOutput(t *testing.T) {
	data, err := os.ReadFile("testdata/macos.txt")
	require.NoError(t, err)
	ivs, errs := parseAll(string(data))
	require.Empty(t, errs)
	require.Len(t, ivs, 3)
	assert.Equal(t, 1000002336*time.Nanosecond, ivs[0].Length)
	assert.Len(t, ivs[0].Samples, 6)
	assert.Empty(t, ivs[2].Samples, "nothing between the last tick and the end")
	m := syscalls.New(syscalls.Options{})
	for _, iv := range ivs {
		m.Interval(iv)
	}
	snap := m.Top(syscalls.ByProcess, 0)
	require.NotEmpty(t, snap.Rows)
	assert.Equal(t, "Google Chrome He (1021)", snap.Rows[0].Label(), "an execname with spaces")
	assert.Equal(t, uint64(1247+1003), snap.Rows[0].Total)
	assert.Equal(t, uint64(411), m.Totals()["mach_msg_trap"])
}

var lineCases = []struct {
	name  string
	lines []string
	want  []syscalls.Sample
	err   string
}{
	{"columns", []string{"flowscape ready 0", "", "        42  sshd                    read                     7", "flowscape tick 5"},
		[]syscalls.Sample{{PID: 42, Comm: "sshd", Syscall: "read", Count: 7}}, ""},
	{"lines before ready are dtrace's own", []string{"dtrace: description 'syscall:::entry' matched 434 probes", "flowscape ready 0", "flowscape tick 1"}, nil, ""},
	{"short line", []string{"flowscape ready 0", "  42 sshd 7"}, nil, "line 2: want PID EXECNAME PROBEFUNC COUNT"},
	{"bad pid", []string{"flowscape ready 0", "  x sshd read 7"}, nil, `bad pid "x"`},
	{"bad count", []string{"flowscape ready 0", "  4 sshd read many"}, nil, `bad count "many"`},
	{"tick before ready", []string{"flowscape tick 3"}, nil, "tick before ready"},
	{"bad marker", []string{"flowscape ready 0", "flowscape tock 3"}, nil, `unknown marker "tock"`},
	{"bad time", []string{"flowscape ready soon"}, nil, `bad time "soon"`},
}

func TestParserLines(t *testing.T) {
	for _, tc := range lineCases {
		t.Run(tc.name, func(t *testing.T) {
			ivs, errs := parseAll(strings.Join(tc.lines, "\n"))
			if tc.err != "" {
				require.NotEmpty(t, errs)
				assert.ErrorContains(t, errs[0], tc.err)
				return
			}
			require.Empty(t, errs)
			require.NotEmpty(t, ivs)
			assert.Equal(t, tc.want, ivs[0].Samples)
		})
	}
}

func TestScript(t *testing.T) {
	got, err := dtrace.Script(sources.SyscallConfig{Interval: 250 * time.Millisecond, PID: 42}, 0)
	require.NoError(t, err)
	assert.Contains(t, got, "@calls[pid, execname, probefunc] = count();")
	assert.Contains(t, got, "tick-250ms")
	assert.Contains(t, got, "/pid == 42/")
	got, err = dtrace.Script(sources.SyscallConfig{}, 77)
	require.NoError(t, err)
	assert.Contains(t, got, "/progenyof(77)/")
	assert.Contains(t, got, "tick-1000ms")
}

func TestUnavailableOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("skipped: this checks the Linux answer")
	}
	info := dtrace.Backend{}.Info(context.Background())
	assert.False(t, info.Available)
	assert.Equal(t, dtrace.LinuxReason, info.Reason)
	_, err := dtrace.Backend{}.NewSyscalls(sources.SyscallConfig{})
	assert.ErrorContains(t, err, "not available on Linux")
}

func FuzzParser(f *testing.F) {
	for _, tc := range lineCases {
		f.Add(strings.Join(tc.lines, "\n"))
	}
	if data, err := os.ReadFile("testdata/macos.txt"); err == nil {
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, text string) {
		ivs, _ := parseAll(text)
		m := syscalls.New(syscalls.Options{MaxProcs: 10})
		for _, iv := range ivs {
			m.Interval(iv)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
