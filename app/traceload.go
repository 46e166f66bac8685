package app

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/sources"
	"flowscape/sources/replay"
	"flowscape/tracer"
)

// recordBytes is what the trace store keeps per event.
const recordBytes = 24

// memoryChoices are the event-memory limits the Flow tab offers, in MB:
// the trace keeps at most this much of events (24 bytes each), calls of a
// file written in end order that wait for their callers included (32
// bytes each, counted as the two events they become); beyond it events
// are counted, not kept, waiting calls wait in a temporary file, and the
// callgraph stays exact.
var memoryChoices = []int{120, 480, 1200, 2400}

const (
	defaultMemoryMB = 480 // 20 M events, tracer.DefaultLimit
	prefMemory      = "flow.eventMemoryMB"
)

func memoryLabel(mb int) string { return "≤ " + sizeLabel(int64(mb)*1_000_000) }

// sizeLabel says n bytes in MB or GB.
func sizeLabel(n int64) string {
	if n >= 1_000_000_000 {
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	}
	return fmt.Sprintf("%d MB", (n+500_000)/1_000_000)
}

// countLabel says n events in millions from a million on.
func countLabel(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%g M", float64(n/100_000)/10)
	}
	return fmt.Sprint(n)
}

// traceLoader opens trace files in the Flow tab: a progress bar with
// Cancel while a file is read (the tree and the callgraph grow meanwhile),
// "follow" to keep reading what another process appends, and the memory
// the trace may use.
type traceLoader struct {
	f *flowTab

	bar    *widget.ProgressBar
	label  *widget.Label
	cancel *widget.Button
	row    *fyne.Container // bar, label and Cancel; shown while a file is read
	follow *widget.Check
	memory *widget.Select
	saveB  *widget.Button // Save as…: the trace in any format Flowscape writes

	mu    sync.Mutex
	loads map[*Session]*loadState // files being read or read, by session
	memMB atomic.Int64
}

// loadState is what the reading goroutine reports about one file.
type loadState struct {
	path       string
	follow     bool
	read, size atomic.Int64
	shown      atomic.Int64 // read when the Flow tab last looked
	report     atomic.Pointer[tracer.ImportReport]
}

func newTraceLoader(f *flowTab) *traceLoader {
	l := &traceLoader{f: f, loads: make(map[*Session]*loadState)}
	l.bar = widget.NewProgressBar()
	l.label = widget.NewLabel("")
	l.label.Truncation = fyne.TextTruncateEllipsis
	l.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), f.stop)
	l.row = container.NewBorder(nil, nil, nil, l.cancel, container.NewGridWithColumns(2, l.bar, l.label))
	l.row.Hide()
	l.follow = widget.NewCheck("follow", nil)
	if f.u != nil && f.u.opts.follow {
		l.follow.SetChecked(true)
	}
	l.saveB = widget.NewButtonWithIcon("", theme.DocumentSaveIcon(), l.saveDialog)
	mb := defaultMemoryMB
	if a := fyne.CurrentApp(); a != nil {
		mb = a.Preferences().IntWithFallback(prefMemory, defaultMemoryMB)
	}
	l.memMB.Store(int64(mb))
	labels := make([]string, len(memoryChoices))
	for i, m := range memoryChoices {
		labels[i] = memoryLabel(m)
	}
	l.memory = widget.NewSelect(labels, func(s string) {
		for i, lab := range labels {
			if lab == s {
				l.memMB.Store(int64(memoryChoices[i]))
				if a := fyne.CurrentApp(); a != nil {
					a.Preferences().SetInt(prefMemory, memoryChoices[i])
				}
			}
		}
	})
	l.memory.SetSelected(memoryLabel(mb))
	if l.memory.Selected == "" {
		l.memory.PlaceHolder = memoryLabel(mb)
	}
	if f.u != nil && f.u.win != nil {
		// a trace file dropped on the window opens in the Flow tab
		f.u.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) {
			for _, u := range uris {
				if u.Scheme() == "file" {
					l.dropped(u.Path())
					return
				}
			}
		})
	}
	return l
}

// dropped opens a file dropped on the window and shows the Flow tab.
func (l *traceLoader) dropped(path string) {
	if u := l.f.u; u.tabs != nil {
		for i, t := range u.views {
			if t.name == "flow" {
				u.tabs.SelectIndex(i)
			}
		}
	}
	l.open(path)
}

// limit is the number of events a new trace may keep.
func (l *traceLoader) limit() int {
	return int(l.memMB.Load() * 1_000_000 / recordBytes)
}

// options are the controls next to the filter: follow and the memory
// limit.
func (l *traceLoader) options() fyne.CanvasObject {
	return container.NewHBox(l.follow, l.memory, l.saveB)
}

// saveDialog asks for a file and writes the trace shown in the format its
// name says (*.json Chrome, *.speedscope.json, callgrind.out.*, *.folded).
func (l *traceLoader) saveDialog() {
	s := l.f.session.Load()
	if s == nil {
		l.f.u.setStatus("Nothing to save yet: trace a program or open a trace file.", true)
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			l.f.u.setStatus("Save: "+err.Error(), true)
			return
		}
		if w == nil {
			return
		}
		l.save(s.Trace, w, w.URI().Path())
	}, l.f.u.win)
	d.SetFileName("trace.speedscope.json")
	d.Show()
}

// save writes tr to w (the file at path) off the UI goroutine, in the
// format path's name says, and reports in the status bar.
func (l *traceLoader) save(tr *tracer.Trace, w io.WriteCloser, path string) {
	format := tracer.FormatFromName(path)
	if format == "" {
		_ = w.Close()
		_ = os.Remove(path)
		l.f.u.setStatus(fmt.Sprintf("Save: cannot tell the format of %s from its name: end it with .json (Chrome), .speedscope.json, .folded (collapsed stacks) or name it callgrind.out.NAME", filepath.Base(path)), true)
		return
	}
	l.f.async(func() {
		waiting := tr.Stats().Waiting // not in what is written
		bw := bufio.NewWriterSize(w, 1<<20)
		err := tracer.Export(bw, format, tr)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		fyne.Do(func() {
			if err != nil {
				l.f.u.setStatus(fmt.Sprintf("Save %s: %v", path, err), true)
				return
			}
			msg := fmt.Sprintf("Saved the trace to %s (%s).", path, format)
			if waiting > 0 {
				msg += fmt.Sprintf(" The %d calls still waiting for their callers are not in it: save again once the file is read.", waiting)
			}
			l.f.u.setStatus(msg, false)
		})
	})
}

// open reads the trace file at path (any format Flowscape imports) into a
// new session, showing its progress. On the UI goroutine.
func (l *traceLoader) open(path string) {
	follow := l.follow.Checked
	st := &loadState{path: path, follow: follow}
	src, err := replay.NewSource(path, replay.Options{
		Follow: follow,
		Progress: func(read, size int64) {
			st.read.Store(read)
			st.size.Store(size)
		},
		Report: func(r tracer.ImportReport) { st.report.Store(&r) },
	})
	if err != nil {
		l.f.u.setStatus(err.Error(), true)
		return
	}
	msg := fmt.Sprintf("Opening %s…", path)
	if follow {
		msg = fmt.Sprintf("Following %s: new events show as they are written; Stop ends it.", path)
	}
	l.start(src, st, msg)
}

// start runs src, which reads the file st describes, in a new session. On
// the UI goroutine.
func (l *traceLoader) start(src sources.FlowSource, st *loadState, msg string) {
	l.f.begin(src, msg)
	s := l.f.session.Load()
	l.mu.Lock()
	clear(l.loads) // only the latest file's notes are shown
	l.loads[s] = st
	l.mu.Unlock()
	l.bar.SetValue(0)
	l.label.SetText("")
	l.row.Show()
}

// changed reports whether s is reading a file whose progress moved since
// the last call; the Flow tab's tick asks, off the UI goroutine.
func (l *traceLoader) changed(s *Session) bool {
	l.mu.Lock()
	st := l.loads[s]
	l.mu.Unlock()
	if st == nil {
		return false
	}
	read := st.read.Load()
	return st.shown.Swap(read) != read
}

// apply shows the progress of the file s reads, and hides it once s has
// ended. On the UI goroutine.
func (l *traceLoader) apply(s *Session) {
	l.mu.Lock()
	st := l.loads[s]
	l.mu.Unlock()
	if st == nil {
		return
	}
	if !s.Running() {
		l.row.Hide()
		return
	}
	read, size := st.read.Load(), st.size.Load()
	if size > 0 {
		l.bar.SetValue(min(float64(read)/float64(size), 1))
	}
	text := fmt.Sprintf("%s of %s", mib(read), mib(size))
	if st.follow && read >= size {
		text = fmt.Sprintf("following: %s read", mib(read))
	}
	text += waitingLabel(s.Trace.Stats())
	l.label.SetText(text)
}

// waitingLabel says, while a file written in end order is read, how many
// calls wait for their callers: they show at the top of their thread
// until their callers are read ("" when none).
func waitingLabel(st tracer.Stats) string {
	if st.Waiting == 0 {
		return ""
	}
	text := fmt.Sprintf(" · %s calls shown before their callers (the file has each call after the calls it made)", countLabel(st.Waiting))
	if st.Spilled > 0 {
		text += fmt.Sprintf(", %s beyond the memory limit wait on disk", countLabel(st.Spilled))
	}
	return text
}

func mib(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

// notes says, for the end of a session that read a file, what the reader
// could not show and whether the memory limit was reached ("" if nothing).
func (l *traceLoader) notes(s *Session) string {
	var parts []string
	l.mu.Lock()
	st := l.loads[s]
	l.mu.Unlock()
	if st != nil {
		if r := st.report.Load(); r != nil {
			parts = append(parts, fmt.Sprintf("read as %s", r.Format))
			parts = append(parts, r.Notes...)
		}
	}
	stats := s.Trace.Stats()
	if stats.Dropped > 0 {
		parts = append(parts, memoryNote(stats))
	}
	if stats.Spilled > 0 && stats.SpillError == nil {
		parts = append(parts, fmt.Sprintf("%d calls came, in the file's end order, beyond the memory limit: they waited on disk for their callers, not in memory", stats.Spilled))
	}
	if stats.SpillError != nil {
		parts = append(parts, stats.SpillError.Error())
	}
	if len(parts) == 0 {
		return ""
	}
	note := strings.Join(parts, "; ")
	return " " + strings.ToUpper(note[:1]) + note[1:] + "."
}

// memoryNote says that the memory limit was reached and what it means.
func memoryNote(st tracer.Stats) string {
	return fmt.Sprintf("the memory limit (%s, %s events) was reached: %d later events are not in the tree, the callgraph still counts them",
		sizeLabel(int64(st.Limit)*recordBytes), countLabel(st.Limit), st.Dropped)
}

// shownTrace is the trace the Flow and Callgraph tabs show, nil before any.
func (u *ui) shownTrace() *tracer.Trace {
	if u == nil || u.flow == nil {
		return nil
	}
	if s := u.flow.session.Load(); s != nil {
		return s.Trace
	}
	return nil
}
