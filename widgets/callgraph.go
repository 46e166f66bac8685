package widgets

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/image/vector"

	"flowscape/internal/gvlayout"
	"flowscape/tracer"
)

const (
	cgTextSize   = 11   // label size at zoom 1 for a function with no time
	cgPad        = 6    // padding inside a box
	cgMoveTime   = 0.6  // seconds a layout change takes to animate
	cgFlashTime  = 0.7  // seconds a flash takes to fade
	cgSamples    = 16   // points an edge is drawn with
	cgMinText    = 4.5  // labels smaller than this are hidden
	cgMaxFitZoom = 1.25 // fit-to-window does not blow small graphs up past this
	cgPointsInch = 72.0
)

// CallGraph draws a laid-out callgraph: a box per function sized and
// coloured by its time, an arrow per caller→callee with width by calls.
// When the graph changes, boxes move smoothly to their new place, new ones
// fade in and old ones fade out; a function called since the last update
// flashes. Drag to pan, scroll to zoom, tap to select, double-tap to open,
// hover for details.
type CallGraph struct {
	widget.BaseWidget

	// OnSelected is called when the user taps a function (ok) or empty
	// space (not ok).
	OnSelected func(n tracer.GraphNode, ok bool)
	// OnOpen is called when the user double-taps a function.
	OnOpen func(n tracer.GraphNode)

	metric tracer.Metric
	total  int64
	legend []string

	nodes  []*cgNode
	byID   map[tracer.FrameID]*cgNode
	edges  []*cgEdge
	width  float64 // layout size the animation moves towards
	height float64

	progress float64 // of the current move, 0 to 1
	zoom     float32
	pan      fyne.Position
	fit      bool    // keep the graph fitted to the widget until the user pans or zooms
	legendH  float32 // height of the legend box, kept clear when fitting

	selected tracer.FrameID
	hasSel   bool
	hover    *cgNode
	hoverAt  fyne.Position

	anim    *fyne.Animation
	lastAni time.Time
	manual  bool // tests step time with Tick; no fyne.Animation runs
}

var (
	_ fyne.Widget         = (*CallGraph)(nil)
	_ fyne.Tappable       = (*CallGraph)(nil)
	_ fyne.DoubleTappable = (*CallGraph)(nil)
	_ fyne.Draggable      = (*CallGraph)(nil)
	_ fyne.Scrollable     = (*CallGraph)(nil)
	_ desktop.Hoverable   = (*CallGraph)(nil)
)

// nodeBox is a node's centre and size in layout points.
type nodeBox struct{ x, y, w, h float64 }

func lerp(a, b, t float64) float64 { return a + (b-a)*t }

func (a nodeBox) lerp(b nodeBox, t float64) nodeBox {
	return nodeBox{lerp(a.x, b.x, t), lerp(a.y, b.y, t), lerp(a.w, b.w, t), lerp(a.h, b.h, t)}
}

type cgNode struct {
	n          tracer.GraphNode
	from, to   nodeBox
	aFrom, aTo float64 // opacity
	flash      float64 // 1 just called, fading to 0
	scale      float64 // text scale, from the node's share of time
	gone       bool    // fading out, removed when the move ends
}

type cgEdge struct {
	from, to   tracer.FrameID
	calls      int64
	time       int64
	width      float64
	pFrom, pTo []gvlayout.Point // cgSamples points each, the last one the arrow's tip
	aFrom, aTo float64
	gone       bool
}

// NewCallGraph returns an empty callgraph view.
func NewCallGraph() *CallGraph {
	g := &CallGraph{byID: map[tracer.FrameID]*cgNode{}, zoom: 1, fit: true, progress: 1}
	g.ExtendBaseWidget(g)
	return g
}

// cgLabel is the text of a function's box: name, calls and time by metric,
// time to reach.
func cgLabel(n tracer.GraphNode, total int64, m tracer.Metric) [3]string {
	calls := fmt.Sprintf("%d calls", n.Calls)
	if n.Calls == 1 {
		calls = "1 call"
	}
	t := tracer.FormatDuration(time.Duration(m.Of(n)))
	if total > 0 {
		t += fmt.Sprintf(" (%.1f%%)", 100*float64(m.Of(n))/float64(total))
	}
	return [3]string{n.Frame.Func, calls + " · " + t, "reached +" + tracer.FormatDuration(time.Duration(n.FirstReach))}
}

// cgScale is the text scale of a function with frac of the total time.
func cgScale(frac float64) float64 {
	return 1 + 0.6*math.Sqrt(min(max(frac, 0), 1))
}

func fraction(v, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return float64(v) / float64(total)
}

// CallGraphNodeSize is the size in inches of a function's box, for
// tracer.DotOptions.NodeSize, so Graphviz leaves room for the label the
// widget draws. Safe to call from any goroutine (it does not use
// fyne.MeasureText, which is not).
func CallGraphNodeSize(n tracer.GraphNode, total int64, m tracer.Metric) (w, h float64) {
	s := float32(cgTextSize * cgScale(fraction(m.Of(n), total)))
	lines := cgLabel(n, total, m)
	var tw, th float32
	for i, l := range lines {
		sz := measurer.measure(l, s, i == 0)
		tw = max(tw, sz.Width)
		th += sz.Height
	}
	return float64(tw+2*cgPad) / cgPointsInch, float64(th+2*cgPad) / cgPointsInch
}

// SetGraph shows g as placed by l (node names as tracer.NodeName), boxes
// coloured by m's share of total, with legend lines. Nodes already shown
// move to their new place. Call on the UI goroutine.
func (g *CallGraph) SetGraph(gr *tracer.Graph, l *gvlayout.Layout, total int64, m tracer.Metric, legend []string) {
	t := g.ease()
	for _, n := range g.nodes {
		n.from, n.aFrom = n.from.lerp(n.to, t), lerp(n.aFrom, n.aTo, t)
	}
	for _, e := range g.edges {
		e.pFrom, e.aFrom = lerpPoints(e.pFrom, e.pTo, t), lerp(e.aFrom, e.aTo, t)
	}
	g.metric, g.total, g.legend = m, total, legend
	g.width, g.height = l.Width, l.Height
	placed := make(map[string]gvlayout.Node, len(l.Nodes))
	for _, ln := range l.Nodes {
		placed[ln.Name] = ln
	}
	keep := make(map[tracer.FrameID]bool, len(gr.Nodes))
	var nodes []*cgNode
	for _, gn := range gr.Nodes {
		ln, ok := placed[tracer.NodeName(gn.ID)]
		if !ok {
			continue
		}
		keep[gn.ID] = true
		to := nodeBox{ln.X, ln.Y, ln.W, ln.H}
		n := g.byID[gn.ID]
		if n == nil || n.gone {
			n = &cgNode{from: to, aFrom: 0}
			if old := g.byID[gn.ID]; old != nil {
				n.from, n.aFrom = old.from, old.aFrom
			}
			g.byID[gn.ID] = n
		}
		n.n, n.to, n.aTo, n.gone = gn, to, 1, false
		n.scale = cgScale(fraction(m.Of(gn), total))
		nodes = append(nodes, n)
	}
	for _, n := range g.nodes {
		if !keep[n.n.ID] && n.aFrom > 0.01 {
			n.to, n.aTo, n.gone = n.from, 0, true
			nodes = append(nodes, n)
		} else if !keep[n.n.ID] {
			delete(g.byID, n.n.ID)
		}
	}
	g.nodes = nodes

	old := make(map[[2]tracer.FrameID]*cgEdge, len(g.edges))
	for _, e := range g.edges {
		old[[2]tracer.FrameID{e.from, e.to}] = e
	}
	var maxCalls int64
	for _, e := range gr.Edges {
		maxCalls = max(maxCalls, e.Calls)
	}
	byEnds := make(map[[2]string]gvlayout.Edge, len(l.Edges))
	for _, le := range l.Edges {
		byEnds[[2]string{le.Tail, le.Head}] = le
	}
	var edges []*cgEdge
	for _, ge := range gr.Edges {
		le, ok := byEnds[[2]string{tracer.NodeName(ge.From), tracer.NodeName(ge.To)}]
		if !ok {
			continue
		}
		key := [2]tracer.FrameID{ge.From, ge.To}
		pts := sampleEdge(le)
		e := old[key]
		if e == nil || e.gone {
			e = &cgEdge{from: ge.From, to: ge.To, pFrom: pts, aFrom: 0}
		}
		delete(old, key)
		e.calls, e.time, e.width = ge.Calls, ge.Time, tracer.EdgeWidth(ge.Calls, maxCalls)
		e.pTo, e.aTo, e.gone = pts, 1, false
		edges = append(edges, e)
	}
	for _, e := range g.edges {
		if _, left := old[[2]tracer.FrameID{e.from, e.to}]; left && e.aFrom > 0.01 {
			e.pTo, e.aTo, e.gone = e.pFrom, 0, true
			edges = append(edges, e)
		}
	}
	g.edges = edges
	g.progress = 0
	g.startAnimation()
	g.Refresh()
}

// UpdateStats refreshes the counters shown for functions already on the
// graph (without moving anything), and the total time their shares are of,
// and flashes those called since the last update. Call on the UI goroutine.
func (g *CallGraph) UpdateStats(gr *tracer.Graph, total int64) {
	changed := total != g.total
	g.total = total
	for _, gn := range gr.Nodes {
		n := g.byID[gn.ID]
		if n == nil || n.gone {
			continue
		}
		if gn.Calls > n.n.Calls {
			n.flash = 1
		}
		if gn.Calls != n.n.Calls || gn.Inclusive != n.n.Inclusive || gn.Exclusive != n.n.Exclusive || gn.Open != n.n.Open {
			changed = true
		}
		n.n = gn
	}
	if changed {
		g.startAnimation()
		g.Refresh()
	}
}

// Settle ends every animation at once: boxes at their places, flashes
// off. For still images.
func (g *CallGraph) Settle() {
	if a := g.anim; a != nil {
		g.anim = nil
		a.Stop()
	}
	g.progress = 1
	g.dropGone()
	for _, n := range g.nodes {
		n.flash = 0
	}
	g.Refresh()
}

// Tick advances the animations by dt seconds and reports whether any is
// still running. The widget's own animation calls it every frame; tests
// call it to step time.
func (g *CallGraph) Tick(dt float64) bool {
	running := false
	if g.progress < 1 {
		g.progress = min(1, g.progress+dt/cgMoveTime)
		running = true
		if g.progress >= 1 {
			g.dropGone()
		}
	}
	for _, n := range g.nodes {
		if n.flash > 0 {
			n.flash = max(0, n.flash-dt/cgFlashTime)
			running = true
		}
	}
	g.Refresh()
	return running
}

func (g *CallGraph) dropGone() {
	nodes := g.nodes[:0]
	for _, n := range g.nodes {
		if n.gone {
			delete(g.byID, n.n.ID)
			continue
		}
		n.from, n.aFrom = n.to, n.aTo
		nodes = append(nodes, n)
	}
	g.nodes = nodes
	edges := g.edges[:0]
	for _, e := range g.edges {
		if !e.gone {
			e.pFrom, e.aFrom = e.pTo, e.aTo
			edges = append(edges, e)
		}
	}
	g.edges = edges
}

// ease is the move's progress with a smooth start and end.
func (g *CallGraph) ease() float64 {
	t := g.progress
	return t * t * (3 - 2*t)
}

// Animating reports whether a move or a flash is under way.
func (g *CallGraph) Animating() bool {
	if g.progress < 1 {
		return true
	}
	for _, n := range g.nodes {
		if n.flash > 0 {
			return true
		}
	}
	return false
}

func (g *CallGraph) startAnimation() {
	if g.anim != nil || g.manual || !g.Animating() {
		return
	}
	g.lastAni = time.Now()
	g.anim = fyne.NewAnimation(time.Hour, func(float32) {
		now := time.Now()
		dt := now.Sub(g.lastAni).Seconds()
		g.lastAni = now
		if !g.Tick(dt) && g.anim != nil {
			a := g.anim
			g.anim = nil
			a.Stop()
		}
	})
	g.anim.Curve = fyne.AnimationLinear
	g.anim.Start()
}

// Selected returns the selected function, if any.
func (g *CallGraph) Selected() (tracer.GraphNode, bool) {
	if n := g.byID[g.selected]; g.hasSel && n != nil && !n.gone {
		return n.n, true
	}
	return tracer.GraphNode{}, false
}

// Select selects the function id (when shown) without calling OnSelected.
func (g *CallGraph) Select(id tracer.FrameID) {
	g.selected, g.hasSel = id, true
	g.Refresh()
}

// Nodes returns the functions shown, in drawing order.
func (g *CallGraph) Nodes() []tracer.GraphNode {
	out := make([]tracer.GraphNode, 0, len(g.nodes))
	for _, n := range g.nodes {
		if !n.gone {
			out = append(out, n.n)
		}
	}
	return out
}

// ---- view: pan, zoom, fit ----

// ZoomIn, ZoomOut and Fit are for buttons; scrolling zooms too.
func (g *CallGraph) ZoomIn()  { g.zoomAt(1.25, g.center()) }
func (g *CallGraph) ZoomOut() { g.zoomAt(0.8, g.center()) }

// Fit scales the graph to fit the widget and keeps it fitted as it grows
// until the user pans or zooms.
func (g *CallGraph) Fit() {
	g.fit = true
	g.Refresh()
}

// Zoom returns the current zoom factor (1: a layout point is a unit).
func (g *CallGraph) Zoom() float32 { return g.zoom }

func (g *CallGraph) center() fyne.Position {
	s := g.Size()
	return fyne.NewPos(s.Width/2, s.Height/2)
}

func (g *CallGraph) zoomAt(f float32, at fyne.Position) {
	z := min(max(g.zoom*f, 0.05), 8)
	f = z / g.zoom
	g.pan = fyne.NewPos(at.X-(at.X-g.pan.X)*f, at.Y-(at.Y-g.pan.Y)*f)
	g.zoom, g.fit = z, false
	g.Refresh()
}

// fitView sets zoom and pan so the target layout fits the widget.
func (g *CallGraph) fitView() {
	s := g.Size()
	if g.width <= 0 || g.height <= 0 || s.Width <= 0 || s.Height <= 0 {
		g.zoom, g.pan = 1, fyne.NewPos(0, 0)
		return
	}
	const margin = 16
	top := max(margin, g.legendH+8) // below the legend
	z := min(float64(s.Width-2*margin)/g.width, float64(s.Height-top-margin)/g.height, cgMaxFitZoom)
	g.zoom = float32(max(z, 0.02))
	g.pan = fyne.NewPos((s.Width-float32(g.width)*g.zoom)/2, top+(s.Height-top-margin-float32(g.height)*g.zoom)/2)
}

func (g *CallGraph) toScreen(x, y float64) fyne.Position {
	return fyne.NewPos(float32(x)*g.zoom+g.pan.X, float32(y)*g.zoom+g.pan.Y)
}

// nodeAt returns the function under p (widget coordinates), if any.
func (g *CallGraph) nodeAt(p fyne.Position) *cgNode {
	t := g.ease()
	for i := len(g.nodes) - 1; i >= 0; i-- {
		n := g.nodes[i]
		if n.gone {
			continue
		}
		b := n.from.lerp(n.to, t)
		tl := g.toScreen(b.x-b.w/2, b.y-b.h/2)
		br := g.toScreen(b.x+b.w/2, b.y+b.h/2)
		if p.X >= tl.X && p.X <= br.X && p.Y >= tl.Y && p.Y <= br.Y {
			return n
		}
	}
	return nil
}

// Tapped selects the function under the pointer, or clears the selection.
func (g *CallGraph) Tapped(ev *fyne.PointEvent) {
	n := g.nodeAt(ev.Position)
	g.hasSel = n != nil
	if n != nil {
		g.selected = n.n.ID
	}
	g.Refresh()
	if g.OnSelected != nil {
		if n != nil {
			g.OnSelected(n.n, true)
		} else {
			g.OnSelected(tracer.GraphNode{}, false)
		}
	}
}

// DoubleTapped opens the function under the pointer.
func (g *CallGraph) DoubleTapped(ev *fyne.PointEvent) {
	if n := g.nodeAt(ev.Position); n != nil {
		g.selected, g.hasSel = n.n.ID, true
		g.Refresh()
		if g.OnOpen != nil {
			g.OnOpen(n.n)
		}
	}
}

// Dragged pans.
func (g *CallGraph) Dragged(ev *fyne.DragEvent) {
	g.pan = g.pan.Add(ev.Dragged)
	g.fit = false
	g.Refresh()
}

// DragEnd ends a pan.
func (g *CallGraph) DragEnd() {}

// Scrolled zooms about the pointer.
func (g *CallGraph) Scrolled(ev *fyne.ScrollEvent) {
	f := float32(math.Pow(1.0015, float64(ev.Scrolled.DY)))
	g.zoomAt(f, ev.Position)
}

// MouseIn starts hover details.
func (g *CallGraph) MouseIn(ev *desktop.MouseEvent) { g.MouseMoved(ev) }

// MouseMoved shows the details of the function under the pointer.
func (g *CallGraph) MouseMoved(ev *desktop.MouseEvent) {
	n := g.nodeAt(ev.Position)
	if n != g.hover || n != nil {
		g.hover, g.hoverAt = n, ev.Position
		g.Refresh()
	}
}

// MouseOut hides hover details.
func (g *CallGraph) MouseOut() {
	if g.hover != nil {
		g.hover = nil
		g.Refresh()
	}
}

// HoverText is the detail shown for a function under the pointer.
func (g *CallGraph) HoverText(n tracer.GraphNode) []string {
	return tracer.NodeLabel(n, g.total)
}

// CreateRenderer is part of fyne.Widget.
func (g *CallGraph) CreateRenderer() fyne.WidgetRenderer {
	r := &callGraphRenderer{g: g}
	r.paper = canvas.NewRectangle(color.NRGBA{0xfb, 0xfb, 0xf8, 0xff})
	r.raster = canvas.NewRaster(r.drawEdges)
	r.empty = canvas.NewText("No calls yet", color.NRGBA{0x88, 0x88, 0x88, 0xff})
	r.legendBG = canvas.NewRectangle(color.NRGBA{0xff, 0xff, 0xff, 0xe0})
	r.legendBG.StrokeColor = color.NRGBA{0x99, 0x99, 0x99, 0xff}
	r.legendBG.StrokeWidth = 1
	r.legendBG.CornerRadius = 4
	r.tipBG = canvas.NewRectangle(color.NRGBA{0xff, 0xff, 0xe8, 0xf4})
	r.tipBG.StrokeColor = color.NRGBA{0x66, 0x66, 0x66, 0xff}
	r.tipBG.StrokeWidth = 1
	r.tipBG.CornerRadius = 3
	for i := range r.swatches {
		r.swatches[i] = canvas.NewRectangle(tracer.Heat(float64(i) / float64(len(r.swatches)-1)))
	}
	return r
}

// ---- renderer ----

type cgBox struct {
	rect  *canvas.Rectangle
	texts [3]*canvas.Text
}

type callGraphRenderer struct {
	g        *CallGraph
	paper    *canvas.Rectangle // a light background in any theme
	raster   *canvas.Raster
	boxes    []cgBox
	labels   []*canvas.Text // edge labels
	empty    *canvas.Text
	legendBG *canvas.Rectangle
	legend   []*canvas.Text
	swatches [6]*canvas.Rectangle
	tipBG    *canvas.Rectangle
	tip      []*canvas.Text
	objects  []fyne.CanvasObject

	img  *image.RGBA
	mask *image.Alpha
	z    vector.Rasterizer
}

var _ fyne.WidgetRenderer = (*callGraphRenderer)(nil)

func (r *callGraphRenderer) Destroy() {
	if a := r.g.anim; a != nil {
		r.g.anim = nil
		a.Stop()
	}
}

func (r *callGraphRenderer) MinSize() fyne.Size { return fyne.NewSize(100, 100) }

func (r *callGraphRenderer) Objects() []fyne.CanvasObject { return r.objects }

func (r *callGraphRenderer) Layout(fyne.Size) { r.Refresh() }

func textObj(size float32, bold bool) *canvas.Text {
	t := canvas.NewText("", color.Black)
	t.TextSize = size
	t.TextStyle = fyne.TextStyle{Bold: bold}
	return t
}

// Refresh places every object for the current animation state.
func (r *callGraphRenderer) Refresh() {
	g := r.g
	if g.fit {
		g.fitView()
	}
	t := g.ease()
	for len(r.boxes) < len(g.nodes) {
		b := cgBox{rect: canvas.NewRectangle(color.White)}
		b.rect.CornerRadius = 5
		for i := range b.texts {
			b.texts[i] = textObj(cgTextSize, i == 0)
			b.texts[i].Alignment = fyne.TextAlignCenter
		}
		r.boxes = append(r.boxes, b)
	}
	objs := r.objects[:0]
	objs = append(objs, r.paper, r.raster)
	r.paper.Resize(g.Size())
	r.raster.Resize(g.Size())

	// edge labels
	nLabels := 0
	for _, e := range g.edges {
		a := lerp(e.aFrom, e.aTo, t)
		size := 9 * g.zoom
		if a < 0.05 || size < cgMinText {
			continue
		}
		if nLabels == len(r.labels) {
			r.labels = append(r.labels, textObj(9, false))
		}
		l := r.labels[nLabels]
		nLabels++
		pts := lerpPoints(e.pFrom, e.pTo, t)
		mid := pts[len(pts)/2]
		l.Text = fmt.Sprintf("%d×", e.calls)
		l.TextSize = size
		l.Color = color.NRGBA{0x44, 0x44, 0x44, uint8(255 * a)}
		p := g.toScreen(mid.X, mid.Y)
		l.Move(p.Add(fyne.NewPos(3, -size/2)))
		l.Refresh()
		objs = append(objs, l)
	}

	for i, n := range g.nodes {
		b := r.boxes[i]
		bx := n.from.lerp(n.to, t)
		a := lerp(n.aFrom, n.aTo, t)
		fill := tracer.Heat(fraction(g.metric.Of(n.n), g.total))
		fill.A = uint8(255 * a)
		b.rect.FillColor = fill
		stroke := color.NRGBA{0x70, 0x70, 0x70, uint8(255 * a)}
		width := float32(1)
		if g.hasSel && n.n.ID == g.selected {
			stroke, width = color.NRGBA{0x1e, 0x63, 0xd6, uint8(255 * a)}, 3
		}
		if n.flash > 0 {
			f := n.flash
			stroke = color.NRGBA{
				uint8(lerp(float64(stroke.R), 0xff, f)), uint8(lerp(float64(stroke.G), 0xd0, f)),
				uint8(lerp(float64(stroke.B), 0x00, f)), uint8(255 * a),
			}
			width = max(width, float32(1+4*f))
		}
		if n.n.Open {
			width = max(width, 2)
		}
		b.rect.StrokeColor, b.rect.StrokeWidth = stroke, width
		tl := g.toScreen(bx.x-bx.w/2, bx.y-bx.h/2)
		size := fyne.NewSize(float32(bx.w)*g.zoom, float32(bx.h)*g.zoom)
		b.rect.Move(tl)
		b.rect.Resize(size)
		b.rect.CornerRadius = 5 * g.zoom
		b.rect.Refresh()
		objs = append(objs, b.rect)

		ts := float32(cgTextSize*n.scale) * g.zoom
		if ts < cgMinText {
			continue
		}
		lines := cgLabel(n.n, g.total, g.metric)
		txtColor := color.NRGBA{0x11, 0x11, 0x11, uint8(255 * a)}
		if fraction(g.metric.Of(n.n), g.total) > 0.5 {
			txtColor = color.NRGBA{0xff, 0xff, 0xff, uint8(255 * a)}
		}
		y := tl.Y + cgPad*g.zoom
		for j, txt := range b.texts {
			txt.Text, txt.TextSize, txt.Color = lines[j], ts, txtColor
			h := fyne.MeasureText(txt.Text, ts, txt.TextStyle).Height
			txt.Move(fyne.NewPos(tl.X, y))
			txt.Resize(fyne.NewSize(size.Width, h))
			txt.Refresh()
			y += h
			objs = append(objs, txt)
		}
	}

	if len(g.nodes) == 0 {
		r.empty.TextSize = theme.TextSize() * 1.2
		ms := r.empty.MinSize()
		s := g.Size()
		r.empty.Move(fyne.NewPos((s.Width-ms.Width)/2, (s.Height-ms.Height)/2))
		r.empty.Resize(ms)
		objs = append(objs, r.empty)
	}
	objs = r.layoutLegend(objs)
	objs = r.layoutTip(objs)
	r.objects = objs
	r.raster.Refresh()
}

// layoutLegend draws the colour scale and the legend lines at the top left.
func (r *callGraphRenderer) layoutLegend(objs []fyne.CanvasObject) []fyne.CanvasObject {
	g := r.g
	if len(g.nodes) == 0 && len(g.legend) == 0 {
		g.legendH = 0
		return objs
	}
	lines := append([]string{"colour: share of " + g.metric.String() + " time"}, g.legend...)
	for len(r.legend) < len(lines)+2 {
		r.legend = append(r.legend, textObj(11, false))
	}
	const pad, size = 6, 11
	x, y := float32(8+pad), float32(8+pad)
	var w float32
	for i, l := range lines {
		t := r.legend[i]
		t.Text, t.TextSize, t.Color = l, size, color.NRGBA{0x22, 0x22, 0x22, 0xff}
		t.TextStyle = fyne.TextStyle{Bold: i == 0}
		ms := t.MinSize()
		t.Move(fyne.NewPos(x, y))
		t.Resize(ms)
		t.Refresh()
		w = max(w, ms.Width)
		y += ms.Height
		objs = append(objs, t)
		if i == 0 { // the scale under the first line
			sw := float32(28)
			for j, s := range r.swatches {
				s.Move(fyne.NewPos(x+float32(j)*sw, y+2))
				s.Resize(fyne.NewSize(sw, 10))
				objs = append(objs, s)
			}
			lo, hi := r.legend[len(lines)], r.legend[len(lines)+1]
			lo.Text, hi.Text = "0%", "100%"
			for k, t := range []*canvas.Text{lo, hi} {
				t.TextSize, t.Color = 9, color.NRGBA{0x44, 0x44, 0x44, 0xff}
				ms := t.MinSize()
				px := x
				if k == 1 {
					px = x + sw*float32(len(r.swatches)) - ms.Width
				}
				t.Move(fyne.NewPos(px, y+13))
				t.Resize(ms)
				t.Refresh()
				objs = append(objs, t)
			}
			w = max(w, sw*float32(len(r.swatches)))
			y += 28
		}
	}
	r.legendBG.Move(fyne.NewPos(8, 8))
	r.legendBG.Resize(fyne.NewSize(w+2*pad, y-8+pad))
	g.legendH = y + pad
	r.legendBG.Refresh()
	// the background goes under the legend's text
	i := len(objs) - (len(lines) + 2 + len(r.swatches))
	objs = append(objs, nil)
	copy(objs[i+1:], objs[i:])
	objs[i] = r.legendBG
	return objs
}

// layoutTip draws the hover details next to the pointer.
func (r *callGraphRenderer) layoutTip(objs []fyne.CanvasObject) []fyne.CanvasObject {
	g := r.g
	if g.hover == nil || g.hover.gone {
		return objs
	}
	lines := g.HoverText(g.hover.n)
	for len(r.tip) < len(lines) {
		r.tip = append(r.tip, textObj(11, false))
	}
	const pad = 5
	var w, h float32
	for i, l := range lines {
		t := r.tip[i]
		t.Text, t.Color, t.TextStyle = l, color.NRGBA{0x11, 0x11, 0x11, 0xff}, fyne.TextStyle{Bold: i == 0}
		ms := t.MinSize()
		w, h = max(w, ms.Width), h+ms.Height
	}
	s := g.Size()
	p := g.hoverAt.Add(fyne.NewPos(14, 14))
	if p.X+w+2*pad > s.Width {
		p.X = max(0, g.hoverAt.X-w-2*pad-6)
	}
	if p.Y+h+2*pad > s.Height {
		p.Y = max(0, g.hoverAt.Y-h-2*pad-6)
	}
	r.tipBG.Move(p)
	r.tipBG.Resize(fyne.NewSize(w+2*pad, h+2*pad))
	r.tipBG.Refresh()
	objs = append(objs, r.tipBG)
	y := p.Y + pad
	for i := range lines {
		t := r.tip[i]
		ms := t.MinSize()
		t.Move(fyne.NewPos(p.X+pad, y))
		t.Resize(ms)
		t.Refresh()
		y += ms.Height
		objs = append(objs, t)
	}
	return objs
}

// drawEdges rasterises the edges and their arrowheads at the canvas's
// pixel size.
func (r *callGraphRenderer) drawEdges(w, h int) image.Image {
	g := r.g
	if w <= 0 || h <= 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	if r.img == nil || r.img.Bounds().Dx() != w || r.img.Bounds().Dy() != h {
		r.img = image.NewRGBA(image.Rect(0, 0, w, h))
		r.mask = image.NewAlpha(image.Rect(0, 0, w, h))
	} else {
		clear(r.img.Pix)
	}
	size := g.Size()
	if size.Width <= 0 {
		return r.img
	}
	px := float64(w) / float64(size.Width) // pixels per unit
	t := g.ease()
	// group edges by colour and opacity so each group is one pass
	type group struct {
		c     color.NRGBA
		edges []*cgEdge
	}
	var groups []group
	find := func(c color.NRGBA) *group {
		for i := range groups {
			if groups[i].c == c {
				return &groups[i]
			}
		}
		groups = append(groups, group{c: c})
		return &groups[len(groups)-1]
	}
	for _, e := range g.edges {
		a := lerp(e.aFrom, e.aTo, t)
		if a < 0.02 {
			continue
		}
		c := color.NRGBA{0x55, 0x55, 0x55, 0xff}
		if g.hasSel && (e.from == g.selected || e.to == g.selected) {
			c = color.NRGBA{0x1e, 0x63, 0xd6, 0xff}
		}
		c.A = uint8(math.Round(float64(c.A)*a/0.125) * 0.125)
		gr := find(c)
		gr.edges = append(gr.edges, e)
	}
	zoom := float64(g.zoom)
	for _, gr := range groups {
		r.z.Reset(w, h)
		for _, e := range gr.edges {
			pts := lerpPoints(e.pFrom, e.pTo, t)
			sp := make([]gvlayout.Point, len(pts))
			for i, p := range pts {
				s := g.toScreen(p.X, p.Y)
				sp[i] = gvlayout.Point{X: float64(s.X) * px, Y: float64(s.Y) * px}
			}
			lw := max(e.width*zoom*px, 1)
			arrow := max(7*zoom*px, 4) + lw
			// the line stops at the arrowhead's base
			n := len(sp)
			tip, prev := sp[n-1], sp[n-2]
			dx, dy := tip.X-prev.X, tip.Y-prev.Y
			d := math.Hypot(dx, dy)
			if d < 1e-6 {
				dx, dy, d = 0, 1, 1
			}
			ux, uy := dx/d, dy/d
			base := gvlayout.Point{X: tip.X - ux*arrow, Y: tip.Y - uy*arrow}
			line := append(sp[:n-1:n-1], base)
			strokePolyline(&r.z, line, lw)
			half := arrow * 0.45
			r.z.MoveTo(float32(tip.X), float32(tip.Y))
			r.z.LineTo(float32(base.X-uy*half), float32(base.Y+ux*half))
			r.z.LineTo(float32(base.X+uy*half), float32(base.Y-ux*half))
			r.z.ClosePath()
		}
		clear(r.mask.Pix)
		r.z.Draw(r.mask, r.mask.Bounds(), image.Opaque, image.Point{})
		draw.DrawMask(r.img, r.img.Bounds(), image.NewUniform(gr.c), image.Point{}, r.mask, image.Point{}, draw.Over)
	}
	return r.img
}

// strokePolyline adds a quad of width lw per segment, inner ends
// extended by half the width so bends have no gaps. All quads wind the
// same way: the rasteriser adds signed coverage.
func strokePolyline(z *vector.Rasterizer, pts []gvlayout.Point, lw float64) {
	h := lw / 2
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		dx, dy := b.X-a.X, b.Y-a.Y
		d := math.Hypot(dx, dy)
		if d < 1e-9 {
			continue
		}
		ux, uy := dx/d, dy/d
		if i > 1 {
			a.X, a.Y = a.X-ux*h, a.Y-uy*h
		}
		if i < len(pts)-1 {
			b.X, b.Y = b.X+ux*h, b.Y+uy*h
		}
		nx, ny := -uy*h, ux*h
		z.MoveTo(float32(a.X+nx), float32(a.Y+ny))
		z.LineTo(float32(b.X+nx), float32(b.Y+ny))
		z.LineTo(float32(b.X-nx), float32(b.Y-ny))
		z.LineTo(float32(a.X-nx), float32(a.Y-ny))
		z.ClosePath()
	}
}

// sampleEdge turns Graphviz's B-spline into cgSamples points along it,
// ending at the arrow's tip.
func sampleEdge(e gvlayout.Edge) []gvlayout.Point {
	pts := e.Points
	out := make([]gvlayout.Point, 0, cgSamples)
	if len(pts) < 4 {
		a, b := gvlayout.Point{}, gvlayout.Point{}
		if len(pts) > 0 {
			a, b = pts[0], pts[len(pts)-1]
		}
		if e.HasArrow {
			b = e.Arrow
		}
		for i := range cgSamples {
			f := float64(i) / float64(cgSamples-1)
			out = append(out, gvlayout.Point{X: lerp(a.X, b.X, f), Y: lerp(a.Y, b.Y, f)})
		}
		return out
	}
	segs := (len(pts) - 1) / 3
	n := cgSamples
	if e.HasArrow {
		n-- // the last point is the tip
	}
	for i := range n {
		f := float64(i) / float64(n-1) * float64(segs)
		s := min(int(f), segs-1)
		u := f - float64(s)
		p0, p1, p2, p3 := pts[3*s], pts[3*s+1], pts[3*s+2], pts[3*s+3]
		v := 1 - u
		out = append(out, gvlayout.Point{
			X: v*v*v*p0.X + 3*v*v*u*p1.X + 3*v*u*u*p2.X + u*u*u*p3.X,
			Y: v*v*v*p0.Y + 3*v*v*u*p1.Y + 3*v*u*u*p2.Y + u*u*u*p3.Y,
		})
	}
	if e.HasArrow {
		out = append(out, e.Arrow)
	}
	return out
}

func lerpPoints(a, b []gvlayout.Point, t float64) []gvlayout.Point {
	if t >= 1 || len(a) != len(b) {
		return b
	}
	out := make([]gvlayout.Point, len(b))
	for i := range b {
		out[i] = gvlayout.Point{X: lerp(a[i].X, b[i].X, t), Y: lerp(a[i].Y, b[i].Y, t)}
	}
	return out
}
