package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// newTestUI builds the window on the test driver, with no demo, and the
// interpreters of this machine.
func newTestUI(t *testing.T) *ui {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	u := newUI(w, guiOptions{noDemo: true, tab: "flow"})
	w.SetContent(u.content())
	w.Resize(fyne.NewSize(1200, 800))
	u.flow.setInterpreters(testInterpreters(t), "")
	// The test driver runs fyne.Do callbacks on the calling goroutine: keep
	// all UI work on the test's goroutine.
	u.flow.async = func(fn func()) { fn() }
	t.Cleanup(u.flow.stop)
	return u
}

// waitStatus ticks the refresh loop until the status bar says want.
func waitStatus(t *testing.T, u *ui, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		u.flow.tick()
		var got string
		fyne.DoAndWait(func() { got = u.status.Text })
		if strings.Contains(got, want) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("status never said %q; it says %q", want, u.status.Text)
	return ""
}

func TestFlowTabTracesAProgram(t *testing.T) {
	u := newTestUI(t)
	prog := filepath.Join(t.TempDir(), "prog.py")
	src := "import sys\ndef hello(n):\n    print('hello', n)\nfor i in range(3):\n    hello(i)\nsys.exit(3)\n"
	if err := os.WriteFile(prog, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	u.flow.script.SetText(prog)
	u.flow.onStart()
	got := waitStatus(t, u, "exited with status 3")
	if !strings.Contains(got, "events kept") {
		t.Errorf("status %q does not say what was kept", got)
	}
	s := u.flow.session.Load()
	if n := funcCallsOf(s, "hello"); n != 3 {
		t.Errorf("hello traced %d times, want 3", n)
	}
	fyne.DoAndWait(func() {
		lines := u.flow.console.Lines()
		if len(lines) != 3 || lines[2] != "hello 2" {
			t.Errorf("console = %q", lines)
		}
		if u.flow.start.Disabled() || !u.flow.stopBtn.Disabled() {
			t.Error("Start should be enabled and Stop disabled after the end")
		}
		// the stats say how the calls were captured
		if mode := s.Trace.Info().Mode; mode == "" || !strings.Contains(u.stats.Text, mode) {
			t.Errorf("stats %q do not say the mode %q", u.stats.Text, mode)
		}
	})
}

func TestFlowTabStopKeepsWhatWasCollected(t *testing.T) {
	u := newTestUI(t)
	prog := filepath.Join(t.TempDir(), "loop.py")
	src := "import time\ndef tick():\n    time.sleep(0.005)\nwhile True:\n    tick()\n"
	if err := os.WriteFile(prog, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	u.flow.script.SetText(prog)
	u.flow.onStart()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := u.flow.session.Load(); s != nil && funcCallsOf(s, "tick") >= 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := u.flow.session.Load()
	if s == nil || funcCallsOf(s, "tick") < 5 {
		t.Fatal("the tree did not grow while the program ran")
	}
	fyne.DoAndWait(u.flow.stop)
	waitStatus(t, u, "Stopped;")
	if n := funcCallsOf(s, "tick"); n < 5 {
		t.Errorf("after Stop the trace has %d calls of tick", n)
	}
}

func TestFlowTabBadInput(t *testing.T) {
	u := newTestUI(t)
	u.flow.script.SetText("/nonexistent/prog.py")
	u.flow.onStart()
	waitStatus(t, u, "Cannot start: script /nonexistent/prog.py")

	// A source file that is gone when double-clicked: a message, no crash.
	bin := filepath.Join(t.TempDir(), "blob.py")
	if err := os.WriteFile(bin, []byte("\x00\x01binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	var note string
	fyne.DoAndWait(func() { u.flow.openSource(nodeAt("/nonexistent/gone.py", 3)) })
	waitStatus(t, u, "no longer exists")
	fyne.DoAndWait(func() { u.flow.openSource(nodeAt(bin, 1)) })
	waitStatus(t, u, "binary file")
	fyne.DoAndWait(func() { note = u.flow.source.Note() })
	if !strings.Contains(note, "binary file") {
		t.Errorf("source view note = %q", note)
	}
}
