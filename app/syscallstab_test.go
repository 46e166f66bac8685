package app

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"flowscape/sources/bpftrace"
	"flowscape/sources/procstat"
)

// newSyscallsTestTab builds the window on the test driver and returns its
// Syscalls tab, with updates delivered to the test's goroutine by wait.
func newSyscallsTestTab(t *testing.T) (*ui, *syscallsTab, chan struct{}) {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	u := newUI(w, guiOptions{noDemo: true, tab: "syscalls"})
	w.SetContent(u.content())
	w.Resize(fyne.NewSize(1280, 800))
	var s *syscallsTab
	for _, v := range u.views {
		if st, ok := v.view.(*syscallsTab); ok {
			s = st
		}
	}
	if s == nil {
		t.Fatal("no Syscalls tab in the window")
	}
	if got := u.tabs.Selected().Text; got != "Syscalls" {
		t.Fatalf("--tab syscalls opened on %q", got)
	}
	updates := make(chan struct{}, 1)
	s.notify = func() {
		select {
		case updates <- struct{}{}:
		default:
		}
	}
	t.Cleanup(s.stop)
	return u, s, updates
}

// waitView shows updates on the test's goroutine until ok says so, making
// syscalls meanwhile so that there is something to count.
func waitView(t *testing.T, s *syscallsTab, updates chan struct{}, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-updates:
			s.show()
			if ok() {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s; status %q", what, s.state.Text)
		case <-time.After(time.Millisecond):
			for i := 0; i < 50; i++ {
				_ = syscall.Getppid()
				_, _ = os.ReadFile("/proc/self/stat")
			}
		}
	}
}

func rowOfPID(s *syscallsTab, pid int) (string, bool) {
	for _, r := range s.rows {
		if r.PID == pid {
			return r.Key, true
		}
	}
	return "", false
}

func TestSyscallsTabFromProcIsPartialAndSaysSo(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skipf("skipped: no /proc/self/io: %v", err)
	}
	_, s, updates := newSyscallsTestTab(t)
	s.ivSel.SetSelected("250ms")
	s.sourceSel.SetSelected("proc")
	s.begin()
	me := os.Getpid()
	waitView(t, s, updates, "this process in the table", func() bool { _, ok := rowOfPID(s, me); return ok })
	if !s.badge.Visible() || !strings.Contains(s.badge.Text, "partial") {
		t.Errorf("badge %q (visible %v), want a partial badge", s.badge.Text, s.badge.Visible())
	}
	if !strings.Contains(s.state.Text, procstat.PartialReason) {
		t.Errorf("status %q does not say what is missing", s.state.Text)
	}
	key, _ := rowOfPID(s, me)
	s.bubbles.Select(key)
	s.selectKey(key)
	var names []string
	for _, r := range s.detail {
		names = append(names, r.Syscall)
	}
	if !strings.Contains(strings.Join(names, " "), procstat.ReadFamily) {
		t.Errorf("breakdown of this process = %v, want %s", names, procstat.ReadFamily)
	}
	if !strings.Contains(s.detailHead.Text, "CPU") {
		t.Errorf("detail %q does not show CPU and context switches", s.detailHead.Text)
	}

	s.togglePause()
	if s.pauseBtn.Text != "Resume" || !strings.Contains(s.state.Text, "Paused") {
		t.Errorf("after Pause: button %q, status %q", s.pauseBtn.Text, s.state.Text)
	}
	before := len(s.rows)
	s.togglePause()
	waitView(t, s, updates, "counting again", func() bool { return s.pauseBtn.Text == "Pause" && len(s.rows) > 0 })
	if before == 0 {
		t.Error("the table was emptied by the pause")
	}
}

func TestSyscallsTabCountsOnlyWhileShown(t *testing.T) {
	u, s, updates := newSyscallsTestTab(t)
	s.ivSel.SetSelected("250ms")
	s.sourceSel.SetSelected("proc")
	u.tabs.SelectIndex(0)
	s.tick()
	if s.started.Load() {
		t.Fatal("counting started with the tab hidden")
	}
	u.tabs.SelectIndex(slices.Index(tabNames, "syscalls"))
	s.tick()
	waitView(t, s, updates, "counting", func() bool { return len(s.rows) > 0 })
	u.tabs.SelectIndex(0)
	s.tick()
	if s.running || !strings.Contains(s.state.Text, "hidden") {
		t.Errorf("hidden: running %v, status %q", s.running, s.state.Text)
	}
	if len(s.rows) == 0 {
		t.Error("the rows were lost")
	}
	u.tabs.SelectIndex(slices.Index(tabNames, "syscalls"))
	s.tick()
	waitView(t, s, updates, "counting again", func() bool { return s.pauseBtn.Text == "Pause" && strings.Contains(s.state.Text, "/proc") })
}

func TestSyscallsTabFallsBackWithoutBpftrace(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skipf("skipped: no /proc/self/io: %v", err)
	}
	t.Setenv("PATH", t.TempDir()) // no bpftrace on it
	_, s, updates := newSyscallsTestTab(t)
	s.ivSel.SetSelected("250ms")
	s.begin()
	waitView(t, s, updates, "the fallback", func() bool { return s.badge.Visible() })
	if s.badge.Text != "partial: no bpftrace / not root" {
		t.Errorf("badge %q", s.badge.Text)
	}
	if !strings.Contains(s.state.Text, "bpftrace is not installed") {
		t.Errorf("status %q does not say why", s.state.Text)
	}
}

func TestSyscallsTabFallsBackWhenBpftraceCannotStart(t *testing.T) {
	fakeBpftrace(t)
	_, s, updates := newSyscallsTestTab(t)
	s.ivSel.SetSelected("250ms")
	s.begin()
	waitView(t, s, updates, "the fallback", func() bool { return s.badge.Visible() && len(s.rows) > 0 })
	if !strings.Contains(s.state.Text, "Operation not permitted") {
		t.Errorf("status %q does not say why", s.state.Text)
	}
	if s.pauseBtn.Text != "Pause" {
		t.Errorf("not counting: %q", s.pauseBtn.Text)
	}
}

func TestSyscallsTabWithBpftrace(t *testing.T) {
	if err := bpftrace.Trial(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	u, s, updates := newSyscallsTestTab(t)
	s.ivSel.SetSelected("250ms")
	s.begin()
	me := os.Getpid()
	waitView(t, s, updates, "this process in the table", func() bool { _, ok := rowOfPID(s, me); return ok })
	if s.badge.Visible() {
		t.Errorf("badge %q shown with bpftrace", s.badge.Text)
	}
	key, _ := rowOfPID(s, me)
	s.bubbles.Select(key)
	s.selectKey(key)
	waitView(t, s, updates, "getppid in the breakdown", func() bool {
		for _, r := range s.detail {
			if r.Syscall == "getppid" && len(r.History) >= 2 {
				return true
			}
		}
		return false
	})

	// bpftrace dies: the tab says so, offers Restart and keeps the rows.
	pid := childNamed(t, "bpftrace")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitView(t, s, updates, "the stop to be reported", func() bool { return strings.Contains(s.state.Text, "stopped") })
	if s.restartBtn.Disabled() {
		t.Error("Restart is not offered")
	}
	if _, ok := rowOfPID(s, me); !ok {
		t.Error("the rows counted before are gone")
	}
	if !strings.Contains(u.status.Text, "stopped") {
		t.Errorf("status bar %q", u.status.Text)
	}
	s.restart(false)
	waitView(t, s, updates, "counting again", func() bool { return s.restartBtn.Disabled() && s.pauseBtn.Text == "Pause" })

	// Per syscall: one bubble per syscall; a click lists who makes it.
	s.bySel.SetSelected("per syscall")
	waitView(t, s, updates, "syscall rows", func() bool {
		for _, r := range s.rows {
			if r.Syscall == "getppid" {
				return true
			}
		}
		return false
	})
	s.selectKey("sys:getppid")
	found := false
	for _, r := range s.detail {
		if r.PID == me {
			found = true
		}
	}
	if !found {
		t.Errorf("this process is not among getppid's callers: %v", s.detail)
	}
}

// childNamed finds a child process of this test with the given name.
func childNamed(t *testing.T, name string) int {
	t.Helper()
	me := strconv.Itoa(os.Getpid())
	for i := 0; i < 100; i++ {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			st := string(data)
			end := strings.LastIndexByte(st, ')')
			if end < 0 || !strings.Contains(st[:end], "("+name) {
				continue
			}
			if f := strings.Fields(st[end+1:]); len(f) > 2 && f[1] == me {
				pid, _ := strconv.Atoi(e.Name())
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no child %s found", name)
	return 0
}
