package app

import (
	"fmt"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape/telemetry"
)

// The anomalies panel's Thresholds section.

// setThresholds takes the user's thresholds: the legend says them, and
// the store is scored again with them at the next tick. UI goroutine.
func (p *anomalyPanel) setThresholds(th thresholds) {
	p.mu.Lock()
	p.th = th
	p.cfg = th.apply(p.cfg)
	cfg := p.cfg
	p.mu.Unlock()
	p.legend.SetThresholds(cfg)
	p.retune.Store(true)
	p.changed()
}

// thresholds are the detection settings the user can change in the
// panel: the z-score of a warning (a critical one is critRatio times
// it), k-of-n confirmation and the CUSUM's allowance and decision
// interval.
type thresholds struct {
	warn, cusumK, cusumH float64
	k, n                 int
}

// critRatio is the critical threshold over the warning one.
var critRatio = telemetry.DefaultConfig().Crit / telemetry.DefaultConfig().Warn

func thresholdsOf(c telemetry.Config) thresholds {
	return thresholds{warn: c.Warn, cusumK: c.CusumK, cusumH: c.CusumH, k: c.K, n: c.N}
}

// apply returns c with th's thresholds.
func (th thresholds) apply(c telemetry.Config) telemetry.Config {
	c.Warn, c.Crit, c.K, c.N, c.CusumK, c.CusumH = th.warn, critRatio*th.warn, th.k, th.n, th.cusumK, th.cusumH
	return c
}

// maxConfirmN is the largest n offered for k-of-n.
const maxConfirmN = 10

// thresholdControls are the panel's Thresholds section: a slider for the
// warning z-score, k and n of the confirmation, sliders for the CUSUM's
// allowance and decision interval. Each change calls changed with all of
// them.
type thresholdControls struct {
	warn, allow, cusum    *widget.Slider
	warnLabel, cusumLabel *widget.Label
	k, n                  *widget.Select
	changed               func(thresholds)
	setting               bool // the controls are being set by code
}

func newThresholdControls(th thresholds, changed func(thresholds)) *thresholdControls {
	c := &thresholdControls{warnLabel: widget.NewLabel(""), cusumLabel: widget.NewLabel("")}
	c.warnLabel.Wrapping = fyne.TextWrapWord
	c.cusumLabel.Wrapping = fyne.TextWrapWord
	c.warn = widget.NewSlider(2, 12)
	c.warn.Step = 0.5
	c.allow = widget.NewSlider(0.5, 4)
	c.allow.Step = 0.25
	c.cusum = widget.NewSlider(2, 12)
	c.cusum.Step = 0.5
	var counts []string
	for i := 1; i <= maxConfirmN; i++ {
		counts = append(counts, strconv.Itoa(i))
	}
	c.k = widget.NewSelect(counts, nil)
	c.n = widget.NewSelect(counts, nil)
	c.set(th)
	c.changed = changed
	c.warn.OnChanged = func(float64) { c.edited(false) }
	c.allow.OnChanged = func(float64) { c.edited(false) }
	c.cusum.OnChanged = func(float64) { c.edited(false) }
	c.k.OnChanged = func(string) { c.edited(false) }
	c.n.OnChanged = func(string) { c.edited(true) }
	return c
}

// set shows th without calling changed.
func (c *thresholdControls) set(th thresholds) {
	c.setting = true
	defer func() { c.setting = false }()
	c.warn.SetValue(th.warn)
	c.allow.SetValue(th.cusumK)
	c.cusum.SetValue(th.cusumH)
	th.n = min(max(th.n, 1), maxConfirmN)
	th.k = min(max(th.k, 1), th.n)
	c.k.SetSelected(strconv.Itoa(th.k))
	c.n.SetSelected(strconv.Itoa(th.n))
	c.label(th)
}

func (c *thresholdControls) label(th thresholds) {
	c.warnLabel.SetText(fmt.Sprintf("Warning at %g σ off the usual value, critical at %g σ", th.warn, critRatio*th.warn))
	c.cusumLabel.SetText(fmt.Sprintf("Lasting shifts: alarm when the deviations beyond %g σ add up to %g σ (CUSUM)",
		th.cusumK, th.cusumH))
}

// value reads the controls.
func (c *thresholdControls) value() thresholds {
	k, _ := strconv.Atoi(c.k.Selected)
	n, _ := strconv.Atoi(c.n.Selected)
	return thresholds{warn: c.warn.Value, cusumK: c.allow.Value, cusumH: c.cusum.Value, k: k, n: n}
}

// edited keeps k ≤ n (moving the other one: n when k was raised past it,
// k when n was lowered below it) and calls changed.
func (c *thresholdControls) edited(nMoved bool) {
	if c.setting {
		return
	}
	th := c.value()
	if th.k > th.n {
		if nMoved {
			th.k = th.n
		} else {
			th.n = th.k
		}
		c.set(th)
	}
	c.label(th)
	if c.changed != nil {
		c.changed(th)
	}
}

func (c *thresholdControls) content() fyne.CanvasObject {
	confirm := container.NewHBox(c.k, widget.NewLabel("of"), c.n)
	cusum := container.New(layout.NewFormLayout(), widget.NewLabel("beyond"), c.allow, widget.NewLabel("adding up to"), c.cusum)
	return container.NewVBox(c.warnLabel, c.warn, widget.NewLabel("Alarm on k of the last n samples:"), confirm, c.cusumLabel, cusum)
}
