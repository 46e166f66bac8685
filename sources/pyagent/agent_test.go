package pyagent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flowscape/sources"
	"flowscape/tracer"
)

// anyPython returns one supported interpreter, preferring Debian's.
func anyPython(t *testing.T) Interpreter {
	t.Helper()
	its := Discover(context.Background())
	for _, it := range its {
		if it.Supported() && strings.HasPrefix(it.Path, "/usr/bin/") {
			return it
		}
	}
	for _, it := range its {
		if it.Supported() {
			return it
		}
	}
	t.Skip("no Python 3.8 or newer on this machine")
	return Interpreter{}
}

func allPythons(t *testing.T) []Interpreter {
	t.Helper()
	var out []Interpreter
	for _, it := range Discover(context.Background()) {
		if it.Supported() {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		t.Skip("no Python 3.8 or newer on this machine")
	}
	return out
}

func script(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prog.py")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for the program's two output streams.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runTraced(t *testing.T, ctx context.Context, py, src string, args ...string) (*tracer.Trace, string, error) {
	t.Helper()
	var out syncBuffer
	s, err := Backend{}.NewFlow(sources.FlowConfig{Interpreter: py, Script: script(t, src), Args: args, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("NewFlow: %v", err)
	}
	tr := tracer.NewTrace(0)
	err = s.Run(ctx, tr)
	return tr, out.String(), err
}

func funcCalls(tr *tracer.Trace, name string) int64 {
	var n int64
	for _, g := range tr.Callgraph().Nodes {
		if g.Frame.Func == name {
			n += g.Calls
		}
	}
	return n
}

func TestNewFlowRejectsBadInput(t *testing.T) {
	py := anyPython(t)
	notPython := script(t, "print('hi')")
	notExec := script(t, "print('hi')") // mode 0600
	tests := []struct {
		name string
		cfg  sources.FlowConfig
		want string
	}{
		{"script missing", sources.FlowConfig{Interpreter: py.Path, Script: "/nonexistent/x.py"}, "script /nonexistent/x.py"},
		{"script is a directory", sources.FlowConfig{Interpreter: py.Path, Script: t.TempDir()}, "is a directory"},
		{"interpreter missing", sources.FlowConfig{Interpreter: "/nonexistent/python9", Script: notPython}, "interpreter /nonexistent/python9"},
		{"interpreter not Python", sources.FlowConfig{Interpreter: "/bin/true", Script: notPython}, "not a Python interpreter"},
		{"interpreter not executable", sources.FlowConfig{Interpreter: notExec, Script: notPython}, "not an executable file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Backend{}.NewFlow(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestProgramEndings(t *testing.T) {
	py := anyPython(t).Path
	tests := []struct {
		name     string
		src      string
		wantCode int    // ExitError code; 0: no error
		wantSig  bool   // killed by a signal
		wantOut  string // in the program's output
		wantFunc string // a function that must have been recorded
	}{
		{"ok", "def f():\n    print('hello')\nf()\n", 0, false, "hello", "f"},
		{"exit status", "import sys\ndef f():\n    sys.exit(3)\nf()\n", 3, false, "", "f"},
		{"uncaught exception", "def f():\n    raise ValueError('boom')\nf()\n", 1, false, "ValueError: boom", "f"},
		{"recursion error", "def r(n):\n    return r(n + 1)\nr(0)\n", 1, false, "RecursionError", "r"},
		{"killed", "import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\nf()\n", 0, true, "", ""},
		{"syntax error", "def f(:\n", 1, false, "SyntaxError", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, out, err := runTraced(t, context.Background(), py, tt.src)
			var ee *ExitError
			switch {
			case tt.wantSig:
				if !errors.As(err, &ee) || ee.Signal == "" {
					t.Fatalf("err = %v, want killed by a signal", err)
				}
			case tt.wantCode != 0:
				if !errors.As(err, &ee) || ee.Code != tt.wantCode {
					t.Fatalf("err = %v, want exit status %d", err, tt.wantCode)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q does not contain %q", out, tt.wantOut)
			}
			if strings.Contains(out, "flowscape_agent") {
				t.Errorf("the agent shows in the program's output: %q", out)
			}
			if tt.wantFunc != "" && funcCalls(tr, tt.wantFunc) == 0 {
				t.Errorf("no call of %s recorded", tt.wantFunc)
			}
		})
	}
}

func TestRecursionErrorKeepsEveryCall(t *testing.T) {
	for _, it := range allPythons(t) {
		t.Run(it.Version, func(t *testing.T) { recursionError(t, it.Path) })
	}
}

func recursionError(t *testing.T, py string) {
	tr, _, err := runTraced(t, context.Background(), py, "import sys\nsys.setrecursionlimit(500)\ndef r(n):\n    return r(n + 1)\nr(0)\n")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	if n := funcCalls(tr, "r"); n < 400 || n > 500 {
		t.Errorf("recorded %d calls of r, want the ~500 made before RecursionError", n)
	}
	// ≤ 3.11 removes a profile hook that cannot be entered at the recursion
	// limit: the run must say so. sys.monitoring keeps every return.
	if st := tr.Stats(); st.Open != 0 && !strings.Contains(err.Error(), "removed the profile hook") {
		t.Errorf("%d calls left open and the error does not say why: %v", st.Open, err)
	}
}

func TestStopMidRun(t *testing.T) {
	py := anyPython(t).Path
	ctx, cancel := context.WithCancel(context.Background())
	src := "import time\ndef tick(i):\n    print(i, flush=True)\n    time.sleep(0.01)\nfor i in range(100000):\n    tick(i)\n"
	var out syncBuffer
	s, err := Backend{}.NewFlow(sources.FlowConfig{Interpreter: py, Script: script(t, src), Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracer.NewTrace(0)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, tr) }()
	deadline := time.Now().Add(20 * time.Second)
	for funcCalls(tr, "tick") < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	before := funcCalls(tr, "tick")
	if before < 5 {
		t.Fatalf("only %d ticks recorded while running: events are not streamed live", before)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(StopGrace + 10*time.Second):
		t.Fatal("Stop did not end the program")
	}
	if after := funcCalls(tr, "tick"); after < before {
		t.Errorf("calls went from %d to %d after Stop: collected events were lost", before, after)
	}
}

func TestMegabytesOfOutput(t *testing.T) {
	py := anyPython(t).Path
	var out countWriter
	s, err := Backend{}.NewFlow(sources.FlowConfig{Interpreter: py, Script: script(t, "import sys\nfor i in range(200000):\n    sys.stdout.write('x' * 40 + '\\n')\n"), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), tracer.NewTrace(0)); err != nil {
		t.Fatal(err)
	}
	if out.n != 200000*41 {
		t.Errorf("program wrote %d bytes through, want %d", out.n, 200000*41)
	}
}

type countWriter struct {
	mu sync.Mutex
	n  int
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n += len(p)
	c.mu.Unlock()
	return len(p), nil
}

// TestThreadsNesting checks, on every Python here, that each thread's
// returns match its calls and that every thread is seen.
func TestThreadsNesting(t *testing.T) {
	src := `import threading
def leaf(i):
    return i * 2
def work(n):
    return sum(leaf(i) for i in range(n))
ts = [threading.Thread(target=work, args=(300,), name="w%d" % i) for i in range(3)]
for t in ts: t.start()
for t in ts: t.join()
work(10)
`
	for _, it := range allPythons(t) {
		t.Run(it.Version, func(t *testing.T) {
			tr, _, err := runTraced(t, context.Background(), it.Path, src)
			if err != nil {
				t.Fatal(err)
			}
			st := tr.Stats()
			if st.Threads < 4 {
				t.Errorf("%d threads seen, want 4", st.Threads)
			}
			if st.Open != 0 {
				t.Errorf("%d calls never returned", st.Open)
			}
			if got := funcCalls(tr, "leaf"); got != 910 {
				t.Errorf("leaf called %d times, want 910", got)
			}
			names := map[string]bool{}
			for _, th := range tr.Threads() {
				names[th.Name] = true
			}
			for _, want := range []string{"w0", "w1", "w2"} {
				if !names[want] {
					t.Errorf("thread %s not named (have %v)", want, names)
				}
			}
		})
	}
}

func TestInfoListsInterpreters(t *testing.T) {
	info := Backend{}.Info(context.Background())
	if info.Name != Name || info.Kind != sources.KindCodeFlow {
		t.Errorf("info = %+v", info)
	}
	if len(allPythons(t)) > 0 && (!info.Available || !strings.Contains(info.Detail, "interpreters:")) {
		t.Errorf("available = %v, detail %q", info.Available, info.Detail)
	}
}

// A program so short that it connects, sends everything and exits before
// its connection is taken: the trace is still read.
func TestVeryShortPrograms(t *testing.T) {
	py := anyPython(t).Path
	for i := range 20 {
		tr, _, err := runTraced(t, context.Background(), py, "def f():\n    pass\nf()\n")
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if funcCalls(tr, "f") != 1 {
			t.Fatalf("run %d: f traced %d times", i, funcCalls(tr, "f"))
		}
	}
}

// findNodes returns every traced call of the function named fn.
func findNodes(tr *tracer.Trace, fn string) []tracer.Node {
	var out []tracer.Node
	var walk func(ids []tracer.NodeID)
	walk = func(ids []tracer.NodeID) {
		for _, id := range ids {
			n, ok := tr.Node(id)
			if !ok {
				continue
			}
			if n.Frame.Func == fn {
				out = append(out, n)
			}
			walk(tr.Children(id))
		}
	}
	for _, th := range tr.Threads() {
		walk(tr.Roots(th.TID))
	}
	return out
}

// The hooks' timestamps are CLOCK_MONOTONIC nanoseconds (the clock of the
// syscall sources, which the C hook reads through the TSC where the kernel
// does): a call of nap() starts between the program's two readings of
// time.monotonic_ns() around it and lasts as long as its sleep.
func TestTimestampsAreMonotonicNanoseconds(t *testing.T) {
	it := anyPython(t)
	src := `import time
def nap():
    time.sleep(0.05)
for i in range(3):
    a = time.monotonic_ns()
    nap()
    b = time.monotonic_ns()
    print(a, b, flush=True)
`
	for _, hook := range []string{"c", "python"} {
		t.Run(hook, func(t *testing.T) {
			var out syncBuffer
			s, err := Backend{}.NewFlow(sources.FlowConfig{Interpreter: it.Path, Script: script(t, src), Stdout: &out, Stderr: &out, PythonHook: hook == "python"})
			if err != nil {
				t.Fatal(err)
			}
			tr := tracer.NewTrace(0)
			if err := s.Run(context.Background(), tr); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			if hook == "c" && !strings.Contains(tr.Info().Mode, "C hook") {
				t.Skipf("no C hook here: %s", tr.Info().Note)
			}
			naps := findNodes(tr, "nap")
			lines := strings.Fields(out.String())
			if len(naps) != 3 || len(lines) != 6 {
				t.Fatalf("%d naps traced, output %q", len(naps), out.String())
			}
			for i, n := range naps {
				a, _ := strconv.ParseInt(lines[2*i], 10, 64)
				b, _ := strconv.ParseInt(lines[2*i+1], 10, 64)
				if n.Start < a || n.End > b {
					t.Errorf("nap %d traced over [%d, %d], outside the program's own readings [%d, %d]", i, n.Start, n.End, a, b)
				}
				if d := n.End - n.Start; d < 50_000_000 || d > b-a {
					t.Errorf("nap %d lasted %.2f ms by the trace; it slept 50 ms and took %.2f ms", i, float64(d)/1e6, float64(b-a)/1e6)
				}
			}
		})
	}
}
