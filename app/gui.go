package app

import (
	"context"
	"io"
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
	script []string
}

func cmdGUI(args []string, stderr io.Writer) int {
	fs := newFlags("flowscape", "flowscape [--tab flow|sources] [--no-demo] [--python PATH] [--open FILE] [SCRIPT [ARGS...]]", stderr)
	var o guiOptions
	fs.StringVar(&o.tab, "tab", "flow", "open on `TAB`: flow or sources")
	fs.BoolVar(&o.noDemo, "no-demo", false, "do not trace the demo program at start")
	fs.StringVar(&o.python, "python", "", "trace with the interpreter at `PATH`")
	fs.StringVar(&o.open, "open", "", "open the trace `FILE` instead of tracing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.script = fs.Args()
	if o.tab != "flow" && o.tab != "sources" {
		return errorf(stderr, "unknown tab %q (want flow or sources)", o.tab)
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
	w.SetOnClosed(func() { ui.flow.stop() })
	w.ShowAndRun()
	return 0
}

// ui is the window: tabs and the status bar.
type ui struct {
	win     fyne.Window
	opts    guiOptions
	tabs    *container.AppTabs
	status  *widget.Label
	stats   *widget.Label
	flow    *flowTab
	sources *sourcesTab
}

func newUI(w fyne.Window, o guiOptions) *ui {
	u := &ui{win: w, opts: o}
	u.status = widget.NewLabel("Starting…")
	u.status.Truncation = fyne.TextTruncateEllipsis
	u.stats = widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
	u.flow = newFlowTab(u)
	u.sources = newSourcesTab(registry.Default())
	u.tabs = container.NewAppTabs(
		container.NewTabItem("Flow", u.flow.content()),
		container.NewTabItem("Sources", u.sources.content()),
	)
	if o.tab == "sources" {
		u.tabs.SelectIndex(1)
	}
	return u
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
	go u.sources.load(ctx)
	u.flow.startup(ctx)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			u.flow.tick()
		}
	}
}
