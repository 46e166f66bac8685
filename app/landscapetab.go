package app

import (
	"context"
	"fmt"
	"image/color"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape"
	"flowscape/sources/hostland"
	"flowscape/sources/landfile"
	"flowscape/sources/openstack"
	"flowscape/widgets"
)

// foldLimit is the node count above which a landscape starts folded.
const foldLimit = 150

// scanEvery is how often this machine is scanned again.
const scanEvery = 10 * time.Second

// landscapeTab shows a landscape as a layered map: this machine by default,
// or a file, with search, filters, folding, details and a time slider.
type landscapeTab struct {
	u       *ui
	view    *widgets.LandscapeMap
	details *widget.Label
	info    *widget.Label
	search  *widget.Entry
	layers  map[string]*widget.Check
	types   *widget.Select
	folded  *widget.Check
	slider  *widget.Slider
	when    *widget.Label
	timeBar *fyne.Container
	// anom is the telemetry on the map: colours, legend, anomalies,
	// sparkline and time cursor; health its last node states (UI goroutine).
	anom   *anomalyPanel
	health map[string]widgets.NodeHealth
	// osProgress runs while an OpenStack cloud is read.
	osProgress *widget.ProgressBarInfinite
	osState    openStackState

	// async runs background work; tests run it in line.
	async func(func())
	ctx   context.Context

	mu        sync.Mutex // guards the fields below
	land      *landscape.Landscape
	source    string // what is shown: "this machine" or the file's path
	fold      landscape.Fold
	foldSet   bool    // fold was chosen for this landscape
	foldOn    bool    // large groups start folded
	aspect    float64 // the map's width over its height, for the layout
	at        int     // index into times; -1 follows the latest
	times     []landscape.Time
	layerOn   map[string]bool
	typ       string // "" for all types
	query     string
	problem   string // the source's last error, shown until it is fixed
	skipped   string // what the local scan could not read
	stopSrc   context.CancelFunc
	fitNext   bool
	built     *builtView
	buildMu   sync.Mutex // one build at a time
	gen       atomic.Int64
	dirty     atomic.Bool // the source changed: rebuild at the next tick
	shownErr  string      // the problem last put in the status bar
	sliderSet bool        // the slider is being moved by code, not the user
}

// builtView is one build's result, for the UI and the side panel.
type builtView struct {
	full    *landscape.Graph // at the time shown, unfolded
	shown   *landscape.Graph // folded and filtered: what the map draws
	members map[string][]string
	lay     *landscape.Layout
	marks   map[string]widgets.Mark
	at      landscape.Time
	times   []landscape.Time
	diff    landscape.Diff
	types   []string
}

const allTypes = "all types"

func newLandscapeTab(u *ui) *landscapeTab {
	t := &landscapeTab{u: u, async: func(fn func()) { go fn() }, ctx: context.Background(), at: -1, foldOn: true,
		layerOn: map[string]bool{landscape.Service: true, landscape.Virtual: true, landscape.Physical: true}}
	t.view = widgets.NewLandscapeMap()
	t.view.OnSelected = func(id string) { t.showDetails(id) }
	t.view.OnActivated = t.activate
	t.details = widget.NewLabel("Click a node for its attributes, edges and history.\nDouble-click a group (a stack of boxes) to unfold it, a machine to fold or unfold what it contains.")
	t.details.Wrapping = fyne.TextWrapWord
	t.details.Selectable = true
	t.info = widget.NewLabel("Reading this machine…")
	t.info.Truncation = fyne.TextTruncateEllipsis
	t.search = widget.NewEntry()
	t.search.SetPlaceHolder("Search name or id")
	t.search.OnChanged = func(q string) { t.setState(func() { t.query = q }, false) }
	t.search.OnSubmitted = func(string) { t.findNext() }
	t.layers = map[string]*widget.Check{}
	for _, l := range landscape.Layers {
		t.layers[l] = widget.NewCheck(l, func(on bool) { t.setState(func() { t.layerOn[l] = on }, true) })
		t.layers[l].Checked = true
	}
	t.types = widget.NewSelect([]string{allTypes}, func(s string) {
		if s == allTypes {
			s = ""
		}
		t.setState(func() { t.typ = s }, true)
	})
	t.types.Selected = allTypes
	t.folded = widget.NewCheck("Fold groups", func(on bool) {
		t.setState(func() { t.foldOn, t.foldSet = on, false }, true)
	})
	t.folded.Checked = true
	t.slider = widget.NewSlider(0, 1)
	t.slider.Step = 1
	t.slider.OnChanged = func(v float64) {
		if t.sliderSet {
			return
		}
		t.setState(func() {
			t.at = int(v)
			if t.at >= len(t.times)-1 {
				t.at = -1
			}
		}, false)
	}
	t.when = widget.NewLabel("")
	latest := widget.NewButton("Latest", func() { t.setState(func() { t.at = -1 }, false) })
	t.timeBar = container.NewBorder(nil, nil, widget.NewLabel("Time"), container.NewHBox(t.when, latest), t.slider)
	t.timeBar.Hide()
	t.initAnomalies()
	return t
}

func (t *landscapeTab) content() fyne.CanvasObject {
	open := widget.NewButtonWithIcon("Open…", theme.FolderOpenIcon(), t.openDialog)
	local := widget.NewButtonWithIcon("This machine", theme.ComputerIcon(), func() { t.showLocal() })
	demo := widget.NewButtonWithIcon("Demo cloud", theme.GridIcon(), func() { t.showDemo() })
	zoomIn := widget.NewButtonWithIcon("", theme.ZoomInIcon(), func() { t.view.ZoomBy(1.25) })
	zoomOut := widget.NewButtonWithIcon("", theme.ZoomOutIcon(), func() { t.view.ZoomBy(0.8) })
	fit := widget.NewButtonWithIcon("Fit", theme.ViewRestoreIcon(), t.view.Fit)
	checks := container.NewHBox()
	for _, l := range []string{landscape.Service, landscape.Virtual, landscape.Physical} {
		checks.Add(t.layers[l])
	}
	search := container.NewGridWrap(fyne.NewSize(180, t.search.MinSize().Height), t.search)
	bar := container.NewHBox(local, open, demo, t.openStackButton(), widget.NewSeparator(), search, checks, t.types, t.folded,
		widget.NewSeparator(), zoomOut, zoomIn, fit)
	side := container.NewVScroll(container.NewVBox(t.anom.content(), widget.NewSeparator(), t.details))
	mapArea := container.NewBorder(nil, container.NewVBox(t.timeBar, t.openStackBar(), container.NewBorder(nil, nil, nil, landscapeLegend(), t.info)), nil, nil, t.view)
	split := container.NewHSplit(mapArea, side)
	split.Offset = 0.74
	return container.NewBorder(container.NewHScroll(bar), nil, nil, nil, split)
}

// landscapeLegend shows what colours and shapes mean.
func landscapeLegend() fyne.CanvasObject {
	box := container.NewHBox()
	for _, l := range []string{landscape.Service, landscape.Virtual, landscape.Physical} {
		sw := canvas.NewRectangle(widgets.LayerFill(l))
		sw.StrokeColor = color.NRGBA{0x60, 0x60, 0x60, 0xff}
		sw.StrokeWidth = 1
		box.Add(container.NewGridWrap(fyne.NewSize(14, 14), sw))
		box.Add(widget.NewLabel(l))
	}
	hint := widget.NewLabel("box: compute · cut corners: network · lid: storage · stack: group")
	hint.Importance = widget.LowImportance
	box.Add(hint)
	return box
}

// startup shows the file given on the command line, or this machine.
func (t *landscapeTab) startup(ctx context.Context) {
	t.mu.Lock()
	t.ctx = ctx
	t.mu.Unlock()
	if p := t.u.opts.landscape; p != "" {
		if cloud, ok := openStackStartup(p); ok {
			t.showOpenStack(cloud, openstack.DefaultInterval)
			return
		}
		if _, err := os.Stat(p); err != nil && p == "demo" {
			t.showDemo()
			return
		}
		t.openFile(p)
		return
	}
	t.showLocal()
}

func (t *landscapeTab) stop() {
	t.anom.stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopSrc != nil {
		t.stopSrc()
		t.stopSrc = nil
	}
}

// switchSource stops the running source and starts run with a fresh
// landscape.
func (t *landscapeTab) switchSource(name string, run func(ctx context.Context, l *landscape.Landscape)) {
	t.mu.Lock()
	if t.stopSrc != nil {
		t.stopSrc()
	}
	ctx, cancel := context.WithCancel(t.ctx)
	t.stopSrc = cancel
	l := landscape.New()
	t.land, t.source, t.at, t.foldSet, t.fitNext = l, name, -1, false, true
	t.problem, t.skipped = "", ""
	t.mu.Unlock()
	go run(ctx, l)
}

// showLocal shows this machine, scanned again every scanEvery.
func (t *landscapeTab) showLocal() {
	t.anom.startLocal(t.baseCtx())
	t.switchSource("this machine", func(ctx context.Context, l *landscape.Landscape) {
		src := &hostland.Source{Land: l, Interval: scanEvery, OnScan: func(d landscape.Diff, rep hostland.Report) {
			t.mu.Lock()
			if t.land != l {
				t.mu.Unlock()
				return
			}
			t.skipped = ""
			if rep.Skipped > 0 {
				t.skipped = rep.String()
			}
			t.mu.Unlock()
			if !d.Empty() || rep.Skipped > 0 {
				t.dirty.Store(true)
			}
		}}
		_ = src.Run(ctx) // ends when ctx does
	})
}

// demoName is what the generated demo landscape is called.
const demoName = "demo cloud (generated: racks, hosts, VMs, volumes, networks, services)"

// showDemo shows a generated data center of 1 000 nodes with six hours of
// VMs coming and going.
func (t *landscapeTab) showDemo() {
	t.switchSource(demoName, func(ctx context.Context, _ *landscape.Landscape) {
		start := landscape.Time(time.Now().Add(-6 * time.Hour).Unix())
		l := landscape.GenerateHistory(1000, 6, start, 1)
		t.anom.startDemo(ctx, l.Latest(), time.Now())
		t.mu.Lock()
		if t.source == demoName {
			t.land = l
		}
		t.mu.Unlock()
		t.dirty.Store(true)
	})
}

// openFile shows the landscape in path, read again when it changes.
func (t *landscapeTab) openFile(path string) {
	t.startFileTelemetry()
	t.switchSource(path, func(ctx context.Context, first *landscape.Landscape) {
		w := &landfile.Watcher{Path: path,
			OnLoad: func(l *landscape.Landscape) {
				t.mu.Lock()
				if t.source != path {
					t.mu.Unlock()
					return
				}
				t.land, t.problem = l, ""
				t.mu.Unlock()
				t.dirty.Store(true)
			},
			OnError: func(err error) {
				t.mu.Lock()
				if t.source != path {
					t.mu.Unlock()
					return
				}
				t.problem = err.Error()
				t.mu.Unlock()
				t.dirty.Store(true)
			},
		}
		if err := w.Run(ctx); err != nil {
			t.mu.Lock()
			t.problem = err.Error()
			t.mu.Unlock()
			t.dirty.Store(true)
		}
	})
}

func (t *landscapeTab) openDialog() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			t.u.setStatus(err.Error(), true)
			return
		}
		if r == nil {
			return
		}
		r.Close()
		t.openFile(r.URI().Path())
	}, t.u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".json", ".xml"}))
	d.Show()
}

// tick rebuilds the map when the source changed since the last tick.
func (t *landscapeTab) tick() {
	t.anom.tick()
	t.syncOpenStackBar()
	if t.dirty.CompareAndSwap(true, false) {
		t.rebuild()
	}
}

// setState changes the view's state under the lock and rebuilds.
func (t *landscapeTab) setState(change func(), fit bool) {
	t.mu.Lock()
	change()
	if fit {
		t.fitNext = true
	}
	t.mu.Unlock()
	t.rebuild()
}

// rebuild computes the map off the UI goroutine and shows it; a build that
// a newer one overtook is dropped.
func (t *landscapeTab) rebuild() {
	gen := t.gen.Add(1)
	t.async(func() {
		t.buildMu.Lock()
		defer t.buildMu.Unlock()
		if t.gen.Load() != gen {
			return
		}
		b, fit := t.build()
		if b == nil {
			return
		}
		fyne.Do(func() {
			if t.gen.Load() != gen {
				return
			}
			t.apply(b, fit)
		})
	})
}

// build makes the view of the current state. Runs off the UI goroutine.
func (t *landscapeTab) build() (*builtView, bool) {
	t.mu.Lock()
	l := t.land
	if l == nil {
		t.mu.Unlock()
		return nil, false
	}
	times := l.Times()
	t.times = times
	at := t.at
	if at >= len(times) {
		at = -1
	}
	var now landscape.Time
	switch {
	case len(times) == 0:
	case at < 0:
		now = times[len(times)-1]
	default:
		now = times[at]
	}
	full := l.At(now)
	if !t.foldSet {
		if t.foldOn {
			t.fold = landscape.DefaultFold(full, foldLimit)
		} else {
			t.fold = landscape.Fold{Open: map[string]bool{}, Machines: map[string]bool{}}
		}
		t.foldSet = true
	}
	fold := landscape.Fold{Types: maps.Clone(t.fold.Types), Open: maps.Clone(t.fold.Open), Machines: maps.Clone(t.fold.Machines)}
	layerOn := maps.Clone(t.layerOn)
	typ, query := t.typ, strings.ToLower(strings.TrimSpace(t.query))
	fit := t.fitNext
	t.fitNext = false
	aspect := t.aspect
	t.mu.Unlock()

	b := &builtView{full: full, at: now, times: times}
	folded, members := landscape.Collapse(full, fold)
	b.members = members
	types := map[string]bool{}
	var nodes []landscape.Node
	keep := map[string]bool{}
	for _, n := range folded.Nodes {
		types[n.Type] = true
		layer := n.Layer
		if layer != landscape.Service && layer != landscape.Physical {
			layer = landscape.Virtual
		}
		if !layerOn[layer] || (typ != "" && n.Type != typ) {
			continue
		}
		nodes = append(nodes, n)
		keep[n.ID] = true
	}
	var edges []landscape.Edge
	for _, e := range folded.Edges {
		if keep[e.Source] && keep[e.Target] {
			edges = append(edges, e)
		}
	}
	b.shown = landscape.NewGraph(nodes, edges)
	b.lay = landscape.LayoutFor(b.shown, aspect)
	b.types = slices.Sorted(maps.Keys(types))
	// Marks: what changed since the previous time, and search matches.
	rep := map[string]string{}
	for gid, ms := range members {
		for _, m := range ms {
			rep[m] = gid
		}
	}
	mark := func(id string, m widgets.Mark) {
		if r, ok := rep[id]; ok {
			id = r
		}
		if b.marks[id] < m {
			b.marks[id] = m
		}
	}
	b.marks = map[string]widgets.Mark{}
	idx := at
	if idx < 0 {
		idx = len(times) - 1
	}
	if idx > 0 {
		b.diff = landscape.Compare(l.At(times[idx-1]), full)
		for _, n := range b.diff.AddedNodes {
			mark(n.ID, widgets.MarkAdded)
		}
		for _, c := range b.diff.Changed {
			mark(c.After.ID, widgets.MarkChanged)
		}
	}
	if query != "" {
		for i := range full.Nodes {
			n := &full.Nodes[i]
			if strings.Contains(strings.ToLower(n.Label()), query) || strings.Contains(strings.ToLower(n.ID), query) {
				mark(n.ID, widgets.MarkMatch)
			}
		}
	}
	return b, fit
}

// apply shows a build. UI goroutine.
func (t *landscapeTab) apply(b *builtView, fit bool) {
	t.mu.Lock()
	t.built = b
	source, problem, skipped, at := t.source, t.problem, t.skipped, t.at
	if sz := t.view.Size(); sz.Width > 0 && sz.Height > 0 {
		t.aspect = float64(sz.Width / sz.Height)
	}
	t.mu.Unlock()
	t.view.SetGraph(b.shown, b.lay, fit)
	t.view.SetMarks(b.marks)
	t.anom.setGraph(b.full)
	t.view.SetHealth(foldHealth(t.health, b.members))
	opts := append([]string{allTypes}, b.types...)
	if !slices.Equal(opts, t.types.Options) {
		t.types.Options = opts
		t.types.Refresh()
	}
	matches := 0
	for _, m := range b.marks {
		if m == widgets.MarkMatch {
			matches++
		}
	}
	msg := fmt.Sprintf("%s: %d nodes, %d edges", source, len(b.full.Nodes), len(b.full.Edges))
	if len(b.shown.Nodes) != len(b.full.Nodes) {
		msg += fmt.Sprintf(" · showing %d", len(b.shown.Nodes))
		if len(b.members) > 0 {
			msg += " (double-click a group to unfold it)"
		}
	}
	if matches > 0 {
		msg += fmt.Sprintf(" · %d match the search", matches)
	}
	if skipped != "" {
		msg += " · " + skipped
	}
	t.info.Importance = widget.MediumImportance
	if problem != "" {
		msg = problem + " · " + msg
		t.info.Importance = widget.DangerImportance
		if problem != t.shownErr {
			t.u.setStatus("Landscape: "+problem, true)
		}
	}
	t.shownErr = problem
	t.info.SetText(msg)
	// The time slider, when there is history to travel.
	if len(b.times) > 1 {
		t.sliderSet = true
		t.slider.Max = float64(len(b.times) - 1)
		if at < 0 {
			t.slider.SetValue(t.slider.Max)
		} else {
			t.slider.SetValue(float64(at))
		}
		t.sliderSet = false
		w := formatTime(b.at)
		if at < 0 {
			w += " (latest)"
		}
		if !b.diff.Empty() {
			w += " · " + b.diff.String()
		}
		t.when.SetText(w)
		t.timeBar.Show()
	} else {
		t.timeBar.Hide()
	}
	sel := t.view.Selected()
	if sel == "" && fit {
		// A new landscape: start with its first machine's details, so the
		// side panel shows what there is to see.
		for _, n := range b.shown.Nodes {
			if n.Type == "machine" || n.Type == "rack" {
				sel = n.ID
				t.view.Select(sel)
				break
			}
		}
	}
	if sel != "" {
		t.showDetails(sel)
	}
}

func formatTime(tm landscape.Time) string {
	switch tm {
	case 0:
		return "the start"
	case landscape.Forever:
		return "now"
	}
	return time.Unix(int64(tm), 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// maxListed caps each list in the side panel.
const maxListed = 200

// showDetails fills the side panel for node id. UI goroutine.
func (t *landscapeTab) showDetails(id string) {
	t.mu.Lock()
	b, l := t.built, t.land
	t.mu.Unlock()
	if id == "" || b == nil {
		t.details.SetText("Click a node for its attributes, edges and history.")
		return
	}
	var s strings.Builder
	if ms, ok := b.members[id]; ok && strings.HasPrefix(id, landscape.GroupPrefix) {
		n := b.shown.Node(id)
		fmt.Fprintf(&s, "%s\nin %s\n\nid: %s\nDouble-click to unfold.\n\nMembers:\n", n.Label(), n.Attrs["owner"], id)
		for i, m := range ms {
			if i == maxListed {
				fmt.Fprintf(&s, "  … and %d more\n", len(ms)-maxListed)
				break
			}
			fmt.Fprintf(&s, "  %s\n", b.full.Node(m).Label())
		}
		t.details.SetText(s.String())
		return
	}
	n := b.full.Node(id)
	if n == nil {
		t.details.SetText(id + "\n\nNot in the landscape at this time.")
		return
	}
	fmt.Fprintf(&s, "%s\n\nid: %s\nlayer: %s\ncategory: %s\ntype: %s\n", n.Label(), n.ID, n.Layer, n.Category, n.Type)
	if d := t.anom.describe(id); d != "" {
		s.WriteString(d)
	}
	t.anom.showNode(id)
	if ms := b.members[id]; len(ms) > 0 {
		fmt.Fprintf(&s, "folded: %d nodes inside (double-click to unfold)\n", len(ms))
	}
	if keys := n.JoinKeys(); len(keys) > 0 {
		var ks []string
		for _, k := range keys {
			ks = append(ks, k.Kind+"="+k.Value)
		}
		fmt.Fprintf(&s, "join keys: %s\n", strings.Join(ks, ", "))
	}
	keys := slices.Sorted(maps.Keys(n.Attrs))
	fmt.Fprintf(&s, "\nAttributes (%d)\n", len(keys))
	for i, k := range keys {
		if i == maxListed {
			fmt.Fprintf(&s, "  … and %d more\n", len(keys)-maxListed)
			break
		}
		fmt.Fprintf(&s, "  %s: %s\n", k, n.Attrs[k])
	}
	edges := b.full.EdgesOf(id)
	fmt.Fprintf(&s, "\nEdges (%d)\n", len(edges))
	for i, e := range edges {
		if i == maxListed {
			fmt.Fprintf(&s, "  … and %d more\n", len(edges)-maxListed)
			break
		}
		if e.Source == id {
			fmt.Fprintf(&s, "  → %s %s\n", e.Label, b.full.Node(e.Target).Label())
		} else {
			fmt.Fprintf(&s, "  ← %s %s\n", e.Label, b.full.Node(e.Source).Label())
		}
	}
	if l != nil {
		h := l.History(id)
		fmt.Fprintf(&s, "\nHistory (%s)\n", plural(len(h), "version"))
		var prev *landscape.NodeVersion
		for i := range h {
			v := &h[i]
			to := "now"
			if v.To != landscape.Forever {
				to = formatTime(v.To)
			}
			fmt.Fprintf(&s, "  %s – %s", formatTime(v.From), to)
			if prev != nil {
				if ch := changedKeys(&prev.Node, &v.Node); len(ch) > 0 {
					fmt.Fprintf(&s, ": %s changed", strings.Join(ch, ", "))
				}
			}
			s.WriteString("\n")
			prev = v
		}
		eh := l.EdgeHistory(id)
		if len(eh) > len(edges) {
			fmt.Fprintf(&s, "\nEdges over time (%d)\n", len(eh))
			for i, e := range eh {
				if i == maxListed {
					break
				}
				to := "now"
				if e.To != landscape.Forever {
					to = formatTime(e.To)
				}
				fmt.Fprintf(&s, "  %s: %s – %s\n", e.Edge, formatTime(e.From), to)
			}
		}
	}
	t.details.SetText(s.String())
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// changedKeys lists the attributes (and fields) that differ.
func changedKeys(a, b *landscape.Node) []string {
	var out []string
	for _, f := range []struct{ name, x, y string }{{"name", a.Name, b.Name}, {"type", a.Type, b.Type}, {"layer", a.Layer, b.Layer}} {
		if f.x != f.y {
			out = append(out, f.name)
		}
	}
	for k, v := range b.Attrs {
		if w, ok := a.Attrs[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range a.Attrs {
		if _, ok := b.Attrs[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// activate unfolds a group, or folds / unfolds a node that contains others.
func (t *landscapeTab) activate(id string) {
	t.mu.Lock()
	b := t.built
	t.mu.Unlock()
	if b == nil {
		return
	}
	t.setState(func() {
		if t.fold.Open == nil {
			t.fold.Open = map[string]bool{}
		}
		if t.fold.Machines == nil {
			t.fold.Machines = map[string]bool{}
		}
		switch {
		case strings.HasPrefix(id, landscape.GroupPrefix):
			t.fold.Open[id] = true
		case t.fold.Machines[id]:
			delete(t.fold.Machines, id)
		default:
			for _, e := range b.full.Edges {
				if e.Source == id && landscape.IsContainment(e.Label) {
					t.fold.Machines[id] = true
					break
				}
			}
		}
	}, false)
}

// findNext selects and centres the next node matching the search.
func (t *landscapeTab) findNext() {
	t.mu.Lock()
	b := t.built
	t.mu.Unlock()
	if b == nil {
		return
	}
	var ids []string
	for id, m := range b.marks {
		if m == widgets.MarkMatch && b.shown.Node(id) != nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.u.setStatus(fmt.Sprintf("Landscape: nothing shown matches %q", t.search.Text), false)
		return
	}
	sort.Strings(ids)
	cur := t.view.Selected()
	next := ids[0]
	for _, id := range ids {
		if id > cur {
			next = id
			break
		}
	}
	t.view.Select(next)
	t.view.CenterOn(next)
	t.showDetails(next)
}
