package widgets

import (
	"fmt"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape/telemetry"
)

// legendLines is the number of the legend's lines, why aside; lineCUSUM
// is the CUSUM's.
const (
	legendLines = 6
	lineCUSUM   = 2
)

// AnomalyLegend says what the anomaly colours mean, with the thresholds in
// force, how many nodes are in each state, and why the worst one is.
type AnomalyLegend struct {
	widget.BaseWidget

	// ok, warning, the CUSUM's part of warning (hidden when it is off),
	// critical, impacted, no data
	items    []*canvas.Text
	noSwatch fyne.CanvasObject // the CUSUM's line has none; hidden with it
	why      *widget.Label
	counts   [3]int // critical, warning, impacted
	cfg      telemetry.Config
}

var _ fyne.Widget = (*AnomalyLegend)(nil)

// NewAnomalyLegend returns a legend for cfg's thresholds.
func NewAnomalyLegend(cfg telemetry.Config) *AnomalyLegend {
	l := &AnomalyLegend{cfg: cfg, why: widget.NewLabel(""), noSwatch: canvas.NewRectangle(color.Transparent)}
	l.why.Wrapping = fyne.TextWrapWord
	for range legendLines {
		t := canvas.NewText("", theme.Color(theme.ColorNameForeground))
		t.TextSize = 12
		l.items = append(l.items, t)
	}
	l.ExtendBaseWidget(l)
	l.update()
	return l
}

// SetThresholds shows cfg's thresholds. Call on the UI goroutine.
func (l *AnomalyLegend) SetThresholds(cfg telemetry.Config) {
	l.cfg = cfg
	l.update()
	l.Refresh() // the CUSUM's line may have come or gone
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

// Texts returns the legend's lines shown, for tests and accessibility.
func (l *AnomalyLegend) Texts() []string {
	var out []string
	for _, it := range l.items {
		if it.Visible() {
			out = append(out, it.Text)
		}
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
	// The CUSUM scores Warn when its sum reaches CusumH, so a warning
	// may be a lasting shift smaller than Warn σ; its score never reaches
	// Crit unless Crit ≤ 1.5 Warn, which the panel does not offer.
	texts := [legendLines]string{
		"ok: its telemetry is within its usual range",
		fmt.Sprintf("warning (%d): ≥ %g σ off its usual value, %s", l.counts[1], c.Warn, confirm),
		fmt.Sprintf("or a lasting shift: deviations beyond %g σ adding up to %g σ (CUSUM)", c.CusumK, c.CusumH),
		fmt.Sprintf("critical (%d): ≥ %g σ, %s", l.counts[0], c.Crit, confirm),
		fmt.Sprintf("impacted (%d more): depends on an anomalous node", l.counts[2]),
		"no telemetry: the layer's colour",
	}
	for i, t := range texts {
		l.items[i].Text = t
		l.items[i].Color = theme.Color(theme.ColorNameForeground)
		l.items[i].Refresh()
	}
	if c.Uses(telemetry.DetCUSUM) {
		l.items[lineCUSUM].Show()
		l.noSwatch.Show()
	} else {
		l.items[lineCUSUM].Hide()
		l.noSwatch.Hide()
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
		l.noSwatch, // the CUSUM's line goes on with warning's
		legendSwatch(lmHealthFill[telemetry.Critical], lmHealthInk[telemetry.Critical], false),
		legendSwatch(nil, lmImpactInk, true),
		legendSwatch(lmLayerFill["physical"], lmNoDataInk, false),
	}
	grid := container.New(layout.NewFormLayout())
	for i, it := range l.items {
		if i == lineCUSUM {
			grid.Add(sw[i])
		} else {
			grid.Add(container.NewCenter(sw[i]))
		}
		grid.Add(it)
	}
	return widget.NewSimpleRenderer(container.NewVBox(grid, l.why))
}
