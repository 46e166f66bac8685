package widgets

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape/telemetry"
)

// NodeHealth is what the anomaly colouring knows of a node on the map.
type NodeHealth struct {
	Level    telemetry.Level // its own series' state; NoData without series
	Impacted bool            // it depends on an anomalous node
}

// Anomaly colours: fills by state, and the impacted halo.
var (
	lmHealthFill = map[telemetry.Level]color.NRGBA{
		telemetry.OK:       {0xd9, 0xf0, 0xd3, 0xff},
		telemetry.Warning:  {0xff, 0xc9, 0x4d, 0xff},
		telemetry.Critical: {0xf0, 0x55, 0x45, 0xff},
	}
	lmHealthInk = map[telemetry.Level]color.NRGBA{
		telemetry.OK:       {0x3b, 0x7d, 0x3b, 0xff},
		telemetry.Warning:  {0xa8, 0x62, 0x00, 0xff},
		telemetry.Critical: {0x9c, 0x14, 0x0a, 0xff},
	}
	lmImpactInk = color.NRGBA{0x8e, 0x24, 0xaa, 0xff}
	lmNoDataInk = color.NRGBA{0xa0, 0xa0, 0xa0, 0xff}
)

// HealthFill is the fill colour of a node in state l, for legends.
func HealthFill(l telemetry.Level) color.Color {
	if c, ok := lmHealthFill[l]; ok {
		return c
	}
	return lmOtherFill
}

// ImpactColor is the colour of the impacted halo.
func ImpactColor() color.Color { return lmImpactInk }

// lmHealthStyle returns the fill and ink of a node box in health h; a node
// without telemetry keeps its layer colours.
func lmHealthStyle(h NodeHealth, f, ink color.NRGBA) (color.NRGBA, color.NRGBA) {
	if c, ok := lmHealthFill[h.Level]; ok {
		return c, lmHealthInk[h.Level]
	}
	return f, ink
}

// lmImpactHalo draws the impacted ring around a node box r: a thick
// outline some pixels outside it, broken into dashes so that it reads as
// "from elsewhere" and not as the node's own state.
func lmImpactHalo(img *image.NRGBA, r image.Rectangle, scale float64) {
	w := int(math.Max(2, 3*scale))
	gap := int(math.Max(3, 4*scale))
	o := r.Inset(-(gap + w))
	dash := int(math.Max(6, 8*scale))
	for x := o.Min.X; x < o.Max.X; x += 2 * dash {
		lmFill(img, image.Rect(x, o.Min.Y, min(x+dash, o.Max.X), o.Min.Y+w), lmImpactInk)
		lmFill(img, image.Rect(x, o.Max.Y-w, min(x+dash, o.Max.X), o.Max.Y), lmImpactInk)
	}
	for y := o.Min.Y; y < o.Max.Y; y += 2 * dash {
		lmFill(img, image.Rect(o.Min.X, y, o.Min.X+w, min(y+dash, o.Max.Y)), lmImpactInk)
		lmFill(img, image.Rect(o.Max.X-w, y, o.Max.X, min(y+dash, o.Max.Y)), lmImpactInk)
	}
}

// AnomalyLegend says what the anomaly colours mean, with the thresholds in
// force, how many nodes are in each state, and why the worst one is.
type AnomalyLegend struct {
	widget.BaseWidget

	items  []*canvas.Text // ok, warning, critical, impacted, no data
	why    *widget.Label
	counts [3]int // critical, warning, impacted
	cfg    telemetry.Config
}

var _ fyne.Widget = (*AnomalyLegend)(nil)

// NewAnomalyLegend returns a legend for cfg's thresholds.
func NewAnomalyLegend(cfg telemetry.Config) *AnomalyLegend {
	l := &AnomalyLegend{cfg: cfg, why: widget.NewLabel("")}
	l.why.Wrapping = fyne.TextWrapWord
	for range 5 {
		t := canvas.NewText("", theme.Color(theme.ColorNameForeground))
		t.TextSize = 12
		l.items = append(l.items, t)
	}
	l.ExtendBaseWidget(l)
	l.update()
	return l
}

// SetCounts shows how many nodes are critical, warning and impacted only.
// Call on the UI goroutine.
func (l *AnomalyLegend) SetCounts(critical, warning, impacted int) {
	l.counts = [3]int{critical, warning, impacted}
	l.update()
}

// SetWhy shows a sentence about the worst anomaly ("" hides it). Call on
// the UI goroutine.
func (l *AnomalyLegend) SetWhy(s string) {
	l.why.SetText(s)
	if s == "" {
		l.why.Hide()
	} else {
		l.why.Show()
	}
}

// Texts returns the legend's lines, for tests and accessibility.
func (l *AnomalyLegend) Texts() []string {
	var out []string
	for _, it := range l.items {
		out = append(out, it.Text)
	}
	if l.why.Text != "" {
		out = append(out, l.why.Text)
	}
	return out
}

func (l *AnomalyLegend) update() {
	c := l.cfg
	confirm := fmt.Sprintf("%d of the last %d samples", c.K, c.N)
	// Impact follows RUNS_ON, DEPLOYED_ON, REQUIRES and, for a container,
	// CONTAINS (telemetry.Dependency).
	texts := []string{
		"ok: its telemetry is within its usual range",
		fmt.Sprintf("warning (%d): ≥ %g σ off its usual value, %s", l.counts[1], c.Warn, confirm),
		fmt.Sprintf("critical (%d): ≥ %g σ, %s", l.counts[0], c.Crit, confirm),
		fmt.Sprintf("impacted (%d more): depends on an anomalous node", l.counts[2]),
		"no telemetry: the layer's colour",
	}
	for i, t := range texts {
		l.items[i].Text = t
		l.items[i].Color = theme.Color(theme.ColorNameForeground)
		l.items[i].Refresh()
	}
}

func legendSwatch(fill, ink color.Color, ring bool) fyne.CanvasObject {
	r := canvas.NewRectangle(fill)
	r.StrokeColor = ink
	r.StrokeWidth = 1
	if ring {
		r.FillColor = color.Transparent
		r.StrokeWidth = 3
	}
	return container.NewGridWrap(fyne.NewSize(16, 14), r)
}

// CreateRenderer implements fyne.Widget.
func (l *AnomalyLegend) CreateRenderer() fyne.WidgetRenderer {
	sw := []fyne.CanvasObject{
		legendSwatch(lmHealthFill[telemetry.OK], lmHealthInk[telemetry.OK], false),
		legendSwatch(lmHealthFill[telemetry.Warning], lmHealthInk[telemetry.Warning], false),
		legendSwatch(lmHealthFill[telemetry.Critical], lmHealthInk[telemetry.Critical], false),
		legendSwatch(nil, lmImpactInk, true),
		legendSwatch(lmLayerFill["physical"], lmNoDataInk, false),
	}
	grid := container.New(layout.NewFormLayout())
	for i, it := range l.items {
		grid.Add(container.NewCenter(sw[i]))
		grid.Add(it)
	}
	return widget.NewSimpleRenderer(container.NewVBox(grid, l.why))
}
