package bpftrace_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"flowscape/sources"
	"flowscape/sources/bpftrace"
	"flowscape/tracer/syscalls"
)

// loopCost runs the loop program (under a prefix command, if any) runs
// times and returns the least CPU time per call, in ns, of the whole
// command: the loop with a tracer's work done in its context (bpftrace's
// probe) plus, for a tracer that is the command (strace), the tracer's own
// CPU. On a quiet machine that is the wall-clock slowdown; unlike wall
// time, it holds when other work shares the machine.
func loopCost(b *testing.B, runs int, prefix []string, bin, mode string, n int) float64 {
	b.Helper()
	best := 0.0
	for i := 0; i < runs; i++ {
		argv := append(append([]string{}, prefix...), bin, mode, strconv.Itoa(n))
		cmd := exec.Command(argv[0], argv[1:]...)
		out, err := cmd.Output()
		require.NoError(b, err, "%v", argv)
		require.NotEmpty(b, strings.Fields(string(out)), "%v printed nothing", argv)
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		ns := float64(cpu.Nanoseconds()) / float64(n)
		if i == 0 || ns < best {
			best = ns
		}
	}
	return best
}

// BenchmarkSyscallOverhead compares a syscall-heavy loop (stat, small
// writes) untraced, under the bpftrace source (counting every process on
// the machine) and under strace -c -f, and reports the slowdowns as ratios
// of CPU time per call (see loopCost) from one run: x-bpftrace-stat,
// x-strace-stat, x-bpftrace-write, x-strace-write, and the untraced cost as
// ns/stat and ns/write. Each figure is the best of a few runs.
func BenchmarkSyscallOverhead(b *testing.B) {
	needBpftrace(b)
	strace, err := exec.LookPath("strace")
	if err != nil {
		b.Skip("skipped: strace is not installed")
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		b.Skip("skipped: gcc is not installed")
	}
	bin := filepath.Join(b.TempDir(), "loop")
	out, err := exec.Command(cc, "-O2", "-o", bin, "testdata/loop.c").CombinedOutput()
	require.NoError(b, err, "gcc: %s", out)

	loads := []struct {
		mode string
		n    int
	}{{"stat", 200000}, {"write", 50000}}
	for i := 0; i < b.N; i++ {
		for _, l := range loads {
			plain := loopCost(b, 3, nil, bin, l.mode, l.n)
			underStrace := loopCost(b, 2, []string{strace, "-c", "-f", "-o", "/dev/null"}, bin, l.mode, l.n)

			src, err := bpftrace.Backend{}.NewSyscalls(sources.SyscallConfig{Interval: time.Second})
			require.NoError(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan struct{}, 1)
			m := syscalls.New(syscalls.Options{})
			done := make(chan error, 1)
			go func() {
				done <- src.Run(ctx, syscalls.SinkFunc(func(iv syscalls.Interval) {
					m.Interval(iv)
					select {
					case ready <- struct{}{}:
					default:
					}
				}))
			}()
			<-ready // attached and counting
			underBpf := loopCost(b, 3, nil, bin, l.mode, l.n)
			cancel()
			require.NoError(b, <-done)

			b.ReportMetric(plain, "ns/"+l.mode)
			b.ReportMetric(underBpf/plain, "x-bpftrace-"+l.mode)
			b.ReportMetric(underStrace/plain, "x-strace-"+l.mode)
		}
	}
}
