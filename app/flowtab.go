package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/assets"
	"flowscape/sources"
	"flowscape/sources/pyagent"
	"flowscape/tracer"
	"flowscape/widgets"
)

// consoleLines is how many lines of program output the console keeps.
const consoleLines = 5000

// flowTab is the Flow tab: choose a program, start / stop / restart it,
// watch its calls grow into a tree, open a frame's source.
type flowTab struct {
	u *ui

	interp  *widget.Select
	script  *widget.Entry
	args    *widget.Entry
	ccalls  *widget.Check
	start   *widget.Button
	stopBtn *widget.Button
	restart *widget.Button
	attachB *widget.Button
	pause   *widget.Button
	filter  *widget.Entry
	fold    *widget.Check

	tree    *widgets.FlowTree
	source  *widgets.SourceView
	console *widgets.Console
	load    *traceLoader // Open trace…: progress, Cancel, follow, memory limit

	interps []pyagent.Interpreter // set on the UI goroutine

	// async runs slow work (probing an interpreter, reading a file) off the
	// UI goroutine; the work hands its result back with fyne.Do.
	async func(func())

	session     atomic.Pointer[Session]
	filterText  atomic.Pointer[string]
	refresh     refresher
	mu          sync.Mutex // guards the fields below, read by tick
	seenVersion uint64
	seenOutput  uint64
	seenFilter  string
	reported    *Session
	hookNoted   *Session              // the session whose hook caveat the status bar showed
	lastAttach  *pyagent.AttachConfig // the running process traced last, for Restart; nil after a launch
	paused      bool                  // the attached process's hooks are off
	visible     *tracer.Visible
	marks       *marksPane
}

func newFlowTab(u *ui) *flowTab {
	f := &flowTab{u: u, async: func(fn func()) { go fn() }}
	f.refresh.fn = f.apply
	empty := ""
	f.filterText.Store(&empty)

	f.interp = widget.NewSelect(nil, nil)
	f.interp.PlaceHolder = "looking for Python interpreters…"
	f.script = widget.NewEntry()
	f.script.SetPlaceHolder("script.py")
	f.args = widget.NewEntry()
	f.args.SetPlaceHolder("arguments")
	f.ccalls = widget.NewCheck("C calls", nil)
	f.start = widget.NewButtonWithIcon("Start", theme.MediaPlayIcon(), f.onStart)
	f.start.Importance = widget.HighImportance
	f.stopBtn = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), f.stop)
	f.stopBtn.Disable()
	f.restart = widget.NewButtonWithIcon("Restart", theme.MediaReplayIcon(), f.onRestart)
	f.restart.Disable()
	f.attachB = widget.NewButtonWithIcon("Attach…", theme.LoginIcon(), f.showAttachDialog)
	f.pause = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), f.onPause)
	f.pause.Disable()
	f.filter = widget.NewEntry()
	f.filter.SetPlaceHolder("filter: function or file")
	f.filter.OnChanged = func(s string) {
		f.filterText.Store(&s)
		f.async(f.tick)
	}
	f.tree = widgets.NewFlowTree()
	f.fold = widget.NewCheck("fold repeats", func(on bool) { f.tree.SetFold(on) })
	f.fold.SetChecked(true)
	f.tree.OnOpen = f.openSource
	f.source = newSourceView(u)
	f.console = widgets.NewConsole()
	f.load = newTraceLoader(f)
	return f
}

func (f *flowTab) content() fyne.CanvasObject {
	browse := widget.NewButtonWithIcon("", theme.FolderOpenIcon(), f.browseScript)
	openTrace := widget.NewButtonWithIcon("Open trace…", theme.FileIcon(), f.browseTrace)
	scriptRow := container.NewBorder(nil, nil, nil, browse, f.script)
	form := container.NewGridWithColumns(3, f.interp, scriptRow, f.args)
	buttons := container.NewHBox(f.start, f.stopBtn, f.restart, f.ccalls, widget.NewSeparator(), f.attachB, f.pause, widget.NewSeparator(), openTrace)
	toolbar := container.NewVBox(form, buttons)

	filterRow := container.NewBorder(nil, nil, nil, container.NewHBox(f.fold, f.load.options()), f.filter)
	treePane := container.NewBorder(container.NewVBox(f.load.row, filterRow), nil, nil, nil, f.tree)
	f.marks = newMarksPane()
	f.marks.tabs = container.NewAppTabs(container.NewTabItem("Program output", f.console), f.marks.tab)
	right := container.NewVSplit(f.source, f.marks.tabs)
	right.Offset = 0.62
	split := container.NewHSplit(treePane, right)
	split.Offset = 0.58
	return container.NewBorder(toolbar, nil, nil, nil, split)
}

// startup finds interpreters and starts what the command line asked for
// (by default the demo). Runs off the UI goroutine.
func (f *flowTab) startup(ctx context.Context) {
	interps := pyagent.Discover(ctx)
	var supported []pyagent.Interpreter
	for _, it := range interps {
		if it.Supported() {
			supported = append(supported, it)
		}
	}
	o := f.u.opts
	var demo string
	var demoErr error
	if len(o.script) == 0 && !o.noDemo && o.open == "" {
		demo, demoErr = writeDemo()
	}
	fyne.DoAndWait(func() {
		f.setInterpreters(supported, o.python)
		switch {
		case o.open != "":
			f.openTrace(o.open)
		case len(o.script) > 0:
			f.script.SetText(o.script[0])
			f.args.SetText(strings.Join(o.script[1:], " "))
			f.onStart()
		case o.noDemo:
			f.u.setStatus("Choose a Python script and press Start, or open a trace file.", false)
		case demoErr != nil:
			f.u.setStatus("cannot write the demo program: "+demoErr.Error(), true)
		default:
			f.script.SetText(demo)
			f.args.SetText("40 0.5")
			f.onStart()
		}
	})
}

// writeDemo writes the bundled demo program into a private directory.
func writeDemo() (string, error) {
	dir, err := os.MkdirTemp("", "flowscape-demo-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, assets.DemoName)
	return path, os.WriteFile(path, assets.DemoPy, 0o600)
}

func (f *flowTab) setInterpreters(its []pyagent.Interpreter, want string) {
	f.interps = its
	labels := make([]string, len(its))
	choice := -1
	for i, it := range its {
		labels[i] = it.Label()
		if want != "" && it.Path == want {
			choice = i
		}
	}
	if want != "" && choice < 0 {
		// An interpreter given on the command line but not discovered.
		f.interps = append([]pyagent.Interpreter{{Path: want, Version: "?"}}, its...)
		labels = append([]string{"?  " + want}, labels...)
		choice = 0
	}
	if choice < 0 {
		for i, it := range its {
			if it.Path == "/usr/bin/python3" || strings.HasPrefix(it.Path, "/usr/bin/python3.") {
				choice = i
				break
			}
		}
	}
	if choice < 0 && len(its) > 0 {
		choice = 0
	}
	f.interp.Options = labels
	f.interp.PlaceHolder = "no Python 3.8+ found"
	if choice >= 0 {
		f.interp.SetSelectedIndex(choice)
	}
	f.interp.Refresh()
}

func (f *flowTab) interpreter() string {
	i := f.interp.SelectedIndex()
	if i < 0 || i >= len(f.interps) {
		return ""
	}
	return f.interps[i].Path
}

func (f *flowTab) browseScript() {
	f.pickFile([]string{".py"}, f.script.SetText)
}

func (f *flowTab) browseTrace() { f.pickFile(nil, f.openTrace) }

// pickFile shows a file dialog (limited to exts when given) and hands the
// chosen path to use.
func (f *flowTab) pickFile(exts []string, use func(path string)) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			f.u.setStatus(err.Error(), true)
			return
		}
		if r == nil {
			return
		}
		r.Close()
		use(r.URI().Path())
	}, f.u.win)
	if len(exts) > 0 {
		d.SetFilter(storage.NewExtensionFileFilter(exts))
	}
	d.Show()
}

// openTrace replays a trace file (any format Flowscape imports) into a new
// session, with a progress bar and Cancel.
func (f *flowTab) openTrace(path string) { f.load.open(path) }

func (f *flowTab) onStart() {
	f.lastAttach = nil
	cfg := sources.FlowConfig{
		Interpreter: f.interpreter(),
		Script:      strings.TrimSpace(f.script.Text),
		Args:        strings.Fields(f.args.Text),
		CCalls:      f.ccalls.Checked,
	}
	if cfg.Interpreter == "" {
		f.u.setStatus("Choose a Python interpreter first (none of 3.8 or newer was found).", true)
		return
	}
	if cfg.Script == "" {
		f.u.setStatus("Choose a Python script to trace.", true)
		return
	}
	f.start.Disable()
	f.async(func() {
		// NewFlow runs the interpreter once to check it: off the UI goroutine.
		src, err := pyagent.Backend{}.NewFlow(cfg)
		fyne.Do(func() {
			if err != nil {
				f.start.Enable()
				f.u.setStatus("Cannot start: "+err.Error(), true)
				return
			}
			f.begin(src, fmt.Sprintf("Tracing %s with %s…", filepath.Base(cfg.Script), cfg.Interpreter))
		})
	})
}

// begin starts src in a new session, replacing the shown trace. On the UI
// goroutine.
func (f *flowTab) begin(src sources.FlowSource, msg string) {
	f.stop()
	out := NewLineBuffer(consoleLines)
	// The launched program's output goes to the console.
	if ps, ok := src.(*pyagent.Source); ok {
		ps.SetOutput(out)
	}
	s := StartSession(context.Background(), src, out, f.load.limit())
	f.session.Store(s)
	f.mu.Lock()
	f.seenVersion, f.seenOutput, f.seenFilter, f.visible = 0, 0, "", nil
	f.mu.Unlock()
	f.tree.SetTrace(s.Trace)
	f.console.SetLines(nil, 0)
	f.start.Disable()
	f.stopBtn.Enable()
	f.restart.Enable()
	f.u.setStatus(msg, false)
}

// stop stops the running session, if any; what was collected stays.
func (f *flowTab) stop() {
	if s := f.session.Load(); s != nil && s.Running() {
		s.Stop()
		// through fyne.Do: the window's close callback may run this off the
		// UI goroutine when the app is told to quit
		fyne.Do(func() { f.u.setStatus("Stopping…", false) })
	}
}

func (f *flowTab) onRestart() {
	f.stop()
	s := f.session.Load()
	again := f.onStart
	if cfg := f.lastAttach; cfg != nil {
		again = func() { f.attach(*cfg, false) } // attach again to the same process
	}
	f.async(func() {
		if s != nil {
			<-s.Done()
		}
		fyne.Do(again)
	})
}

// openSource shows the source of a double-clicked call.
func (f *flowTab) openSource(n tracer.Node) {
	line := n.Frame.Line
	if n.Line > 0 {
		line = int(n.Line)
	}
	showFrameSource(f.u, f.source, f.async, n.Frame, line)
}

// newSourceView returns a source view whose "Open in editor" reports to
// the status bar.
func newSourceView(u *ui) *widgets.SourceView {
	v := widgets.NewSourceView()
	v.OnOpenEditor = func(path string, line int) {
		if err := OpenInEditor(path, line); err != nil {
			u.setStatus(err.Error(), true)
		} else {
			u.setStatus(fmt.Sprintf("opened %s:%d in an editor", path, line), false)
		}
	}
	return v
}

// showFrameSource loads the source of frame around line off the UI
// goroutine (with async) and shows it in view, saying in the status bar what
// it showed or why it could not.
func showFrameSource(u *ui, view *widgets.SourceView, async func(func()), frame tracer.Frame, line int) {
	if frame.C {
		u.setStatus(fmt.Sprintf("%s is a C function: no Python source", frame.Func), false)
		return
	}
	path := frame.File
	async(func() {
		txt, err := LoadSourceOf(u.shownTrace(), path, line)
		fyne.Do(func() {
			if err != nil {
				view.ShowMessage(path, line, err.Error())
				u.setStatus("Cannot show source: "+err.Error(), true)
				return
			}
			view.ShowSource(path, txt.First, txt.Lines, line, txt.Note)
			u.setStatus(fmt.Sprintf("%s  %s:%d", frame.Func, path, line), false)
		})
	})
}

// tick runs on the refresh goroutine (≈ 10 Hz): it works out what changed
// and, if anything did, computes the filter off the UI goroutine and asks
// for one UI update.
func (f *flowTab) tick() {
	s := f.session.Load()
	if s == nil {
		return
	}
	q := strings.TrimSpace(*f.filterText.Load())
	v := s.Trace.Version()
	ov := s.Output.Version()
	f.mu.Lock()
	changed := v != f.seenVersion || ov != f.seenOutput || q != f.seenFilter || (f.reported != s && !s.Running()) || f.load.changed(s)
	refilter := q != "" && (v != f.seenVersion || q != f.seenFilter)
	clear := q == "" && f.seenFilter != ""
	f.mu.Unlock()
	if !changed {
		return
	}
	var vis *tracer.Visible
	if refilter {
		vis = s.Trace.Filter(q)
	}
	f.mu.Lock()
	if refilter {
		f.visible = vis
	}
	if clear {
		f.visible = nil
	}
	f.seenVersion, f.seenOutput, f.seenFilter = v, ov, q
	f.mu.Unlock()
	f.refresh.ask()
}

// apply pushes the latest state into the widgets; on the UI goroutine.
func (f *flowTab) apply() {
	s := f.session.Load()
	if s == nil {
		return
	}
	f.mu.Lock()
	vis := f.visible
	report := f.reported != s && !s.Running()
	if report {
		f.reported = s
	}
	f.mu.Unlock()
	if f.tree.Trace() == s.Trace {
		f.tree.SetVisible(vis)
		if report {
			f.tree.SetFinished(true)
		}
		f.tree.Update()
	}
	f.load.apply(s)
	lines, dropped, _ := s.Output.Snapshot()
	f.console.SetLines(lines, dropped)
	f.marks.update(s.Trace, len(lines) == 0)
	st := s.Trace.Stats()
	stats := fmt.Sprintf("%d events · %d threads · %d functions", st.Events, st.Threads, st.Frames)
	if st.Waiting > 0 {
		// a file in end order, still loading: its calls are not events yet
		stats = fmt.Sprintf("%d events + %d calls to place · %d threads · %d functions", st.Events, st.Waiting, st.Threads, st.Frames)
	}
	if st.Dropped > 0 {
		stats += fmt.Sprintf(" · memory limit: %d events not kept (callgraph exact)", st.Dropped)
	}
	if vis != nil {
		stats += fmt.Sprintf(" · %d match", vis.Matches())
	}
	info := s.Trace.Info()
	if info.Mode != "" {
		stats += " · " + info.Mode
	}
	f.u.stats.SetText(stats)
	if info.Note != "" && f.hookNoted != s && s.Running() {
		f.hookNoted = s
		f.u.setStatus("Tracing with the slower Python hook: "+info.Note, false)
	}
	if report {
		f.start.Enable()
		f.stopBtn.Disable()
		f.u.setStatus(endMessage(s)+f.load.notes(s), s.Err() != nil)
		if _, ok := s.Source().(*pyagent.Attacher); ok {
			f.attachEnded(s)
		}
	}
}

// endMessage says how a session ended.
func endMessage(s *Session) string {
	err := s.Err()
	st := s.Trace.Stats()
	kept := fmt.Sprintf("%d events kept", st.Events)
	var ee *pyagent.ExitError
	_, attached := s.Source().(*pyagent.Attacher)
	switch {
	case s.StoppedByUser() && attached:
		return "Detached; the process runs on; " + kept + "."
	case s.StoppedByUser():
		return "Stopped; " + kept + "."
	case errors.As(err, &ee):
		return fmt.Sprintf("The %s; %s.", oneLine(err), kept)
	case err != nil:
		return fmt.Sprintf("Error: %s (%s).", oneLine(err), kept)
	default:
		return "Finished; " + kept + "."
	}
}

// oneLine joins the lines of a (possibly joined) error for the status bar.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
