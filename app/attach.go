package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"flowscape/sources/pyagent"
)

// attachDialog lists the Python processes this user may trace, with a
// filter, and a field for a pid typed in; Attach starts tracing the chosen
// one in the Flow tab.
type attachDialog struct {
	f      *flowTab
	all    []pyagent.Process
	shown  []pyagent.Process
	filter *widget.Entry
	pid    *widget.Entry
	list   *widget.List
	note   *widget.Label
	dlg    dialog.Dialog
}

// lastAttachDialog is the dialog shown last, for tests.
var lastAttachDialog *attachDialog

// listPythons finds the processes; replaced in tests.
var listPythons = func(ctx context.Context) ([]pyagent.Process, error) {
	return pyagent.ListPythons(ctx, os.DirFS("/proc"), os.Geteuid(), pyagent.Probe)
}

func (f *flowTab) showAttachDialog() {
	d := &attachDialog{f: f}
	lastAttachDialog = d
	d.filter = widget.NewEntry()
	d.filter.SetPlaceHolder("filter: pid, user, version or command")
	d.filter.OnChanged = func(string) { d.apply() }
	d.pid = widget.NewEntry()
	d.pid.SetPlaceHolder("or type a pid")
	d.note = widget.NewLabel("Looking for Python processes…")
	d.note.Wrapping = fyne.TextWrapWord
	d.list = widget.NewList(
		func() int { return len(d.shown) },
		func() fyne.CanvasObject {
			l := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			p := d.shown[i]
			v := p.Version
			if v == "" {
				v = "?"
			}
			o.(*widget.Label).SetText(processRow(p.PID, p.User, v, p.Command))
		},
	)
	d.list.OnSelected = func(i widget.ListItemID) {
		if i >= 0 && i < len(d.shown) {
			d.pid.SetText(strconv.Itoa(d.shown[i].PID))
		}
	}
	refresh := widget.NewButton("Refresh", d.load)
	header := widget.NewLabelWithStyle(processRow("PID", "USER", "PYTHON", "COMMAND"), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	header.Importance = widget.LowImportance
	top := container.NewVBox(container.NewBorder(nil, nil, nil, refresh, d.filter), header)
	body := container.NewBorder(top, container.NewVBox(d.note, d.pid), nil, nil, d.list)
	d.dlg = dialog.NewCustomConfirm("Attach to a running Python process", "Attach", "Cancel", body, func(ok bool) {
		if ok {
			d.attach()
		}
	}, f.u.win)
	d.dlg.Resize(fyne.NewSize(760, 520))
	d.dlg.Show()
	d.load()
}

// load lists the processes off the UI goroutine.
func (d *attachDialog) load() {
	d.note.SetText("Looking for Python processes…")
	d.f.async(func() {
		ps, err := listPythons(context.Background())
		fyne.Do(func() {
			d.all = ps
			d.apply()
			switch {
			case err != nil:
				d.note.SetText("Cannot list processes: " + err.Error())
			case len(ps) == 0:
				d.note.SetText("No Python process of yours is running; type a pid to try one anyway.")
			default:
				who := "yours"
				if os.Geteuid() == 0 {
					who = "of every user (running as root)"
				}
				d.note.SetText(fmt.Sprintf("%d Python processes, %s.", len(ps), who))
			}
		})
	})
}

// processRow lines up a process's columns (in a monospace label).
func processRow(pid any, user, version, command string) string {
	return fmt.Sprintf("%-8v %-10s %-8s %s", pid, user, version, command)
}

// apply filters the list.
func (d *attachDialog) apply() {
	q := strings.ToLower(strings.TrimSpace(d.filter.Text))
	d.shown = d.shown[:0]
	for _, p := range d.all {
		row := strings.ToLower(fmt.Sprintf("%d %s %s %s", p.PID, p.User, p.Version, p.Command))
		if q == "" || strings.Contains(row, q) {
			d.shown = append(d.shown, p)
		}
	}
	d.list.UnselectAll()
	d.list.Refresh()
}

func (d *attachDialog) attach() {
	pid, err := strconv.Atoi(strings.TrimSpace(d.pid.Text))
	if err != nil || pid <= 0 {
		d.f.u.setStatus(fmt.Sprintf("Attach: %q is not a process id; pick a process or type its pid.", d.pid.Text), true)
		return
	}
	d.f.attach(pyagent.AttachConfig{PID: pid, CCalls: d.f.ccalls.Checked}, false)
}

// attach starts tracing a running process. waitLonger is set when the user
// chose to keep waiting for a blocked main thread.
func (f *flowTab) attach(cfg pyagent.AttachConfig, waitLonger bool) {
	if waitLonger {
		cfg.Timeout = 10 * pyagent.AttachTimeout
	}
	f.start.Disable()
	f.u.setStatus(fmt.Sprintf("Attaching to pid %d…", cfg.PID), false)
	f.async(func() {
		a, err := pyagent.NewAttacher(context.Background(), cfg)
		fyne.Do(func() {
			if err != nil {
				f.start.Enable()
				f.u.setStatus("Cannot attach: "+err.Error(), true)
				return
			}
			f.lastAttach = &cfg
			f.begin(a, fmt.Sprintf("Attached to pid %d (Python %s); Stop detaches, the process runs on.", cfg.PID, a.Interpreter().Version))
			f.pause.Enable()
		})
	})
}

// onPause pauses or resumes an attached session.
func (f *flowTab) onPause() {
	s := f.session.Load()
	if s == nil {
		return
	}
	a, ok := s.Source().(*pyagent.Attacher)
	if !ok {
		return
	}
	if f.paused {
		if err := a.Resume(); err != nil {
			f.u.setStatus("Resume: "+err.Error(), true)
			return
		}
		f.paused = false
		f.pause.SetText("Pause")
		f.u.setStatus("Tracing again.", false)
		return
	}
	if err := a.Pause(); err != nil {
		f.u.setStatus("Pause: "+err.Error(), true)
		return
	}
	f.paused = true
	f.pause.SetText("Resume")
	f.u.setStatus("Paused: the hooks are off, the process runs at full speed; Resume traces again.", false)
}

// attachEnded offers to wait longer when the attach timed out on a main
// thread that ran no Python code. On the UI goroutine.
func (f *flowTab) attachEnded(s *Session) {
	f.pause.Disable()
	f.paused = false
	f.pause.SetText("Pause")
	if !errors.Is(s.Err(), pyagent.ErrNotRunningBytecode) || f.lastAttach == nil {
		return
	}
	cfg := *f.lastAttach
	dialog.ShowConfirm("The process did not run Python code",
		fmt.Sprintf("Pid %d's main thread ran no Python code within %s: it may be blocked in join(), a lock, a sleep or a long C call.\n\nKeep waiting (up to %s)?", cfg.PID, pyagent.AttachTimeout, 10*pyagent.AttachTimeout),
		func(ok bool) {
			if ok {
				f.attach(cfg, true)
			}
		}, f.u.win)
}
