package app

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/tracer"
	"flowscape/widgets"
)

// relayoutEvery is the least time between two layouts while events stream
// in; counters and flashes update at every tick in between.
const relayoutEvery = 500 * time.Millisecond

// callgraphTab is the Callgraph tab: the live callgraph of the Flow tab's
// trace, laid out by Graphviz and animated, with a side panel for the
// selected function and its source.
type callgraphTab struct {
	u *ui

	view    *widgets.CallGraph
	details *widget.Label
	source  *widgets.SourceView
	metric  *widget.Select
	thread  *widget.Select
	top     *widget.Select
	depth   *widget.Select
	focus   *widget.Button
	unfocus *widget.Button
	info    *widget.Label

	async   func(func())
	ctx     context.Context // for layouts; set by startup
	layouts atomic.Int32    // layouts under way (0 or 1)
	refresh refresher

	mu           sync.Mutex // guards the fields below
	opts         graphView
	threads      map[string]uint32 // thread choice → tid
	optsGen      int               // bumped when opts change
	trace        *tracer.Trace
	seen         uint64 // trace version last shown
	seenGen      int
	shapeKey     uint64 // nodes and edges of the graph last laid out
	lastLayout   time.Time
	laidOutGen   int           // optsGen of the last layout: a change of options lays out at once
	laidOutEmpty bool          // the last layout had no function
	full         *tracer.Graph // untrimmed, for the side panel
	stats        *tracer.Graph // trimmed, for UpdateStats
	report       tracer.TrimReport
	err          string
}

var topChoices = []string{"20", "40", "80", "150", "300", "all"}

func newCallgraphTab(u *ui) *callgraphTab {
	c := &callgraphTab{u: u, async: func(fn func()) { go fn() }, ctx: context.Background()}
	c.opts.trim.MaxNodes = tracer.DefaultMaxNodes
	c.opts.trim.FocusDepth = 2
	c.refresh.fn = c.apply
	c.view = widgets.NewCallGraph()
	c.view.OnSelected = func(n tracer.GraphNode, ok bool) { c.showDetails(n, ok) }
	c.view.OnOpen = func(n tracer.GraphNode) {
		showFrameSource(u, c.source, c.async, n.Frame, n.Frame.Line)
	}
	c.details = widget.NewLabel("Click a function for its details; double-click for its source.")
	c.details.Wrapping = fyne.TextWrapWord
	c.source = newSourceView(u)
	c.info = widget.NewLabel("")
	c.info.Importance = widget.LowImportance
	c.info.Truncation = fyne.TextTruncateEllipsis

	c.metric = widget.NewSelect([]string{"inclusive", "exclusive"}, func(s string) {
		c.setOpts(func(v *graphView) {
			v.metric = tracer.ByInclusive
			if s == "exclusive" {
				v.metric = tracer.ByExclusive
			}
		})
	})
	c.metric.SetSelected("inclusive")
	c.thread = widget.NewSelect([]string{"all threads"}, func(s string) {
		c.mu.Lock()
		tid := c.threads[s]
		c.mu.Unlock()
		c.setOpts(func(v *graphView) { v.tid = tid })
	})
	c.thread.SetSelected("all threads")
	c.top = widget.NewSelect(topChoices, func(s string) {
		n, _ := strconv.Atoi(s) // "all" → 0
		c.setOpts(func(v *graphView) { v.trim.MaxNodes = n })
	})
	c.top.SetSelected(strconv.Itoa(tracer.DefaultMaxNodes))
	c.depth = widget.NewSelect([]string{"1", "2", "3", "5"}, func(s string) {
		n, _ := strconv.Atoi(s)
		c.setOpts(func(v *graphView) { v.trim.FocusDepth = n })
	})
	c.depth.SetSelected("2")
	c.focus = widget.NewButtonWithIcon("Focus", theme.ZoomFitIcon(), func() {
		n, ok := c.view.Selected()
		if !ok {
			u.setStatus("Select a function to focus on first.", false)
			return
		}
		c.setOpts(func(v *graphView) { v.trim.Focus, v.trim.FocusSet = n.ID, true })
		c.unfocus.Enable()
	})
	c.unfocus = widget.NewButtonWithIcon("All", theme.ViewFullScreenIcon(), func() {
		c.setOpts(func(v *graphView) { v.trim.FocusSet = false })
		c.unfocus.Disable()
	})
	c.unfocus.Disable()
	return c
}

func (c *callgraphTab) content() fyne.CanvasObject {
	zoomIn := widget.NewButtonWithIcon("", theme.ZoomInIcon(), c.view.ZoomIn)
	zoomOut := widget.NewButtonWithIcon("", theme.ZoomOutIcon(), c.view.ZoomOut)
	fit := widget.NewButtonWithIcon("Fit", theme.ViewRestoreIcon(), c.view.Fit)
	export := widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), c.exportDialog)
	bar := container.NewHBox(
		widget.NewLabel("Colour by"), c.metric,
		widget.NewLabel("Thread"), c.thread,
		widget.NewLabel("Top"), c.top,
		c.focus, widget.NewLabel("levels"), c.depth, c.unfocus,
		widget.NewSeparator(), zoomOut, zoomIn, fit, export,
	)
	graph := container.NewBorder(nil, c.info, nil, nil, c.view)
	side := container.NewVSplit(container.NewVScroll(c.details), c.source)
	side.Offset = 0.45
	split := container.NewHSplit(graph, side)
	split.Offset = 0.72
	return container.NewBorder(container.NewHScroll(bar), nil, nil, nil, split)
}

// startup remembers the window's context for layouts.
func (c *callgraphTab) startup(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
}

// setOpts changes what the graph shows and asks for a new layout.
func (c *callgraphTab) setOpts(change func(*graphView)) {
	c.mu.Lock()
	change(&c.opts)
	c.optsGen++
	c.mu.Unlock()
	c.async(c.tick)
}

// tick runs on the refresh goroutine (≈ 10 Hz): when the trace or the
// options changed it builds the trimmed graph; when the graph's shape
// changed (and the last layout is old enough) it starts a layout, else it
// asks the widget to update its counters.
func (c *callgraphTab) tick() {
	s := c.u.flow.session.Load()
	if s == nil {
		return
	}
	tr := s.Trace
	v := tr.Version()
	c.mu.Lock()
	if tr != c.trace {
		c.trace, c.seen, c.shapeKey, c.seenGen = tr, 0, 0, -1
	}
	changed := v != c.seen || c.optsGen != c.seenGen
	opts, gen := c.opts, c.optsGen
	ctx := c.ctx
	c.mu.Unlock()
	if !changed {
		return
	}
	var full *tracer.Graph
	if opts.tid != 0 {
		full = tr.CallgraphThread(opts.tid)
	} else {
		full = tr.Callgraph()
	}
	g, rep := full.Trim(opts.trim)
	key := shapeKey(g, rep.Total, opts)
	threads := tr.Threads()

	c.mu.Lock()
	c.seen, c.seenGen = v, gen
	c.full, c.stats, c.report = full, g, rep
	// the debounce does not hold back the first functions of a trace
	relayout := key != c.shapeKey && (time.Since(c.lastLayout) >= relayoutEvery || gen != c.laidOutGen || c.laidOutEmpty)
	c.mu.Unlock()
	c.setThreads(threads)
	if relayout && c.layouts.CompareAndSwap(0, 1) {
		c.mu.Lock()
		c.shapeKey, c.lastLayout = key, time.Now()
		c.mu.Unlock()
		c.async(func() { c.layout(ctx, g, rep, opts) })
		return
	}
	c.refresh.ask()
}

// layout runs Graphviz on g off the UI goroutine and hands the result to
// the widget.
func (c *callgraphTab) layout(ctx context.Context, g *tracer.Graph, rep tracer.TrimReport, opts graphView) {
	defer c.layouts.Store(0)
	start := time.Now()
	l, err := layoutCallgraph(ctx, g, rep, opts.metric)
	took := time.Since(start)
	legend := legend(rep, opts.metric)[1:]
	c.mu.Lock()
	c.laidOutGen = c.optsGen
	c.laidOutEmpty = len(g.Nodes) == 0
	if err != nil {
		c.err = fmt.Sprintf("Callgraph layout failed: %v", err)
		c.shapeKey = 0 // try again at the next change
	} else {
		c.err = ""
	}
	c.mu.Unlock()
	fyne.Do(func() {
		if err != nil {
			c.u.setStatus(c.err, true)
			return
		}
		c.view.SetGraph(g, l, rep.Total, opts.metric, legend)
		c.info.SetText(fmt.Sprintf("%d functions, %d edges · layout %s", len(g.Nodes), len(g.Edges), tracer.FormatDuration(took)))
		c.apply()
	})
}

// shapeKey hashes what a layout depends on: the functions and edges shown
// and the colouring (box sizes follow each function's share of total, the
// time the boxes are sized by).
func shapeKey(g *tracer.Graph, total int64, v graphView) uint64 {
	var h maphash.Hash
	h.SetSeed(shapeSeed)
	fmt.Fprintf(&h, "%d;", v.metric)
	for _, n := range g.Nodes {
		// sizes change with the share of time: bucket it so small drifts
		// do not re-layout
		share := 0
		if total > 0 {
			share = int(10 * float64(v.metric.Of(n)) / float64(total))
		}
		fmt.Fprintf(&h, "%d:%d,", n.ID, share)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&h, "%d>%d,", e.From, e.To)
	}
	return h.Sum64() | 1
}

var shapeSeed = maphash.MakeSeed()

// setThreads offers the trace's threads in the thread choice.
func (c *callgraphTab) setThreads(ths []tracer.Thread) {
	opts := []string{"all threads"}
	m := map[string]uint32{"all threads": 0}
	for _, th := range ths {
		name := th.Name
		if name == "" {
			name = "thread"
		}
		s := fmt.Sprintf("%s (%d)", name, th.TID)
		opts = append(opts, s)
		m[s] = th.TID
	}
	c.mu.Lock()
	same := len(m) == len(c.threads)
	c.threads = m
	c.mu.Unlock()
	if same {
		return
	}
	fyne.Do(func() { c.thread.SetOptions(opts) })
}

// apply pushes the latest counters into the widget; on the UI goroutine.
func (c *callgraphTab) apply() {
	c.mu.Lock()
	g, total := c.stats, c.report.Total
	c.mu.Unlock()
	if g == nil {
		return
	}
	c.view.UpdateStats(g, total)
	if n, ok := c.view.Selected(); ok {
		c.showDetails(n, true)
	}
}

// showDetails fills the side panel for the selected function.
func (c *callgraphTab) showDetails(sel tracer.GraphNode, ok bool) {
	if !ok {
		c.details.SetText("Click a function for its details; double-click for its source.")
		return
	}
	c.mu.Lock()
	full, total := c.full, c.report.Total
	c.mu.Unlock()
	if full == nil {
		return
	}
	c.details.SetText(detailsText(full, sel.ID, total))
}

// detailsText describes function id of g: its counters, the path that
// first reached it, its callers and callees.
func detailsText(g *tracer.Graph, id tracer.FrameID, total int64) string {
	n, ok := g.Node(id)
	if !ok {
		return "This function is no longer in the graph."
	}
	var b strings.Builder
	loc := "built-in"
	if !n.Frame.C {
		loc = fmt.Sprintf("%s:%d", n.Frame.File, n.Frame.Line)
	}
	fmt.Fprintf(&b, "%s\n%s\n\n", n.Frame.Func, loc)
	fmt.Fprintf(&b, "Calls: %d%s\n", n.Calls, map[bool]string{true: " (one still running)", false: ""}[n.Open])
	fmt.Fprintf(&b, "Inclusive: %s%s\n", tracer.FormatDuration(time.Duration(n.Inclusive)), pct(n.Inclusive, total))
	fmt.Fprintf(&b, "Exclusive: %s%s\n", tracer.FormatDuration(time.Duration(n.Exclusive)), pct(n.Exclusive, total))
	fmt.Fprintf(&b, "Time to reach: %s after the start\n", tracer.FormatDuration(time.Duration(n.FirstReach)))
	name := func(id tracer.FrameID) string {
		if m, ok := g.Node(id); ok {
			return m.Frame.Func
		}
		return fmt.Sprintf("<frame %d>", id)
	}
	path := make([]string, len(n.FirstPath))
	for i, p := range n.FirstPath {
		path[i] = name(p)
	}
	fmt.Fprintf(&b, "\nFirst reached by:\n  %s\n", strings.Join(path, " → "))
	var callers, callees []string
	for _, e := range g.Edges { // by time, largest first
		if e.To == id {
			callers = append(callers, fmt.Sprintf("  %s  %d× %s", name(e.From), e.Calls, tracer.FormatDuration(time.Duration(e.Time))))
		}
		if e.From == id {
			callees = append(callees, fmt.Sprintf("  %s  %d× %s", name(e.To), e.Calls, tracer.FormatDuration(time.Duration(e.Time))))
		}
	}
	list := func(title string, items []string) {
		fmt.Fprintf(&b, "\n%s (%d):\n", title, len(items))
		if len(items) > 12 {
			items = append(items[:12], fmt.Sprintf("  … and %d more", len(items)-12))
		}
		if len(items) == 0 {
			items = []string{"  none"}
		}
		b.WriteString(strings.Join(items, "\n") + "\n")
	}
	list("Callers", callers)
	list("Callees", callees)
	return b.String()
}

func pct(v, total int64) string {
	if total <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f%% of all)", 100*float64(v)/float64(total))
}

// exportDialog asks for a file and writes the graph as shown in the format
// its name ends with (.dot, .svg, .png, .json).
func (c *callgraphTab) exportDialog() {
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			c.u.setStatus("Export: "+err.Error(), true)
			return
		}
		if w == nil {
			return
		}
		format := strings.TrimPrefix(strings.ToLower(w.URI().Extension()), ".")
		c.async(func() {
			err := c.export(w, format)
			_ = w.Close()
			fyne.Do(func() {
				if err != nil {
					c.u.setStatus(fmt.Sprintf("Export to %s: %v", w.URI().Path(), err), true)
				} else {
					c.u.setStatus("Exported the callgraph to "+w.URI().Path(), false)
				}
			})
		})
	}, c.u.win)
	d.SetFileName("callgraph.svg")
	d.Show()
}

// export writes the graph as shown (same thread, trimming and colouring)
// in format to w.
func (c *callgraphTab) export(w io.Writer, format string) error {
	c.mu.Lock()
	g, rep, opts, ctx := c.stats, c.report, c.opts, c.ctx
	c.mu.Unlock()
	if g == nil {
		return fmt.Errorf("no callgraph yet: trace a program or open a trace first")
	}
	switch format {
	case "dot", "svg", "png", "json":
	default:
		return fmt.Errorf("unknown format %q: name the file .dot, .svg, .png or .json", format)
	}
	return writeCallgraph(ctx, w, g, rep, opts.metric, format)
}
