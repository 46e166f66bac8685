package app

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape"
	"flowscape/sources/openstack"
)

// openStackState is what a reading of the cloud tells the UI goroutine.
type openStackState struct {
	collecting, shown atomic.Bool
	note              atomic.Pointer[string] // what the last reading skipped, for the status bar
	noteShown         string                 // tick's goroutine only
}

// openStackNote says what the landscape lacks, or "".
func openStackNote(rep openstack.Report) string {
	var parts []string
	if len(rep.Skipped) > 0 {
		var names []string
		for _, s := range rep.Skipped {
			names = append(names, strings.TrimSuffix(s, ": not in the catalog"))
		}
		parts = append(parts, "not in the catalog, so not shown: "+strings.Join(names, ", "))
	}
	parts = append(parts, rep.Degraded...)
	if len(parts) == 0 {
		return ""
	}
	return "OpenStack: " + strings.Join(parts, "; ")
}

// openStackIntervals are the re-collection intervals offered, the first
// the default.
var openStackIntervals = []string{"1 minute", "30 seconds", "5 minutes", "15 minutes"}

func parseInterval(s string) time.Duration {
	switch s {
	case "30 seconds":
		return 30 * time.Second
	case "5 minutes":
		return 5 * time.Minute
	case "15 minutes":
		return 15 * time.Minute
	}
	return openstack.DefaultInterval
}

// openStackButton starts the dialog that picks a cloud.
func (t *landscapeTab) openStackButton() fyne.CanvasObject {
	return widget.NewButtonWithIcon("OpenStack…", theme.StorageIcon(), t.openStackDialog)
}

// openStackBar is the progress bar shown while a cloud is being read.
func (t *landscapeTab) openStackBar() fyne.CanvasObject {
	if t.osProgress == nil {
		t.osProgress = widget.NewProgressBarInfinite()
		t.osProgress.Stop()
		t.osProgress.Hide()
	}
	return t.osProgress
}

// syncOpenStackBar shows the progress bar while a collection runs. Called
// by tick.
func (t *landscapeTab) syncOpenStackBar() {
	if note := t.osState.note.Load(); note != nil && *note != t.osState.noteShown {
		t.osState.noteShown = *note
		if *note != "" {
			fyne.Do(func() { t.u.setStatus(*note, false) })
		}
	}
	on := t.osState.collecting.Load()
	if t.osProgress == nil || t.osState.shown.Load() == on {
		return
	}
	t.osState.shown.Store(on)
	fyne.Do(func() {
		if on {
			t.osProgress.Show()
			t.osProgress.Start()
		} else {
			t.osProgress.Stop()
			t.osProgress.Hide()
		}
	})
}

// openStackDialog asks which cloud (a clouds.yaml entry, or empty for
// OS_CLOUD / the OS_* variables) and how often to read it.
func (t *landscapeTab) openStackDialog() {
	cloud := widget.NewEntry()
	cloud.SetPlaceHolder("clouds.yaml entry (empty: OS_CLOUD or the OS_* variables)")
	every := widget.NewSelect(openStackIntervals, nil)
	every.SetSelected(openStackIntervals[0])
	info := openstack.Backend{}.Info(context.Background())
	hint := widget.NewLabel(info.Detail + info.Reason)
	hint.Wrapping = fyne.TextWrapWord
	hint.Importance = widget.LowImportance
	form := container.NewVBox(widget.NewForm(widget.NewFormItem("Cloud", cloud), widget.NewFormItem("Read every", every)), hint)
	d := dialog.NewCustomConfirm("Show an OpenStack cloud", "Show", "Cancel", form, func(ok bool) {
		if ok {
			t.showOpenStack(strings.TrimSpace(cloud.Text), parseInterval(every.Selected))
		}
	}, t.u.win)
	d.Resize(fyne.NewSize(520, 240))
	d.Show()
}

// showOpenStack shows a cloud, read again every interval; each reading is
// a new version. When a reading fails the last good landscape stays, with
// the error above it.
func (t *landscapeTab) showOpenStack(cloud string, every time.Duration) {
	// the previous landscape's telemetry does not apply to the cloud
	t.anom.startNone(t.baseCtx(), "none for an OpenStack cloud yet")
	name := "OpenStack"
	if cloud != "" {
		name += " " + cloud
	}
	progress := t.osState.collecting.Store
	fyne.Do(func() { t.info.SetText("Reading " + name + "… (the first reading of a cloud can take a minute)") })
	t.switchSource(name, func(ctx context.Context, l *landscape.Landscape) {
		mine := func() bool { return t.land == l } // under t.mu
		src := &openstack.Source{Config: openstack.Config{Cloud: cloud}, Land: l, Interval: every,
			OnStart: func() { progress(true) },
			OnCollect: func(d landscape.Diff, rep openstack.Report) {
				progress(false)
				t.mu.Lock()
				if !mine() {
					t.mu.Unlock()
					return
				}
				t.problem, t.skipped = "", rep.String()
				t.mu.Unlock()
				note := openStackNote(rep)
				t.osState.note.Store(&note)
				t.dirty.Store(true)
			},
			OnError: func(err error, _ openstack.Report) {
				progress(false)
				t.mu.Lock()
				if !mine() {
					t.mu.Unlock()
					return
				}
				t.problem = err.Error()
				if len(l.Times()) > 0 {
					t.problem += " (showing the last landscape read)"
				}
				t.mu.Unlock()
				t.dirty.Store(true)
			}}
		_ = src.Run(ctx) // ends when ctx does
		progress(false)
	})
}

// openStackStartup reads --landscape openstack or openstack:NAME.
func openStackStartup(arg string) (cloud string, ok bool) {
	if arg == openstack.Name {
		return "", true
	}
	if c, found := strings.CutPrefix(arg, openstack.Name+":"); found {
		return c, true
	}
	return "", false
}
