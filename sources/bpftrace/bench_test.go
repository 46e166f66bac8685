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

// loopNS runs the loop program (under a prefix command, if any) runs times
// and returns the least ns per call it measured: the run least disturbed
// by the other work on the machine.
func loopNS(b *testing.B, runs int, prefix []string, bin, mode string, n int) float64 {
	b.Helper()
	best := 0.0
	for i := 0; i < runs; i++ {
		ns := loopOnce(b, prefix, bin, mode, n)
		if i == 0 || ns < best {
			best = ns
		}
	}
	return best
}

func loopOnce(b *testing.B, prefix []string, bin, mode string, n int) float64 {
	b.Helper()
	argv := append(append([]string{}, prefix...), bin, mode, strconv.Itoa(n))
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	require.NoError(b, err, "%v", argv)
	lines := strings.Fields(string(out))
	require.NotEmpty(b, lines)
	ns, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	require.NoError(b, err)
	return ns
}

// BenchmarkSyscallOverhead compares a syscall-heavy loop (stat, small
// writes) untraced, under the bpftrace source (counting every process on
// the machine) and under strace -c -f, and reports the slowdowns as ratios
// from one run: x-bpftrace-stat, x-strace-stat, x-bpftrace-write,
// x-strace-write. Each figure is the best of a few runs of the loop, as the
// machine may be busy with other work.
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
			plain := loopNS(b, 3, nil, bin, l.mode, l.n)
			underStrace := loopNS(b, 2, []string{strace, "-c", "-f", "-o", "/dev/null"}, bin, l.mode, l.n)

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
			underBpf := loopNS(b, 3, nil, bin, l.mode, l.n)
			cancel()
			require.NoError(b, <-done)

			b.ReportMetric(plain, "ns/"+l.mode)
			b.ReportMetric(underBpf/plain, "x-bpftrace-"+l.mode)
			b.ReportMetric(underStrace/plain, "x-strace-"+l.mode)
		}
	}
}
