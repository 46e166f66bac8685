package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"flowscape/sources/pyagent"
)

func TestAttachDialogListsAndFilters(t *testing.T) {
	u := newTestUI(t)
	old := listPythons
	t.Cleanup(func() { listPythons = old })
	listPythons = func(context.Context) ([]pyagent.Process, error) {
		return []pyagent.Process{
			{PID: 101, User: "ann", Version: "3.11.2", Command: "python3 server.py"},
			{PID: 202, User: "bob", Version: "3.12.1", Command: "python3 -m worker"},
		}, nil
	}
	u.flow.showAttachDialog()
	d := lastAttachDialog
	if d == nil {
		t.Fatal("no attach dialog")
	}
	if len(d.shown) != 2 {
		t.Fatalf("shown %d processes, want 2", len(d.shown))
	}
	test.Type(d.filter, "worker")
	if len(d.shown) != 1 || d.shown[0].PID != 202 {
		t.Fatalf("filter 'worker' shows %+v", d.shown)
	}
	d.list.Select(0)
	if d.pid.Text != "202" {
		t.Errorf("pid field %q, want 202", d.pid.Text)
	}
	d.pid.SetText("abc")
	d.attach()
	if !strings.Contains(u.status.Text, `"abc" is not a process id`) {
		t.Errorf("status %q", u.status.Text)
	}
}

// Attach from the window to a running program, pause, resume, detach: the
// program runs on.
func TestFlowTabAttachPauseDetach(t *testing.T) {
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("attaching needs root or kernel.yama.ptrace_scope=0")
	}
	u := newTestUI(t)
	prog := filepath.Join(t.TempDir(), "busy.py")
	src := "import time\ndef work(k):\n    return k + 1\nk = 0\nwhile True:\n    k = work(k)\n    time.sleep(0.001)\n"
	if err := os.WriteFile(prog, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	py := testInterpreters(t)[0].Path
	target := exec.Command(py, prog)
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	time.Sleep(300 * time.Millisecond)

	u.flow.attach(pyagent.AttachConfig{PID: target.Process.Pid}, false)
	waitStatus(t, u, "Attached to pid "+strconv.Itoa(target.Process.Pid))
	s := u.flow.session.Load()
	deadline := time.Now().Add(15 * time.Second)
	for funcCallsOf(s, "work") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no calls of work() after attaching")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fyne.DoAndWait(u.flow.onPause)
	waitStatus(t, u, "Paused")
	fyne.DoAndWait(u.flow.onPause)
	waitStatus(t, u, "Tracing again")
	fyne.DoAndWait(u.flow.stop)
	waitStatus(t, u, "Detached; the process runs on")
	if err := target.Process.Signal(nil); err != nil {
		// os.Process.Signal(nil) is not portable; check /proc instead
		if _, err := os.Stat("/proc/" + strconv.Itoa(target.Process.Pid)); err != nil {
			t.Fatal("the target died")
		}
	}
	var restart bool
	fyne.DoAndWait(func() { restart = !u.flow.restart.Disabled() })
	if !restart {
		t.Error("Restart should attach again")
	}
}

// flowscape trace --pid with each backend, against a real process.
func TestTracePidCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("attaching needs root")
	}
	py := "/usr/bin/python3.11"
	if _, err := os.Stat(py); err != nil {
		py = testInterpreters(t)[0].Path
	}
	prog := filepath.Join(t.TempDir(), "busy.py")
	src := "import time\ndef work(k):\n    return k + 1\nk = 0\nwhile True:\n    k = work(k)\n    time.sleep(0.001)\n"
	if err := os.WriteFile(prog, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	target := exec.Command(py, prog)
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	time.Sleep(300 * time.Millisecond)
	pid := strconv.Itoa(target.Process.Pid)

	if _, err := exec.LookPath("gdb"); err == nil {
		out := filepath.Join(t.TempDir(), "att.json")
		_, stderr, code := runCmd(t, "trace", "--pid", pid, "--duration", "1s", "-o", out)
		if code != 0 || !strings.Contains(stderr, "detached;") {
			t.Fatalf("trace --pid: %d: %s", code, stderr)
		}
		js, _, code := runCmd(t, "callgraph", "--format", "json", out)
		if code != 0 || !strings.Contains(js, `"function":"work"`) {
			t.Errorf("no calls of work in the attached trace: %.200s", js)
		}
	}

	_, stderr, code := runCmd(t, "trace", "--pid", pid, "--backend", "dtrace")
	if code != 1 || !strings.Contains(stderr, "not available on Linux") {
		t.Errorf("dtrace backend: %d: %s", code, stderr)
	}
	_, stderr, code = runCmd(t, "trace", "--pid", pid, "--backend", "nope")
	if code != 1 || !strings.Contains(stderr, `--backend "nope"`) {
		t.Errorf("bad backend: %d: %s", code, stderr)
	}
	if _, err := exec.LookPath("bpftrace"); err == nil && py == "/usr/bin/python3.11" {
		stdout, stderr, code := runCmd(t, "trace", "--pid", pid, "--backend", "usdt", "--duration", "2s")
		if code != 0 || !strings.Contains(stdout, "work (") || !strings.Contains(stderr, "gh-98894") {
			t.Errorf("usdt backend: %d: %s %s", code, stdout, stderr)
		}
	}
}
