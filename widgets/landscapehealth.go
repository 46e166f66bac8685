package widgets

import (
	"image"
	"image/color"
	"math"

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

// SetHealth colours the map's nodes by anomaly state, by node id (nil:
// layer colours only). Call on the UI goroutine.
func (m *LandscapeMap) SetHealth(h map[string]NodeHealth) {
	m.health = h
	m.marksGen++
	m.Refresh()
}
