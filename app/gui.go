package app

import (
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"flowscape/assets"
	"flowscape/sources/registry"
)

// guiOptions are the window's command-line options.
type guiOptions struct {
	tab    string
	noDemo bool
	python string
	open   string
	follow bool // keep reading what is appended to the --open file
	script []string

	landscape string // a landscape file for the Landscape tab
	telemetry string // a telemetry CSV file for a landscape file
}

func cmdGUI(args []string, stderr io.Writer) int {
	fs := newFlags("flowscape", "flowscape [--tab "+strings.Join(tabNames, "|")+"] [--no-demo] [--python PATH] [--open FILE [--follow]] [--landscape FILE [--telemetry CSV]] [SCRIPT [ARGS...]]", stderr)
	var o guiOptions
	fs.StringVar(&o.tab, "tab", "flow", "open on `TAB`: "+strings.Join(tabNames, ", "))
	fs.BoolVar(&o.noDemo, "no-demo", false, "do not trace the demo program at start")
	fs.StringVar(&o.python, "python", "", "trace with the interpreter at `PATH`")
	fs.StringVar(&o.open, "open", "", "open the trace `FILE` instead of tracing (Chrome JSON, speedscope, callgrind, collapsed stacks)")
	fs.BoolVar(&o.follow, "follow", false, "with --open: keep reading what another program appends to the file")
	fs.StringVar(&o.telemetry, "telemetry", "", "with --landscape FILE: colour it by the anomalies in the telemetry `CSV` (timestamp,node,metric,value), followed as it grows")
	fs.StringVar(&o.landscape, "landscape", os.Getenv("FLOWSCAPE_LANDSCAPE"), "show the landscape `FILE` (landscaper JSON, hwloc XML, Flowscape JSON; demo: a generated cloud) instead of this machine")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.script = fs.Args()
	if !slices.Contains(tabNames, o.tab) {
		return errorf(stderr, "unknown tab %q (want one of: %s)", o.tab, strings.Join(tabNames, ", "))
	}
	a := fyneapp.NewWithID("io.flowscape.app")
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.IconPNG))
	w := a.NewWindow("Flowscape")
	ui := newUI(w, o)
	w.SetContent(ui.content())
	w.Resize(fyne.NewSize(1280, 800))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ui.start(ctx)
	w.SetOnClosed(ui.stop)
	w.ShowAndRun()
	return 0
}

// ui is the window: tabs and the status bar.
type ui struct {
	win       fyne.Window
	opts      guiOptions
	tabs      *container.AppTabs
	status    *widget.Label
	stats     *widget.Label
	flow      *flowTab
	callgraph *callgraphTab
	sources   *sourcesTab
	landscape *landscapeTab
	views     []tabEntry
}

func newUI(w fyne.Window, o guiOptions) *ui {
	u := &ui{win: w, opts: o}
	u.status = widget.NewLabel("Starting…")
	u.status.Truncation = fyne.TextTruncateEllipsis
	u.stats = widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
	u.flow = newFlowTab(u)
	u.callgraph = newCallgraphTab(u)
	u.sources = newSourcesTab(registry.Default())
	u.landscape = newLandscapeTab(u)
	u.views = u.makeTabs()
	u.tabs = container.NewAppTabs()
	for i, t := range u.views {
		u.tabs.Append(container.NewTabItem(t.title, t.view.content()))
		if t.name == o.tab {
			u.tabs.SelectIndex(i)
		}
	}
	return u
}

// tabNames are the names --tab accepts, in the window's order. Keep in step
// with makeTabs.
var tabNames = []string{"flow", "callgraph", "landscape", "syscalls", "sources"}

// makeTabs lists the window's tabs in order.
func (u *ui) makeTabs() []tabEntry {
	return []tabEntry{
		{"flow", "Flow", u.flow},
		{"callgraph", "Callgraph", u.callgraph},
		{"landscape", "Landscape", u.landscape},
		{"syscalls", "Syscalls", newSyscallsTab(u)},
		{"sources", "Sources", u.sources},
	}
}

// tabView is one tab of the window. A tab may also implement starter (slow
// start-up work, run once off the UI goroutine), ticker (called off the UI
// goroutine every 100 ms) and stopper (called when the window closes).
type tabView interface {
	content() fyne.CanvasObject
}

type (
	starter interface{ startup(ctx context.Context) }
	ticker  interface{ tick() }
	stopper interface{ stop() }
)

type tabEntry struct {
	name, title string
	view        tabView
}

// stop stops every tab's running work; the window is closing.
func (u *ui) stop() {
	for _, t := range u.views {
		if s, ok := t.view.(stopper); ok {
			s.stop()
		}
	}
}

func (u *ui) content() fyne.CanvasObject {
	bar := container.NewBorder(nil, nil, nil, u.stats, u.status)
	return container.NewBorder(nil, bar, nil, nil, u.tabs)
}

// setStatus shows a message in the status bar. Call on the UI goroutine.
func (u *ui) setStatus(msg string, isErr bool) {
	if isErr {
		u.status.Importance = widget.DangerImportance
	} else {
		u.status.Importance = widget.MediumImportance
	}
	u.status.SetText(msg)
}

// start runs the slow start-up work off the UI goroutine, then the refresh
// loop until ctx ends.
func (u *ui) start(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range u.views {
		if s, ok := t.view.(starter); ok {
			go s.startup(ctx)
		}
		if tk, ok := t.view.(ticker); ok {
			// each tab ticks on its own goroutine: one slow tab (a scan on
			// a loaded machine) must not hold the others' refreshes up
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						tk.tick()
					}
				}
			}()
		}
	}
	wg.Wait()
}
