package widgets

import (
	"image"
	"image/color"
	"math"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape"
)

// Mark highlights a node on the landscape map.
type Mark int

// Marks, in increasing priority.
const (
	MarkNone    Mark = iota
	MarkChanged      // its attributes changed at the time shown
	MarkAdded        // it appeared at the time shown
	MarkMatch        // it matches the search
)

// Layer colours: fill and border. Service warm, virtual green, physical
// blue, as in the legend.
var (
	lmLayerFill = map[string]color.NRGBA{
		landscape.Service:  {0xfd, 0xd8, 0xa8, 0xff},
		landscape.Virtual:  {0xcd, 0xeb, 0xc5, 0xff},
		landscape.Physical: {0xc6, 0xdb, 0xef, 0xff},
	}
	lmLayerInk = map[string]color.NRGBA{
		landscape.Service:  {0xc2, 0x6a, 0x0c, 0xff},
		landscape.Virtual:  {0x3a, 0x8a, 0x3a, 0xff},
		landscape.Physical: {0x2f, 0x5f, 0x9a, 0xff},
	}
	lmBandTint = map[string]color.NRGBA{
		landscape.Service:  {0xfe, 0xf4, 0xe8, 0xff},
		landscape.Virtual:  {0xf1, 0xf8, 0xef, 0xff},
		landscape.Physical: {0xee, 0xf4, 0xfb, 0xff},
	}
	lmOtherFill  = color.NRGBA{0xe4, 0xe4, 0xe4, 0xff}
	lmOtherInk   = color.NRGBA{0x70, 0x70, 0x70, 0xff}
	lmPaper      = color.NRGBA{0xfc, 0xfc, 0xfb, 0xff}
	lmEdgeInk    = color.NRGBA{0x80, 0x80, 0x88, 0x70}
	lmEdgeStrong = color.NRGBA{0x20, 0x20, 0x28, 0xe0}
	lmMarkInk    = map[Mark]color.NRGBA{
		MarkChanged: {0xe0, 0x8a, 0x00, 0xff},
		MarkAdded:   {0x1a, 0xa0, 0x3a, 0xff},
		MarkMatch:   {0xd0, 0x10, 0x60, 0xff},
	}
	lmSelectInk = color.NRGBA{0x10, 0x10, 0x10, 0xff}
	lmLabelInk  = color.NRGBA{0x18, 0x1c, 0x24, 0xff}
	lmTypeInk   = color.NRGBA{0x50, 0x58, 0x64, 0xff}
)

// LayerFill is the fill colour of a layer's nodes, for legends.
func LayerFill(layer string) color.Color {
	if c, ok := lmLayerFill[layer]; ok {
		return c
	}
	return lmOtherFill
}

// lmMaxLabels caps the text objects drawn at once; beyond it only boxes are
// drawn until the user zooms in.
const lmMaxLabels = 500

// LandscapeMap draws a landscape laid out in layers: service on top,
// virtual in the middle, physical at the bottom, with pan (drag), zoom
// (scroll) and fit. A tap selects a node, a double tap activates it (e.g.
// unfolds a group).
type LandscapeMap struct {
	widget.BaseWidget

	// OnSelected is called with the tapped node's ID, or "" for empty space.
	OnSelected func(id string)
	// OnActivated is called when a node is double-tapped.
	OnActivated func(id string)

	graph    *landscape.Graph
	lay      *landscape.Layout
	marks    map[string]Mark
	selected int // index in graph.Nodes, -1 for none

	zoom       float64 // screen pixels per map unit
	offX, offY float64 // map point at the top-left corner
	fitted     bool    // the view was fitted to this size

	marksGen int // counts changes of marks, for the renderer's cache

	// health colours the nodes by anomaly state, by node id; nil: layer
	// colours only (SetHealth).
	health map[string]NodeHealth

	hover   string // the node under the pointer
	tipBG   *canvas.Rectangle
	tipText *canvas.Text
}

var _ fyne.Widget = (*LandscapeMap)(nil)
var _ fyne.Draggable = (*LandscapeMap)(nil)
var _ fyne.Scrollable = (*LandscapeMap)(nil)
var _ fyne.Tappable = (*LandscapeMap)(nil)
var _ fyne.DoubleTappable = (*LandscapeMap)(nil)
var _ desktop.Hoverable = (*LandscapeMap)(nil)

// NewLandscapeMap returns an empty map; give it a graph with SetGraph.
func NewLandscapeMap() *LandscapeMap {
	m := &LandscapeMap{selected: -1, zoom: 1}
	m.tipBG = canvas.NewRectangle(color.NRGBA{0xff, 0xff, 0xf0, 0xf4})
	m.tipBG.StrokeColor = color.NRGBA{0x80, 0x80, 0x80, 0xff}
	m.tipBG.StrokeWidth = 1
	m.tipText = canvas.NewText("", lmLabelInk)
	m.tipText.TextSize = 12
	m.tipBG.Hide()
	m.tipText.Hide()
	m.ExtendBaseWidget(m)
	return m
}

// SetGraph shows g laid out as lay (from landscape.LayoutGraph on g). The
// view is fitted when fit is true or nothing was shown before; the
// selection stays when its node is still there. Call on the UI goroutine.
func (m *LandscapeMap) SetGraph(g *landscape.Graph, lay *landscape.Layout, fit bool) {
	sel := m.Selected()
	first := m.graph == nil
	m.graph, m.lay = g, lay
	m.selected = -1
	if sel != "" && g != nil {
		m.selected = m.index(sel)
	}
	if fit || first {
		m.fitted = false
		m.fit(m.Size())
	}
	m.Refresh()
}

// Graph returns the graph shown.
func (m *LandscapeMap) Graph() *landscape.Graph { return m.graph }

// SetMarks highlights nodes by ID (nil clears). Call on the UI goroutine.
func (m *LandscapeMap) SetMarks(marks map[string]Mark) {
	m.marks = marks
	m.marksGen++
	m.Refresh()
}

// Selected returns the selected node's ID, or "".
func (m *LandscapeMap) Selected() string {
	if m.graph == nil || m.selected < 0 || m.selected >= len(m.graph.Nodes) {
		return ""
	}
	return m.graph.Nodes[m.selected].ID
}

// Select selects the node id ("" clears) without calling OnSelected.
func (m *LandscapeMap) Select(id string) {
	m.selected = m.index(id)
	m.Refresh()
}

func (m *LandscapeMap) index(id string) int {
	if m.graph == nil || id == "" {
		return -1
	}
	return m.graph.Index(id)
}

// Zoom returns the screen pixels per map unit.
func (m *LandscapeMap) Zoom() float64 { return m.zoom }

// Fit zooms and pans so that the whole graph is visible.
func (m *LandscapeMap) Fit() {
	m.fitted = false
	m.fit(m.Size())
	m.Refresh()
}

func (m *LandscapeMap) fit(size fyne.Size) {
	if m.lay == nil || size.Width < 1 || size.Height < 1 {
		return
	}
	// Screen margins; the left one leaves room for the band titles.
	const left, right, top, bottom = 78.0, 12.0, 12.0, 12.0
	aw := math.Max(float64(size.Width)-left-right, 10)
	ah := math.Max(float64(size.Height)-top-bottom, 10)
	m.zoom = math.Min(math.Min(aw/m.lay.Width, ah/m.lay.Height), 1.5)
	m.offX = -(left + (aw-m.lay.Width*m.zoom)/2) / m.zoom
	m.offY = -(top + (ah-m.lay.Height*m.zoom)/2) / m.zoom
	m.fitted = true
}

// ZoomBy zooms by f about the centre of the view.
func (m *LandscapeMap) ZoomBy(f float64) {
	s := m.Size()
	m.zoomAt(f, float64(s.Width)/2, float64(s.Height)/2)
	m.Refresh()
}

func (m *LandscapeMap) zoomAt(f, sx, sy float64) {
	z := math.Max(0.002, math.Min(m.zoom*f, 8))
	// Keep the map point under (sx, sy) where it is.
	mx, my := m.offX+sx/m.zoom, m.offY+sy/m.zoom
	m.zoom = z
	m.offX, m.offY = mx-sx/z, my-sy/z
}

// CenterOn pans so that node id is in the middle, zooming in to make its
// label readable when needed.
func (m *LandscapeMap) CenterOn(id string) {
	i := m.index(id)
	if i < 0 {
		return
	}
	if m.zoom < 0.8 {
		m.zoom = 1
	}
	s := m.Size()
	p := m.lay.Pos[i]
	m.offX = p.X - float64(s.Width)/2/m.zoom
	m.offY = p.Y - float64(s.Height)/2/m.zoom
	m.Refresh()
}

// ToScreen returns where map point (x, y) is on the widget.
func (m *LandscapeMap) ToScreen(x, y float64) fyne.Position {
	return fyne.NewPos(float32((x-m.offX)*m.zoom), float32((y-m.offY)*m.zoom))
}

// NodeScreenPos returns the screen position of node id's centre.
func (m *LandscapeMap) NodeScreenPos(id string) (fyne.Position, bool) {
	i := m.index(id)
	if i < 0 {
		return fyne.Position{}, false
	}
	p := m.lay.Pos[i]
	return m.ToScreen(p.X, p.Y), true
}

// NodeAt returns the ID of the node under screen position pos, or "".
func (m *LandscapeMap) NodeAt(pos fyne.Position) string {
	if m.graph == nil || m.lay == nil {
		return ""
	}
	mx := m.offX + float64(pos.X)/m.zoom
	my := m.offY + float64(pos.Y)/m.zoom
	// A few pixels of slack so tiny boxes can still be hit.
	slack := 3 / m.zoom
	for i, p := range m.lay.Pos {
		if math.Abs(mx-p.X) <= landscape.NodeWidth/2+slack && math.Abs(my-p.Y) <= landscape.NodeHeight/2+slack {
			return m.graph.Nodes[i].ID
		}
	}
	return ""
}

// Tapped selects the node under the pointer.
func (m *LandscapeMap) Tapped(ev *fyne.PointEvent) {
	id := m.NodeAt(ev.Position)
	m.selected = m.index(id)
	m.Refresh()
	if m.OnSelected != nil {
		m.OnSelected(id)
	}
}

// DoubleTapped activates the node under the pointer.
func (m *LandscapeMap) DoubleTapped(ev *fyne.PointEvent) {
	if id := m.NodeAt(ev.Position); id != "" && m.OnActivated != nil {
		m.OnActivated(id)
	}
}

// MouseIn shows what is under the pointer.
func (m *LandscapeMap) MouseIn(ev *desktop.MouseEvent) { m.MouseMoved(ev) }

// MouseMoved shows the name, type and layer of the node under the pointer
// in a small box beside it; only the box is redrawn.
func (m *LandscapeMap) MouseMoved(ev *desktop.MouseEvent) {
	id := m.NodeAt(ev.Position)
	if id == "" {
		m.MouseOut()
		return
	}
	if id != m.hover {
		m.hover = id
		n := m.graph.Node(id)
		text := n.Label()
		if n.Type != "" {
			text += " · " + n.Type
		}
		if n.Layer != "" {
			text += " (" + n.Layer + ")"
		}
		m.tipText.Text = text
	}
	ts := m.tipText.MinSize()
	pos := ev.Position.AddXY(14, 16)
	if s := m.Size(); pos.X+ts.Width+8 > s.Width {
		pos.X = max(0, ev.Position.X-ts.Width-14)
	}
	m.tipBG.Move(pos)
	m.tipBG.Resize(ts.AddWidthHeight(8, 4))
	m.tipText.Move(pos.AddXY(4, 2))
	m.tipText.Resize(ts)
	m.tipBG.Show()
	m.tipText.Show()
	canvas.Refresh(m.tipBG)
	canvas.Refresh(m.tipText)
}

// MouseOut hides the box.
func (m *LandscapeMap) MouseOut() {
	if m.hover == "" && m.tipText.Hidden {
		return
	}
	m.hover = ""
	m.tipBG.Hide()
	m.tipText.Hide()
	canvas.Refresh(m.tipBG)
	canvas.Refresh(m.tipText)
}

// Hovered returns the text shown for the node under the pointer, or "".
func (m *LandscapeMap) Hovered() string {
	if m.tipText.Hidden {
		return ""
	}
	return m.tipText.Text
}

// Dragged pans.
func (m *LandscapeMap) Dragged(ev *fyne.DragEvent) {
	m.MouseOut()
	m.offX -= float64(ev.Dragged.DX) / m.zoom
	m.offY -= float64(ev.Dragged.DY) / m.zoom
	m.Refresh()
}

// DragEnd implements fyne.Draggable.
func (m *LandscapeMap) DragEnd() {}

// Scrolled zooms about the pointer.
func (m *LandscapeMap) Scrolled(ev *fyne.ScrollEvent) {
	f := math.Pow(1.0025, float64(ev.Scrolled.DY))
	m.zoomAt(f, float64(ev.Position.X), float64(ev.Position.Y))
	m.Refresh()
}

// CreateRenderer implements fyne.Widget.
func (m *LandscapeMap) CreateRenderer() fyne.WidgetRenderer {
	r := &landscapeMapRenderer{m: m}
	r.raster = canvas.NewRaster(r.draw)
	r.empty = canvas.NewText("No landscape yet", color.NRGBA{0x88, 0x88, 0x88, 0xff})
	r.empty.TextSize = 16
	return r
}

type landscapeMapRenderer struct {
	m         *LandscapeMap
	raster    *canvas.Raster
	empty     *canvas.Text
	labels    []*canvas.Text // pool; the first used are shown
	used      int
	backs     []*canvas.Rectangle // pool of label backgrounds; the first usedBacks are shown
	usedBacks int
	size      fyne.Size
	bufs      [2]*image.NRGBA
	flip      bool

	scene    *image.NRGBA // the whole drawing at sceneKey's zoom, when small enough
	scenePix []uint8      // scene's memory, kept across sizes
	lastKey  sceneKey     // the key of the last frame drawn without the cache
	sceneKey sceneKey
}

var _ fyne.WidgetRenderer = (*landscapeMapRenderer)(nil)

func (r *landscapeMapRenderer) Layout(size fyne.Size) {
	r.size = size
	if !r.m.fitted {
		r.m.fit(size)
	}
	r.raster.Resize(size)
	r.raster.Move(fyne.NewPos(0, 0))
	r.empty.Move(fyne.NewPos(16, 16))
	r.placeLabels()
}

func (r *landscapeMapRenderer) MinSize() fyne.Size { return fyne.NewSize(200, 150) }

func (r *landscapeMapRenderer) Refresh() {
	if !r.m.fitted {
		r.m.fit(r.m.Size())
	}
	r.empty.Hidden = r.m.graph != nil && len(r.m.graph.Nodes) > 0
	r.placeLabels()
	r.raster.Refresh()
	canvas.Refresh(r.m)
}

func (r *landscapeMapRenderer) Objects() []fyne.CanvasObject {
	objs := make([]fyne.CanvasObject, 0, 4+len(r.labels)+r.usedBacks)
	objs = append(objs, r.raster, r.empty)
	for _, b := range r.backs[:r.usedBacks] {
		objs = append(objs, b)
	}
	for _, t := range r.labels[:r.used] {
		objs = append(objs, t)
	}
	return append(objs, r.m.tipBG, r.m.tipText)
}

func (r *landscapeMapRenderer) Destroy() {}

// back returns a label background from the pool.
func (r *landscapeMapRenderer) back() *canvas.Rectangle {
	if r.usedBacks == len(r.backs) {
		r.backs = append(r.backs, canvas.NewRectangle(color.NRGBA{0xfc, 0xfc, 0xfb, 0xe0}))
	}
	b := r.backs[r.usedBacks]
	r.usedBacks++
	return b
}

func (r *landscapeMapRenderer) label() *canvas.Text {
	if r.used == len(r.labels) {
		r.labels = append(r.labels, canvas.NewText("", lmLabelInk))
	}
	t := r.labels[r.used]
	r.used++
	return t
}

// placeLabels puts a text object on each visible box big enough to read,
// and the layer names on the bands.
func (r *landscapeMapRenderer) placeLabels() {
	m := r.m
	r.used, r.usedBacks = 0, 0
	if m.graph == nil || m.lay == nil {
		return
	}
	w, h := float64(r.size.Width), float64(r.size.Height)
	for _, b := range m.lay.Bands {
		top := m.ToScreen(0, b.Y0)
		if float64(top.Y) > h || float64(m.ToScreen(0, b.Y1).Y) < 0 {
			continue
		}
		t := r.label()
		t.Text = lmBandTitle(b.Layer)
		t.Color = lmLayerInk[b.Layer]
		t.TextSize = 13
		t.TextStyle = fyne.TextStyle{Bold: true}
		t.Move(fyne.NewPos(6, float32(math.Max(float64(top.Y)+3, 2))))
		t.Resize(t.MinSize())
	}
	r.edgeLabels(w, h)
	bw := landscape.NodeWidth * m.zoom
	bh := landscape.NodeHeight * m.zoom
	if bw < 44 || bh < 11 {
		r.sparseLabels(w, h)
		return
	}
	size := float32(math.Min(12, bh*0.42))
	showType := bh >= 30
	var visible []int
	for i, p := range m.lay.Pos {
		s := m.ToScreen(p.X, p.Y)
		if float64(s.X)+bw/2 < 0 || float64(s.X)-bw/2 > w || float64(s.Y)+bh/2 < 0 || float64(s.Y)-bh/2 > h {
			continue
		}
		visible = append(visible, i)
		if len(visible) > lmMaxLabels {
			return
		}
	}
	// Roughly 0.55 em per character in the default font.
	maxChars := int((bw - 8) / (float64(size) * 0.55))
	for _, i := range visible {
		n := &m.graph.Nodes[i]
		p := m.lay.Pos[i]
		s := m.ToScreen(p.X, p.Y)
		t := r.label()
		t.Text = lmEllipsis(n.Label(), maxChars)
		t.Color = lmLabelInk
		t.TextSize = size
		t.TextStyle = fyne.TextStyle{Bold: i == m.selected}
		ts := t.MinSize()
		y := s.Y - ts.Height/2
		if showType {
			y = s.Y - ts.Height + 1
		}
		t.Move(fyne.NewPos(s.X-ts.Width/2, y))
		t.Resize(ts)
		if showType && n.Type != "" {
			tt := r.label()
			tt.Text = lmEllipsis(n.Type, maxChars+2)
			tt.Color = lmTypeInk
			tt.TextSize = size * 0.85
			tt.TextStyle = fyne.TextStyle{Italic: true}
			tts := tt.MinSize()
			tt.Move(fyne.NewPos(s.X-tts.Width/2, s.Y))
			tt.Resize(tts)
		}
	}
}

// maxEdgeLabels caps the edge labels drawn for the selected node.
const maxEdgeLabels = 40

// edgeLabels writes the label of each edge of the selected node at its
// middle, so that what it is connected to, and how, can be read.
func (r *landscapeMapRenderer) edgeLabels(w, h float64) {
	m := r.m
	if m.selected < 0 || landscape.NodeWidth*m.zoom < 40 {
		return // no room for them between the boxes
	}
	sel := m.graph.Nodes[m.selected].ID
	k := 0
	var taken []fyne.Position // centres of the labels placed, to skip overlaps
	var sizes []fyne.Size
	for _, e := range m.graph.Edges {
		if e.Source != sel && e.Target != sel {
			continue
		}
		i, j := m.graph.Index(e.Source), m.graph.Index(e.Target)
		if i < 0 || j < 0 {
			continue
		}
		a, b := m.lay.Pos[i], m.lay.Pos[j]
		mid := m.ToScreen((a.X+b.X)/2, (a.Y+b.Y)/2)
		if float64(mid.X) < 0 || float64(mid.Y) < 0 || float64(mid.X) > w || float64(mid.Y) > h {
			continue
		}
		text := strings.ToLower(strings.ReplaceAll(e.Label, "_", " "))
		// Roughly 0.55 em per character; skip a label that would cover
		// another (the edges then share the one shown).
		ts := fyne.NewSize(float32(len(text))*10*0.55+2, 13)
		covered := false
		for q, c := range taken {
			if abs32(c.X-mid.X) < (ts.Width+sizes[q].Width)/2 && abs32(c.Y-mid.Y) < (ts.Height+sizes[q].Height)/2 {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		taken, sizes = append(taken, mid), append(sizes, ts)
		t := r.label()
		t.Text = text
		t.Color = lmEdgeStrong
		t.TextSize = 10
		t.TextStyle = fyne.TextStyle{Italic: true}
		ts = t.MinSize()
		t.Move(mid.SubtractXY(ts.Width/2, ts.Height/2))
		t.Resize(ts)
		bg := r.back()
		bg.Move(mid.SubtractXY(ts.Width/2+2, ts.Height/2))
		bg.Resize(ts.AddWidthHeight(4, 0))
		if k++; k == maxEdgeLabels {
			return
		}
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// sparseLabels labels what it can when boxes are too small to hold text:
// names under the boxes, containers before what they contain, none
// overlapping another.
func (r *landscapeMapRenderer) sparseLabels(w, h float64) {
	m := r.m
	bw := landscape.NodeWidth * m.zoom
	bh := landscape.NodeHeight * m.zoom
	if bw < 12 {
		return
	}
	const size = 10
	var visible []int
	for i, p := range m.lay.Pos {
		s := m.ToScreen(p.X, p.Y)
		if float64(s.X) < 0 || float64(s.X) > w || float64(s.Y) < 0 || float64(s.Y) > h {
			continue
		}
		visible = append(visible, i)
	}
	if len(visible) > 20*lmMaxLabels {
		return
	}
	sort.SliceStable(visible, func(a, b int) bool {
		pa, pb := m.lay.Pos[visible[a]], m.lay.Pos[visible[b]]
		if (visible[a] == m.selected) != (visible[b] == m.selected) {
			return visible[a] == m.selected
		}
		return pa.Depth < pb.Depth
	})
	type box struct{ x0, y0, x1, y1 float32 }
	var boxes []box
	for _, i := range visible {
		if len(boxes) >= lmMaxLabels/2 {
			break
		}
		n := &m.graph.Nodes[i]
		text := lmEllipsis(n.Label(), 18)
		// Roughly 0.55 em per character in the default font.
		tw := float32(len([]rune(text))) * size * 0.55
		p := m.lay.Pos[i]
		s := m.ToScreen(p.X, p.Y)
		b := box{s.X - tw/2 - 2, s.Y + float32(bh)/2, s.X + tw/2 + 2, s.Y + float32(bh)/2 + size + 3}
		free := true
		for _, o := range boxes {
			if b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1 {
				free = false
				break
			}
		}
		if !free {
			continue
		}
		boxes = append(boxes, b)
		t := r.label()
		t.Text = text
		t.Color = lmLabelInk
		t.TextSize = size
		t.TextStyle = fyne.TextStyle{Bold: i == m.selected}
		ts := t.MinSize()
		t.Move(fyne.NewPos(s.X-ts.Width/2, b.y0))
		t.Resize(ts)
	}
}

func lmBandTitle(layer string) string {
	switch layer {
	case landscape.Service:
		return "Services"
	case landscape.Virtual:
		return "Virtual"
	case landscape.Physical:
		return "Physical"
	}
	return layer
}

func lmEllipsis(s string, n int) string {
	if n < 2 {
		n = 2
	}
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}

// draw paints bands, edges and boxes into an image of w × h pixels.
func (r *landscapeMapRenderer) draw(w, h int) image.Image {
	// Two buffers, used in turn: the driver may still read the last one.
	r.flip = !r.flip
	img := r.bufs[0]
	if r.flip {
		img = r.bufs[1]
	}
	if img == nil || img.Rect.Dx() != w || img.Rect.Dy() != h {
		img = image.NewNRGBA(image.Rect(0, 0, w, h))
		if r.flip {
			r.bufs[1] = img
		} else {
			r.bufs[0] = img
		}
	}
	lmFill(img, img.Bounds(), lmPaper)
	m := r.m
	if m.graph == nil || m.lay == nil || r.size.Width <= 0 {
		return img
	}
	scale := float64(w) / float64(r.size.Width)
	z := m.zoom * scale
	// When the whole drawing at this zoom is not much bigger than the
	// view, it is drawn once and panning only copies it. It is drawn on
	// the second frame at one zoom: while zooming, every frame has a new
	// zoom and drawing just the view is cheaper.
	const margin = 8
	cw := int(m.lay.Width*z) + 2*margin
	ch := int(m.lay.Height*z) + 2*margin
	key := sceneKey{m.graph, m.lay, z, m.selected, m.marksGen}
	if cw*ch <= 4*w*h && (r.sceneKey == key || r.lastKey == key) {
		if r.scene == nil || r.sceneKey != key {
			if r.scene == nil || r.scene.Rect.Dx() != cw || r.scene.Rect.Dy() != ch {
				// Zooming changes the size at every step: reuse the memory.
				if cap(r.scenePix) < 4*cw*ch {
					r.scenePix = make([]uint8, 4*cw*ch)
				}
				r.scene = &image.NRGBA{Pix: r.scenePix[:4*cw*ch], Stride: 4 * cw, Rect: image.Rect(0, 0, cw, ch)}
			}
			lmFill(r.scene, r.scene.Bounds(), lmPaper)
			r.drawScene(r.scene, -margin/z, -margin/z, z)
			r.sceneKey = key
		}
		for _, b := range m.lay.Bands {
			y0, y1 := (b.Y0-m.offY)*z, (b.Y1-m.offY)*z
			lmFill(img, image.Rect(0, int(y0), w, int(y1)), lmBandTint[b.Layer])
		}
		lmBlit(img, r.scene, int(math.Round((-margin/z-m.offX)*z)), int(math.Round((-margin/z-m.offY)*z)))
		return img
	}
	r.lastKey = key
	r.drawScene(img, m.offX, m.offY, z)
	return img
}

// sceneKey is what a cached drawing depends on.
type sceneKey struct {
	g        *landscape.Graph
	lay      *landscape.Layout
	z        float64
	selected int
	marks    int
}

// lmBlit copies src into dst with src's top-left corner at (x, y).
func lmBlit(dst, src *image.NRGBA, x, y int) {
	r := src.Rect.Add(image.Pt(x, y)).Intersect(dst.Rect)
	if r.Empty() {
		return
	}
	n := 4 * r.Dx()
	for row := r.Min.Y; row < r.Max.Y; row++ {
		d := dst.PixOffset(r.Min.X, row)
		s := src.PixOffset(r.Min.X-x, row-y)
		copy(dst.Pix[d:d+n], src.Pix[s:s+n])
	}
}

// drawScene paints bands, edges and boxes into img, with map point
// (offX, offY) at its top-left corner and z pixels per map unit.
func (r *landscapeMapRenderer) drawScene(img *image.NRGBA, offX, offY, z float64) {
	m := r.m
	w, h := img.Rect.Dx(), img.Rect.Dy()
	scale := z / m.zoom
	sx := func(x float64) float64 { return (x - offX) * z }
	sy := func(y float64) float64 { return (y - offY) * z }
	for _, b := range m.lay.Bands {
		lmFill(img, image.Rect(0, int(sy(b.Y0)), w, int(sy(b.Y1))), lmBandTint[b.Layer])
	}
	sel := ""
	if m.selected >= 0 {
		sel = m.graph.Nodes[m.selected].ID
	}
	pos := func(id string) (float64, float64, bool) {
		i := m.graph.Index(id)
		if i < 0 || i >= len(m.lay.Pos) {
			return 0, 0, false
		}
		p := m.lay.Pos[i]
		return sx(p.X), sy(p.Y), true
	}
	hw, hh := landscape.NodeWidth/2*z, landscape.NodeHeight/2*z
	var strong [][4]float64
	inside := func(x, y float64) bool { return x >= 0 && y >= 0 && x < float64(w) && y < float64(h) }
	// With many edges, those that only pass through the view are left
	// out: they cost most of the frame and say little.
	busy := len(m.graph.Edges) > 2000
	ink := lmOver(lmEdgeInk, lmPaper)
	for _, e := range m.graph.Edges {
		x0, y0, ok0 := pos(e.Source)
		x1, y1, ok1 := pos(e.Target)
		if !ok0 || !ok1 {
			continue
		}
		if e.Source == sel || e.Target == sel {
			strong = append(strong, [4]float64{x0, y0, x1, y1})
			continue
		}
		if busy && !inside(x0, y0) && !inside(x1, y1) {
			continue
		}
		lmLine(img, x0, y0, x1, y1, ink)
	}
	for _, s := range strong {
		lmLine(img, s[0], s[1], s[2], s[3], lmEdgeStrong)
		lmLine(img, s[0]+1, s[1], s[2]+1, s[3], lmEdgeStrong)
	}
	for i, p := range m.lay.Pos {
		cx, cy := sx(p.X), sy(p.Y)
		if cx+hw < 0 || cx-hw > float64(w) || cy+hh < 0 || cy-hh > float64(h) {
			continue
		}
		n := &m.graph.Nodes[i]
		f, ok := lmLayerFill[n.Layer]
		ink := lmLayerInk[n.Layer]
		if !ok {
			f, ink = lmOtherFill, lmOtherInk
		}
		rect := image.Rect(int(cx-hw), int(cy-hh), int(math.Ceil(cx+hw)), int(math.Ceil(cy+hh)))
		if hl, ok := m.health[n.ID]; ok {
			f, ink = lmHealthStyle(hl, f, ink)
			if hl.Impacted {
				lmImpactHalo(img, rect, scale)
			}
		}
		group := len(n.ID) > len(landscape.GroupPrefix) && n.ID[:len(landscape.GroupPrefix)] == landscape.GroupPrefix
		if group {
			// A stack of boxes: a group of nodes.
			d := int(math.Max(1, 3*z))
			lmBox(img, rect.Add(image.Pt(2*d, -2*d)), f, ink, 1)
			lmBox(img, rect.Add(image.Pt(d, -d)), f, ink, 1)
		}
		lmShape(img, rect, n.Category, f, ink)
		if mk := m.marks[n.ID]; mk != MarkNone {
			lmOutline(img, rect.Inset(-int(math.Max(2, 3*scale))), lmMarkInk[mk], int(math.Max(2, 3*scale)))
		}
		if i == m.selected {
			lmOutline(img, rect.Inset(-1), lmSelectInk, int(math.Max(2, 2*scale)))
		}
	}

}

// lmShape draws a node: compute as a box, network with cut corners, storage
// with a lid line, so that the kinds differ without colour too.
func lmShape(img *image.NRGBA, r image.Rectangle, category string, f, ink color.NRGBA) {
	switch category {
	case landscape.Network:
		c := min(r.Dy()/3, r.Dx()/6)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			d := 0
			if top := y - r.Min.Y; top < c {
				d = c - top
			} else if bot := r.Max.Y - 1 - y; bot < c {
				d = c - bot
			}
			lmFill(img, image.Rect(r.Min.X+d, y, r.Max.X-d, y+1), f)
			lmSet(img, r.Min.X+d, y, ink)
			lmSet(img, r.Max.X-1-d, y, ink)
		}
		lmFill(img, image.Rect(r.Min.X+c, r.Min.Y, r.Max.X-c, r.Min.Y+1), ink)
		lmFill(img, image.Rect(r.Min.X+c, r.Max.Y-1, r.Max.X-c, r.Max.Y), ink)
	case landscape.Storage:
		lmBox(img, r, f, ink, 1)
		lid := r.Min.Y + max(2, r.Dy()/5)
		lmFill(img, image.Rect(r.Min.X, lid, r.Max.X, lid+1), ink)
	default:
		lmBox(img, r, f, ink, 1)
	}
}

func lmBox(img *image.NRGBA, r image.Rectangle, f, ink color.NRGBA, width int) {
	lmFill(img, r, f)
	lmOutline(img, r, ink, width)
}

func lmOutline(img *image.NRGBA, r image.Rectangle, ink color.NRGBA, width int) {
	lmFill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+width), ink)
	lmFill(img, image.Rect(r.Min.X, r.Max.Y-width, r.Max.X, r.Max.Y), ink)
	lmFill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+width, r.Max.Y), ink)
	lmFill(img, image.Rect(r.Max.X-width, r.Min.Y, r.Max.X, r.Max.Y), ink)
}

// lmOver is c painted over an opaque background.
func lmOver(c, bg color.NRGBA) color.NRGBA {
	a := uint32(c.A)
	mix := func(x, y uint8) uint8 { return uint8((uint32(x)*a + uint32(y)*(255-a)) / 255) }
	return color.NRGBA{mix(c.R, bg.R), mix(c.G, bg.G), mix(c.B, bg.B), 0xff}
}

// lmFill paints r (clipped) with c, blending when c is translucent.
func lmFill(img *image.NRGBA, r image.Rectangle, c color.NRGBA) {
	r = r.Intersect(img.Rect)
	if r.Empty() {
		return
	}
	if c.A == 0xff {
		row := img.PixOffset(r.Min.X, r.Min.Y)
		for x := 0; x < r.Dx(); x++ {
			o := row + 4*x
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = c.R, c.G, c.B, c.A
		}
		first := img.Pix[row : row+4*r.Dx()]
		for y := r.Min.Y + 1; y < r.Max.Y; y++ {
			copy(img.Pix[img.PixOffset(r.Min.X, y):], first)
		}
		return
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			lmSet(img, x, y, c)
		}
	}
}

// lmSet blends c over the pixel at (x, y), if inside.
func lmSet(img *image.NRGBA, x, y int, c color.NRGBA) {
	if x < img.Rect.Min.X || y < img.Rect.Min.Y || x >= img.Rect.Max.X || y >= img.Rect.Max.Y {
		return
	}
	o := img.PixOffset(x, y)
	a := uint32(c.A)
	p := img.Pix[o : o+4 : o+4]
	p[0] = uint8((uint32(c.R)*a + uint32(p[0])*(255-a)) / 255)
	p[1] = uint8((uint32(c.G)*a + uint32(p[1])*(255-a)) / 255)
	p[2] = uint8((uint32(c.B)*a + uint32(p[2])*(255-a)) / 255)
	p[3] = 0xff
}

// lmLine draws a one-pixel line, clipped to the image.
func lmLine(img *image.NRGBA, x0, y0, x1, y1 float64, c color.NRGBA) {
	w, h := float64(img.Rect.Dx()), float64(img.Rect.Dy())
	if (x0 < 0 && x1 < 0) || (y0 < 0 && y1 < 0) || (x0 >= w && x1 >= w) || (y0 >= h && y1 >= h) {
		return
	}
	dx, dy := x1-x0, y1-y0
	steps := math.Max(math.Abs(dx), math.Abs(dy))
	if steps < 1 {
		lmSet(img, int(x0), int(y0), c)
		return
	}
	// Walk only the part of the segment inside the image (Liang–Barsky).
	t0, t1 := 0.0, 1.0
	clip := func(p, q float64) bool {
		if p == 0 {
			return q >= 0
		}
		r := q / p
		if p < 0 {
			if r > t1 {
				return false
			}
			t0 = math.Max(t0, r)
		} else {
			if r < t0 {
				return false
			}
			t1 = math.Min(t1, r)
		}
		return true
	}
	if !clip(-dx, x0) || !clip(dx, w-1-x0) || !clip(-dy, y0) || !clip(dy, h-1-y0) {
		return
	}
	from, to := int(math.Ceil(t0*steps)), int(t1*steps)
	// Fixed point (16.16) stepping and an inlined blend: this loop is most
	// of a frame's time on a big landscape.
	fx := int64((x0 + dx*float64(from)/steps) * 65536)
	fy := int64((y0 + dy*float64(from)/steps) * 65536)
	sx := int64(dx / steps * 65536)
	sy := int64(dy / steps * 65536)
	a := uint32(c.A)
	ia := 255 - a
	cr, cg, cb := uint32(c.R)*a, uint32(c.G)*a, uint32(c.B)*a
	stride, pix := img.Stride, img.Pix
	iw, ih := int64(img.Rect.Dx()), int64(img.Rect.Dy())
	for k := from; k <= to; k++ {
		x, y := fx>>16, fy>>16
		fx += sx
		fy += sy
		if x < 0 || y < 0 || x >= iw || y >= ih {
			continue
		}
		o := int(y)*stride + int(x)*4
		p := pix[o : o+4 : o+4]
		if a == 0xff {
			p[0], p[1], p[2], p[3] = c.R, c.G, c.B, 0xff
			continue
		}
		p[0] = uint8((cr + uint32(p[0])*ia) / 255)
		p[1] = uint8((cg + uint32(p[1])*ia) / 255)
		p[2] = uint8((cb + uint32(p[2])*ia) / 255)
		p[3] = 0xff
	}
}
