package app

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/sources"
	"flowscape/sources/bpftrace"
	"flowscape/sources/procstat"
	"flowscape/tracer/syscalls"
	"flowscape/widgets"
)

// syscallsTop is how many rows the bubbles and the table show; the rest
// are summed as "other".
const syscallsTop = 30

// syscallIntervals are the intervals offered.
var syscallIntervals = []string{"250ms", "500ms", "1s", "2s", "5s"}

// syscallsTab is the Syscalls tab: one bubble per process (or syscall),
// its area the syscall rate, a sorted table beside it and the selected
// process's per-syscall breakdown with sparklines.
type syscallsTab struct {
	u *ui

	// started is set once the tab was first shown and counting began.
	started atomic.Bool

	// mu guards the run state and the latest view, shared by the source's
	// goroutine and the UI goroutine.
	mu      sync.Mutex
	model   *syscalls.Model
	cancel  context.CancelFunc
	gen     int // run generation: a run that ended late does not touch a newer one
	running bool
	// hiddenPause says counting stopped because the tab was hidden.
	hiddenPause bool
	source      string // auto, bpftrace, dtrace, proc
	interval    time.Duration
	by          syscalls.By
	selKey      string // selected row key
	selPID      int
	selSys      string
	view        syscallsView
	refresh     refresher
	// notify asks for show on the UI goroutine (tests replace it).
	notify func()

	// UI objects (UI goroutine only).
	bubbles    *widgets.Bubbles
	table      *widget.Table
	rows       []syscalls.Row
	detailHead *widget.Label
	detailLine *widgets.Sparkline
	detailList *widget.List
	detail     []syscalls.Row
	badge      *widget.Label
	state      *widget.Label
	sourceSel  *widget.Select
	bySel      *widget.RadioGroup
	ivSel      *widget.Select
	pauseBtn   *widget.Button
	restartBtn *widget.Button
}

// detailHint is shown when nothing is selected.
const detailHint = "Click a bubble or a row: a process for its syscalls, a syscall for the processes making it."

// syscallsView is what the source goroutine prepares for the UI.
type syscallsView struct {
	snap      syscalls.Snapshot
	breakdown []syscalls.Row
	sel       syscalls.Row
	hasSel    bool
	partial   bool
	why       string // why the view is partial
	status    string
	isErr     bool
	running   bool
}

func newSyscallsTab(u *ui) *syscallsTab {
	s := &syscallsTab{u: u, model: syscalls.New(syscalls.Options{}), source: "auto", interval: 500 * time.Millisecond}
	s.refresh.fn = s.show
	s.notify = s.refresh.ask
	s.bubbles = widgets.NewBubbles()
	s.bubbles.OnTapped = s.selectKey
	s.table = widget.NewTable(
		func() (int, int) { return len(s.rows) + 1, 5 },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		s.updateCell,
	)
	for col, w := range []float32{190, 80, 80, 90, 110} {
		s.table.SetColumnWidth(col, w)
	}
	s.table.OnSelected = func(id widget.TableCellID) {
		if id.Row >= 1 && id.Row <= len(s.rows) {
			key := s.rows[id.Row-1].Key
			s.bubbles.Select(key)
			s.selectKey(key)
		}
		s.table.UnselectAll()
	}
	s.detailHead = widget.NewLabel(detailHint)
	s.detailHead.Wrapping = fyne.TextWrapWord
	s.detailLine = widgets.NewSparkline()
	s.detailList = widget.NewList(
		func() int { return len(s.detail) },
		func() fyne.CanvasObject {
			name := widget.NewLabel("")
			name.Truncation = fyne.TextTruncateEllipsis
			rate := widget.NewLabel("")
			rate.Alignment = fyne.TextAlignTrailing
			line := widgets.NewSparkline()
			return container.NewGridWithColumns(3, name, rate, line)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i >= len(s.detail) {
				return
			}
			r := s.detail[i]
			g := o.(*fyne.Container)
			// A process's syscalls, or a syscall's processes.
			name, colour := r.Syscall, r.Syscall
			if name == "" {
				name, colour = r.Label(), r.Comm
			}
			g.Objects[0].(*widget.Label).SetText(name)
			g.Objects[1].(*widget.Label).SetText(fmt.Sprintf("%s/s  %s", humanCount(r.Rate), humanCount(float64(r.Total))))
			g.Objects[2].(*widgets.Sparkline).SetValues(r.History, widgets.ColorFor(colour))
		},
	)
	s.badge = widget.NewLabel("")
	s.badge.Importance = widget.WarningImportance
	s.badge.Hide()
	s.state = widget.NewLabel("Counting starts when this tab is shown.")
	s.state.Wrapping = fyne.TextWrapWord
	s.sourceSel = widget.NewSelect([]string{"auto", "bpftrace", "proc", "dtrace"}, func(v string) {
		s.mu.Lock()
		changed := v != s.source
		s.source = v
		s.mu.Unlock()
		if changed && s.started.Load() {
			s.restart(true)
		}
	})
	s.sourceSel.Selected = "auto"
	s.bySel = widget.NewRadioGroup([]string{"per process", "per syscall"}, func(v string) {
		s.mu.Lock()
		s.by = syscalls.ByProcess
		if v == "per syscall" {
			s.by = syscalls.BySyscall
		}
		s.selKey = ""
		s.prepareLocked()
		s.mu.Unlock()
		s.bubbles.Select("")
		s.show()
	})
	s.bySel.Horizontal = true
	s.bySel.Required = true
	s.bySel.Selected = "per process"
	s.ivSel = widget.NewSelect(syscallIntervals, func(v string) {
		d, err := time.ParseDuration(v)
		if err != nil {
			return
		}
		s.mu.Lock()
		changed := d != s.interval
		s.interval = d
		s.mu.Unlock()
		if changed && s.started.Load() {
			s.restart(false)
		}
	})
	s.ivSel.Selected = "500ms"
	s.pauseBtn = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), s.togglePause)
	s.restartBtn = widget.NewButtonWithIcon("Restart", theme.MediaReplayIcon(), func() { s.restart(false) })
	s.restartBtn.Disable()
	return s
}

func (s *syscallsTab) content() fyne.CanvasObject {
	bar := container.NewHBox(
		widget.NewLabel("Source"), s.sourceSel, s.bySel,
		widget.NewLabel("every"), s.ivSel, s.pauseBtn, s.restartBtn, s.badge,
	)
	toolbar := container.NewVBox(bar, s.state)
	detail := container.NewBorder(
		container.NewVBox(s.detailHead, container.NewGridWrap(fyne.NewSize(260, 40), s.detailLine)),
		nil, nil, nil, s.detailList)
	right := container.NewVSplit(s.table, detail)
	right.Offset = 0.55
	split := container.NewHSplit(s.bubbles, right)
	split.Offset = 0.55
	return container.NewBorder(toolbar, nil, nil, nil, split)
}

// tick starts counting the first time the tab is on screen, and stops
// counting while the tab is hidden (counting slows every process on the
// machine a little), starting again when it is shown. Off the UI goroutine.
func (s *syscallsTab) tick() {
	fyne.Do(func() {
		if s.u.tabs == nil {
			return
		}
		sel := s.u.tabs.Selected()
		shown := sel != nil && sel.Text == "Syscalls"
		if !s.started.Load() {
			if shown {
				s.begin()
			}
			return
		}
		s.mu.Lock()
		running, hidden := s.running, s.hiddenPause
		s.mu.Unlock()
		switch {
		case !shown && running:
			s.stop()
			s.mu.Lock()
			s.running, s.hiddenPause, s.view.running = false, true, false
			s.view.status, s.view.isErr = "Not counting while this tab is hidden; what was counted stays.", false
			s.mu.Unlock()
			s.show()
		case shown && hidden:
			s.mu.Lock()
			s.hiddenPause = false
			s.mu.Unlock()
			s.restart(false)
		}
	})
}

// begin starts counting. Call on the UI goroutine.
func (s *syscallsTab) begin() {
	if s.started.Swap(true) {
		return
	}
	s.restart(false)
}

func (s *syscallsTab) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

func (s *syscallsTab) togglePause() {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		s.stop()
		s.mu.Lock()
		s.running = false
		s.view.running = false
		s.view.status = "Paused: nothing is counted; what was counted stays."
		s.view.isErr = false
		s.mu.Unlock()
		s.show()
		return
	}
	s.restart(false)
}

// restart stops the source (if any) and starts it again with the current
// settings; reset forgets what was counted (a different source counts
// different things).
func (s *syscallsTab) restart(reset bool) {
	s.stop()
	s.mu.Lock()
	if reset {
		s.model = syscalls.New(syscalls.Options{})
		s.selKey = ""
	}
	s.gen++
	gen, want, interval, model := s.gen, s.source, s.interval, s.model
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.running = true
	s.view.running = true
	s.mu.Unlock()
	go s.run(ctx, gen, want, interval, model)
}

// run picks the source and counts until ctx ends or the source fails. Off
// the UI goroutine.
func (s *syscallsTab) run(ctx context.Context, gen int, want string, interval time.Duration, model *syscalls.Model) {
	ch, err := pickSyscallSource(want)
	var src sources.SyscallSource
	if err == nil {
		src, err = ch.backend.NewSyscalls(sources.SyscallConfig{Interval: interval})
	}
	if err != nil && want != "proc" && want != "auto" {
		// The source asked for cannot run: say why and fall back.
		ch, err = pickSyscallSource("proc")
		if err == nil {
			ch.fallback = fmt.Sprintf("%s cannot run here", want)
			src, err = ch.backend.NewSyscalls(sources.SyscallConfig{Interval: interval})
		}
	}
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		return
	}
	if err != nil {
		s.running, s.view.running = false, false
		s.view.status, s.view.isErr = "Syscall counting cannot start: "+err.Error(), true
		s.mu.Unlock()
		s.notify()
		return
	}
	s.view.partial = ch.backend.Partial()
	s.view.why = ""
	switch {
	case ch.fallback != "":
		s.view.why = ch.fallback
		s.view.status = fmt.Sprintf("Counting from /proc: %s. Run as root with bpftrace installed to count every syscall.", ch.fallback)
	case s.view.partial:
		s.view.why = "chosen"
		s.view.status = "Counting from /proc (" + procstat.PartialReason + ")."
	default:
		s.view.status = fmt.Sprintf("Starting %s: compiling and attaching its probe; the first counts come two intervals after that…", ch.name)
	}
	s.view.isErr = false
	s.mu.Unlock()
	s.notify()

	first := true
	sink := syscalls.SinkFunc(func(iv syscalls.Interval) {
		model.Interval(iv)
		s.mu.Lock()
		if gen == s.gen {
			s.prepareLocked()
			if first && !s.view.partial {
				s.view.status = fmt.Sprintf("Counting every syscall of every process with %s, every %v.", ch.name, interval)
			}
		}
		first = false
		s.mu.Unlock()
		s.notify()
	})
	err = src.Run(ctx, sink)
	if errors.Is(err, bpftrace.ErrNotStarted) && want == "auto" && ctx.Err() == nil {
		// bpftrace is there but cannot count here: go on from /proc.
		why := err.Error()
		if ch, err = pickSyscallSource("proc"); err == nil {
			src, err = ch.backend.NewSyscalls(sources.SyscallConfig{Interval: interval})
		}
		if err == nil {
			s.mu.Lock()
			s.view.partial, s.view.why, s.view.isErr = true, why, false
			s.view.status = fmt.Sprintf("Counting from /proc: %s. Run as root with bpftrace installed to count every syscall.", why)
			s.mu.Unlock()
			s.notify()
			err = src.Run(ctx, sink)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || ctx.Err() != nil {
		return // stopped on purpose
	}
	s.running, s.view.running = false, false
	if err == nil {
		err = errors.New("it stopped")
	}
	s.view.status = fmt.Sprintf("The %s source stopped: %v. What was counted stays; press Restart to count again.", ch.name, err)
	s.view.isErr = true
	s.notify()
}

// prepareLocked takes the snapshot the UI will show. Call with mu held.
func (s *syscallsTab) prepareLocked() {
	s.view.snap = s.model.Top(s.by, syscallsTop)
	s.view.breakdown, s.view.hasSel = nil, false
	if s.selKey == "" {
		return
	}
	for _, r := range s.view.snap.Rows {
		if r.Key == s.selKey {
			s.view.sel, s.view.hasSel = r, true
		}
	}
	switch {
	case !s.view.hasSel:
	case s.by == syscalls.ByProcess:
		s.view.breakdown, _ = s.model.Breakdown(s.selPID)
	default:
		s.view.breakdown = s.model.Callers(s.selSys)
	}
}

// selectKey shows the breakdown of the row with key. UI goroutine.
func (s *syscallsTab) selectKey(key string) {
	s.mu.Lock()
	s.selKey = key
	for _, r := range s.view.snap.Rows {
		if r.Key == key {
			s.selPID, s.selSys = r.PID, r.Syscall
		}
	}
	s.prepareLocked()
	s.mu.Unlock()
	s.show()
}

// show puts the latest view on screen. UI goroutine.
func (s *syscallsTab) show() {
	s.mu.Lock()
	v := s.view
	by := s.by
	s.mu.Unlock()

	if v.partial {
		s.badge.SetText("partial: no bpftrace / not root")
		if v.why == "chosen" {
			s.badge.SetText("partial: /proc counts only")
		}
		s.badge.Show()
	} else {
		s.badge.Hide()
	}
	s.state.SetText(v.status)
	if v.isErr {
		s.state.Importance = widget.DangerImportance
		s.u.setStatus(v.status, true)
	} else {
		s.state.Importance = widget.MediumImportance
	}
	s.state.Refresh()
	if v.running {
		s.pauseBtn.SetText("Pause")
		s.pauseBtn.SetIcon(theme.MediaPauseIcon())
		s.restartBtn.Disable()
	} else {
		s.pauseBtn.SetText("Resume")
		s.pauseBtn.SetIcon(theme.MediaPlayIcon())
		s.restartBtn.Enable()
	}

	items := make([]widgets.Bubble, 0, len(v.snap.Rows))
	for _, r := range v.snap.Rows {
		name := r.Comm
		if by == syscalls.BySyscall {
			name = r.Syscall
		}
		var c color.Color = widgets.ColorFor(name)
		if r.Key == syscalls.OtherName || r.Syscall == syscalls.OtherName {
			c = theme.Color(theme.ColorNameDisabled)
		}
		items = append(items, widgets.Bubble{Key: r.Key, Label: name, Detail: humanCount(r.Rate) + "/s", Value: r.Rate, Color: c})
	}
	s.bubbles.SetBubbles(items)
	s.rows = v.snap.Rows
	s.table.Refresh()

	if !v.hasSel {
		s.detail = nil
		s.detailHead.SetText(detailHint)
		s.detailLine.SetValues(nil, nil)
	} else {
		r := v.sel
		head := fmt.Sprintf("%s: %s calls/s now, %s in all", r.Label(), humanCount(r.Rate), humanCount(float64(r.Total)))
		if r.HasStat {
			head += fmt.Sprintf("; CPU %v, %d context switches in the last interval", r.Stat.CPU, r.Stat.CtxSwitches)
		}
		if r.Idle > 0 && r.PID != syscalls.OtherPID && by == syscalls.ByProcess {
			head += fmt.Sprintf(" (no calls for %d intervals: exited or idle)", r.Idle)
		}
		s.detailHead.SetText(head)
		s.detailLine.SetValues(r.History, widgets.ColorFor(r.Comm+r.Syscall))
		s.detail = v.breakdown
	}
	s.detailList.Refresh()
}

func (s *syscallsTab) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	l := o.(*widget.Label)
	if id.Row == 0 {
		l.TextStyle.Bold = true
		l.SetText([]string{"name", "calls/s", "last", "total", "CPU / ctx sw"}[id.Col])
		return
	}
	l.TextStyle.Bold = false
	if id.Row-1 >= len(s.rows) {
		l.SetText("")
		return
	}
	r := s.rows[id.Row-1]
	switch id.Col {
	case 0:
		l.SetText(r.Label())
	case 1:
		l.SetText(humanCount(r.Rate))
	case 2:
		l.SetText(humanCount(float64(r.Last)))
	case 3:
		l.SetText(humanCount(float64(r.Total)))
	case 4:
		if r.HasStat {
			l.SetText(fmt.Sprintf("%v / %d", r.Stat.CPU.Round(time.Millisecond), r.Stat.CtxSwitches))
		} else {
			l.SetText("")
		}
	}
}

// humanCount writes n with a k, M or G suffix.
func humanCount(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", n/1e3)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	default:
		return fmt.Sprintf("%.0f", n)
	}
}
