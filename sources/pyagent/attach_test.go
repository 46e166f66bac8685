package pyagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flowscape/tracer"
)

// canAttach skips where no injector works or ptrace is not allowed.
func canAttach(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil && !nativeInject {
		t.Skip("gdb is not installed (apt-get install gdb)")
	}
	if os.Geteuid() != 0 && ptraceScope() != "0" {
		t.Skipf("attaching needs root or kernel.yama.ptrace_scope=0 (it is %s)", ptraceScope())
	}
}

// busyTarget is a program with a main thread and two workers that call
// work() in loops; each thread prints a line per 200 calls.
const busyTarget = `import sys, threading, time
def work(n):
    s = 0
    for i in range(n):
        s += i
    return s
def hooked():
    # the C hook shows in sys.getprofile() of each thread it is set in;
    # sys.monitoring tools are process-wide
    if sys.getprofile() is not None:
        return True
    mon = getattr(sys, "monitoring", None)
    return mon is not None and any(mon.get_tool(t) == "flowscape" for t in range(6))
def worker(name):
    k = 0
    while True:
        work(300)
        k += 1
        if k % 200 == 0:
            # one write per line: print's pieces from several threads mix
            sys.stdout.write("%s %d %s\n" % (name, k, hooked()))
            sys.stdout.flush()
        time.sleep(0.0005)
for i in range(2):
    threading.Thread(target=worker, args=("w%d" % i,), name="worker-%d" % i, daemon=True).start()
print("ready", flush=True)
worker("main")
`

// target starts prog with py and returns it once it printed "ready", and a
// counter of the lines it printed since.
type target struct {
	cmd   *exec.Cmd
	lines atomic.Int64

	mu     sync.Mutex
	hooked map[string]string // thread name → "True"/"False", from its last line
}

// hookState is what each thread said last about being hooked, after
// clearing what they said before.
func (tg *target) hookState(t *testing.T, after time.Duration) map[string]string {
	t.Helper()
	tg.mu.Lock()
	tg.hooked = map[string]string{}
	tg.mu.Unlock()
	time.Sleep(after)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := map[string]string{}
	for k, v := range tg.hooked {
		out[k] = v
	}
	return out
}

func startTarget(t *testing.T, py, src string) *target {
	t.Helper()
	cmd := exec.Command(py, script(t, src))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tg := &target{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first && sc.Text() == "ready" {
				first = false
				close(ready)
				continue
			}
			tg.lines.Add(1)
			if f := strings.Fields(sc.Text()); len(f) == 3 && (f[2] == "True" || f[2] == "False") {
				tg.mu.Lock()
				if tg.hooked != nil {
					tg.hooked[f[0]] = f[2]
				}
				tg.mu.Unlock()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the target did not start")
	}
	return tg
}

// producing fails the test unless the target prints more lines within d.
func (tg *target) producing(t *testing.T, d time.Duration) {
	t.Helper()
	before := tg.lines.Load()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if tg.lines.Load() > before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the target printed nothing for %s", d)
}

// attachFor attaches to pid, traces until the trace has events from want
// threads (or 15 s), detaches and returns the trace.
func attachFor(t *testing.T, pid int, want int, injector string) *tracer.Trace {
	t.Helper()
	return attachWhile(t, pid, want, injector, nil)
}

// injectors are the injectors to test here: the native one (where the
// platform has it) and gdb (where it is installed).
func injectors(t *testing.T) []string {
	var out []string
	if nativeInject {
		out = append(out, "native")
	}
	if _, err := exec.LookPath("gdb"); err == nil {
		out = append(out, "gdb")
	}
	if len(out) == 0 {
		t.Skip("no injector: gdb is not installed")
	}
	return out
}

// attachWhile is attachFor that calls during (when not nil) while attached,
// once events came from want threads.
func attachWhile(t *testing.T, pid int, want int, injector string, during func()) *tracer.Trace {
	t.Helper()
	a, err := NewAttacher(context.Background(), AttachConfig{PID: pid, Injector: injector})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracer.NewTrace(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, tr) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && threadsWithCalls(tr) < want {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("attach ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if during != nil {
		during()
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("detach: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("detach hung")
	}
	return tr
}

func threadsWithCalls(tr *tracer.Trace) int {
	n := 0
	for _, th := range tr.Threads() {
		if g := tr.CallgraphThread(th.TID); len(g.Nodes) > 0 {
			for _, nd := range g.Nodes {
				if nd.Frame.Func == "work" && nd.Calls > 0 {
					n++
					break
				}
			}
		}
	}
	return n
}

// On every Python here, with each injector: attach to a busy three-thread
// program, see calls from every thread, detach, and the program runs on.
func TestAttachAllThreadsAndDetach(t *testing.T) {
	canAttach(t)
	for _, it := range allPythons(t) {
		for _, inj := range injectors(t) {
			t.Run(it.Version+"/"+inj, func(t *testing.T) {
				tg := startTarget(t, it.Path, busyTarget)
				tr := attachWhile(t, tg.cmd.Process.Pid, 3, inj, func() {
					// while attached every thread is hooked
					state := tg.hookState(t, time.Second)
					for _, name := range []string{"main", "w0", "w1"} {
						if state[name] != "True" {
							t.Errorf("attached, thread %s says hooked=%q", name, state[name])
						}
					}
				})
				if got := threadsWithCalls(tr); got != 3 {
					t.Errorf("calls of work() from %d threads, want 3", got)
				}
				if info := tr.Info(); info.PID != tg.cmd.Process.Pid || info.Mode == "" {
					t.Errorf("process info %+v", info)
				}
				tg.producing(t, 5*time.Second)
				// every thread runs on unhooked
				state := tg.hookState(t, 2*time.Second)
				for _, name := range []string{"main", "w0", "w1"} {
					if state[name] != "False" {
						t.Errorf("after detach, thread %s says hooked=%q", name, state[name])
					}
				}
			})
		}
	}
}

// Twenty attach/detach cycles on one target with each injector: no hang,
// and it runs on.
func TestAttachDetachCycles(t *testing.T) {
	canAttach(t)
	it := anyPython(t)
	for _, inj := range injectors(t) {
		t.Run(inj, func(t *testing.T) {
			tg := startTarget(t, it.Path, busyTarget)
			for i := range 20 {
				tr := attachFor(t, tg.cmd.Process.Pid, 1, inj)
				if threadsWithCalls(tr) == 0 {
					t.Fatalf("cycle %d: no calls recorded", i)
				}
			}
			tg.producing(t, 5*time.Second)
		})
	}
}

// stateTarget's main thread checks, over and over, a floating-point sum
// computed in C (its vector registers live while the injector interrupts
// it), short sleeps (system calls interrupted and restarted) and reads of
// a pipe a worker fills: it prints "bad ..." on any wrong answer.
const stateTarget = `import math, os, threading, time
vals = [i * 0.37 for i in range(2000)]
want = math.fsum(vals)
r, w = os.pipe()
def feeder():
    while True:
        os.write(w, b"0123456789")
        time.sleep(0.0003)
def work():
    return math.fsum(vals)
threading.Thread(target=feeder, daemon=True).start()
print("ready", flush=True)
k = 0
while True:
    if work() != want or sum(x * 2.0 for x in vals[:50]) != 2.0 * sum(vals[:50]):
        print("bad sum", k, flush=True)
    t0 = time.monotonic()
    time.sleep(0.0002)
    if time.monotonic() - t0 < 0.0002:
        print("bad sleep", k, flush=True)
    if len(os.read(r, 10)) == 0:
        print("bad read", k, flush=True)
    k += 1
    if k % 500 == 0:
        print("ok", k, flush=True)
`

// The injector puts the main thread back exactly as it was: registers,
// vector registers and interrupted system calls. Thirty attach/detach
// cycles, and the program's own checks never fail.
func TestAttachKeepsTheTargetsState(t *testing.T) {
	canAttach(t)
	it := anyPython(t)
	for _, inj := range injectors(t) {
		t.Run(inj, func(t *testing.T) {
			var out syncBuffer
			cmd := exec.Command(it.Path, script(t, stateTarget))
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			for !strings.Contains(out.String(), "ready") {
				time.Sleep(10 * time.Millisecond)
			}
			cycles := 30
			if inj == "gdb" {
				cycles = 5 // gdb takes ≈ 0.3 s a cycle
			}
			for range cycles {
				attachFor(t, cmd.Process.Pid, 1, inj)
			}
			n := strings.Count(out.String(), "ok")
			deadline := time.Now().Add(5 * time.Second)
			for strings.Count(out.String(), "ok") == n && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			text := out.String()
			if strings.Count(text, "ok") == n {
				t.Errorf("the target stopped making progress after %d cycles: %s", cycles, lastLines(text, 5))
			}
			if strings.Contains(text, "bad") {
				t.Errorf("the target saw wrong results: %s", lastLines(text, 5))
			}
		})
	}
}

func TestAttachBadTargets(t *testing.T) {
	canAttach(t)
	it := anyPython(t)

	_, err := NewAttacher(context.Background(), AttachConfig{PID: 999999999})
	if err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("missing pid: %v", err)
	}
	_, err = NewAttacher(context.Background(), AttachConfig{PID: os.Getpid()})
	if err == nil || !strings.Contains(err.Error(), "Flowscape itself") {
		t.Errorf("own pid: %v", err)
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	_, err = NewAttacher(context.Background(), AttachConfig{PID: sleeper.Process.Pid})
	if err == nil || !strings.Contains(err.Error(), "not a Python interpreter") {
		t.Errorf("not Python: %v", err)
	}

	// twice at once: the second is refused
	tg := startTarget(t, it.Path, busyTarget)
	a1, err := NewAttacher(context.Background(), AttachConfig{PID: tg.cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	tr := tracer.NewTrace(0)
	go func() { done <- a1.Run(ctx, tr) }()
	for tr.Info().PID == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	a2, err := NewAttacher(context.Background(), AttachConfig{PID: tg.cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.Run(context.Background(), tracer.NewTrace(0)); !errors.Is(err, ErrAlreadyAttached) {
		t.Errorf("second attach: %v, want ErrAlreadyAttached", err)
	}
	cancel()
	<-done
	tg.producing(t, 5*time.Second)
}

// A main thread blocked in join() runs no bytecode: the attach times out
// with a reason, and the target is not left hooked or stopped.
func TestAttachMainThreadBlocked(t *testing.T) {
	canAttach(t)
	it := anyPython(t)
	src := `import threading, time
def tick(k):
    return k + 1
def worker():
    k = 0
    while True:
        k = tick(k)
        if k % 50 == 0:
            print("w", k, flush=True)
        time.sleep(0.002)
t = threading.Thread(target=worker, daemon=True)
t.start()
print("ready", flush=True)
t.join()
`
	tg := startTarget(t, it.Path, src)
	a, err := NewAttacher(context.Background(), AttachConfig{PID: tg.cmd.Process.Pid, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background(), tracer.NewTrace(0))
	if !errors.Is(err, ErrNotRunningBytecode) {
		t.Fatalf("err = %v, want ErrNotRunningBytecode", err)
	}
	tg.producing(t, 5*time.Second)
}

// A target that exits while traced: what was collected stays.
func TestAttachTargetExits(t *testing.T) {
	canAttach(t)
	it := anyPython(t)
	src := `import time
def tick(k):
    return k + 1
print("ready", flush=True)
k = 0
end = time.time() + 6  # long enough for gdb on a loaded machine
while time.time() < end:
    k = tick(k)
    time.sleep(0.001)
`
	tg := startTarget(t, it.Path, src)
	a, err := NewAttacher(context.Background(), AttachConfig{PID: tg.cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracer.NewTrace(0)
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background(), tr) }()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "exited") {
			t.Errorf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attach did not end with the target")
	}
	if funcCalls(tr, "tick") == 0 {
		t.Error("no calls of tick() kept")
	}
}

// Pause removes the hooks without detaching; Resume sets them again.
func TestAttachPauseResume(t *testing.T) {
	canAttach(t)
	for _, it := range allPythons(t) {
		if it.Minor != 11 && it.Minor != 13 { // one setprofile, one sys.monitoring
			continue
		}
		t.Run(it.Version, func(t *testing.T) {
			tg := startTarget(t, it.Path, busyTarget)
			a, err := NewAttacher(context.Background(), AttachConfig{PID: tg.cmd.Process.Pid})
			if err != nil {
				t.Fatal(err)
			}
			tr := tracer.NewTrace(0)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx, tr) }()
			defer func() { cancel(); <-done }()
			waitFor := func(what string, cond func() bool) {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for !cond() {
					if time.Now().After(deadline) {
						t.Fatalf("timed out waiting for %s", what)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waitFor("calls", func() bool { return funcCalls(tr, "work") > 0 })
			if err := a.Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // the pause and the last flush
			paused := funcCalls(tr, "work")
			time.Sleep(500 * time.Millisecond)
			if got := funcCalls(tr, "work"); got != paused {
				t.Errorf("calls went on while paused: %d → %d", paused, got)
			}
			if err := a.Resume(); err != nil {
				t.Fatal(err)
			}
			waitFor("calls after resume", func() bool { return funcCalls(tr, "work") > paused })
			// names stay right across the pause: no frame renumbered
			for _, f := range tr.FrameList() {
				if strings.HasPrefix(f.Func, "<frame") {
					t.Errorf("unannounced frame %d", f.ID)
				}
			}
		})
	}
}

// A process this user may not ptrace (here: not dumpable, attached by
// nobody): the attach fails with a message that says what to do, and the
// process runs on.
func TestAttachDeniedSaysWhy(t *testing.T) {
	if pid := os.Getenv("FLOWSCAPE_TEST_DENIED_PID"); pid != "" {
		// the child, run as nobody: try, and print what it says
		n, _ := strconv.Atoi(pid)
		a, err := NewAttacher(context.Background(), AttachConfig{PID: n, Timeout: 2 * time.Second})
		if err == nil {
			err = a.Run(context.Background(), tracer.NewTrace(0))
		}
		fmt.Printf("ERROR: %v\n", err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the target and the attacher as nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (util-linux)")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3 that nobody may run")
	}
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} { // nobody must reach it
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// PR_SET_DUMPABLE 0: only a process with CAP_SYS_PTRACE may trace it
	target := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", py, "-c",
		`import ctypes, sys, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
def tick(): time.sleep(0.01)
print("ready", flush=True)
while True:
    tick()
`)
	var tout syncBuffer
	target.Stdout, target.Stderr = &tout, &tout
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	for !strings.Contains(tout.String(), "ready") {
		time.Sleep(10 * time.Millisecond)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "pyagent.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "TMPDIR="+tmp, "HOME=/nonexistent", "FLOWSCAPE_TEST_DENIED_PID="+strconv.Itoa(target.Process.Pid),
		bin, "-test.run", "^TestAttachDeniedSaysWhy$", "-test.count=1")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"ptrace was denied", "CAP_SYS_PTRACE", "kernel.yama.ptrace_scope"} {
		if !strings.Contains(text, want) {
			t.Errorf("the message does not say %q: %s", want, lastLines(text, 3))
		}
	}
	if syscall.Kill(target.Process.Pid, 0) != nil {
		t.Fatal("the target died")
	}
}

// A process another tracer holds (strace here, gdb or a debugger alike):
// refused with a message naming it, and the process runs on.
func TestAttachAlreadyTracedByAnother(t *testing.T) {
	canAttach(t)
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	it := anyPython(t)
	tg := startTarget(t, it.Path, busyTarget)
	st := exec.Command(strace, "-f", "-qq", "-e", "trace=none", "-p", strconv.Itoa(tg.cmd.Process.Pid))
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Process.Kill(); _ = st.Wait() }()
	for tracerOf(tg.cmd.Process.Pid) == "" {
		time.Sleep(10 * time.Millisecond)
	}
	_, err = NewAttacher(context.Background(), AttachConfig{PID: tg.cmd.Process.Pid})
	if err == nil || !strings.Contains(err.Error(), "(strace)") {
		t.Errorf("err = %v, want it to name strace", err)
	}
	tg.producing(t, 5*time.Second)
}
