package widgets

import (
	"image"
	"testing"

	"fyne.io/fyne/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
)

// The map fills a node by its anomaly state, rings an impacted one with
// the dashed halo, and keeps the layer colour of a node without
// telemetry.
func TestLandscapeMapHealthColours(t *testing.T) {
	m, r := newTestMap(t, fyne.NewSize(900, 500))
	lmShow(m, lmFixture())
	pos := func(id string) fyne.Position {
		p, ok := m.NodeScreenPos(id)
		require.True(t, ok, id)
		return p
	}
	halo := func(id string) int {
		img := r.draw(int(r.size.Width), int(r.size.Height)).(*image.NRGBA)
		p := pos(id)
		hw, hh := int(landscape.NodeWidth/2*m.Zoom())+12, int(landscape.NodeHeight/2*m.Zoom())+12
		n := 0
		for y := int(p.Y) - hh; y <= int(p.Y)+hh; y++ {
			for x := int(p.X) - hw; x <= int(p.X)+hw; x++ {
				if img.NRGBAAt(x, y) == lmImpactInk {
					n++
				}
			}
		}
		return n
	}
	assert.Equal(t, lmLayerFill[landscape.Physical], lmPixel(r, pos("host")), "before any telemetry: layer colour")
	m.SetHealth(map[string]NodeHealth{
		"host": {Level: telemetry.Critical},
		"sda":  {Level: telemetry.OK},
		"web":  {Level: telemetry.Warning, Impacted: true},
		"vm1":  {Level: telemetry.NoData, Impacted: true},
	})
	assert.Equal(t, lmHealthFill[telemetry.Critical], lmPixel(r, pos("host")))
	assert.Equal(t, lmHealthFill[telemetry.OK], lmPixel(r, pos("sda")))
	assert.Equal(t, lmHealthFill[telemetry.Warning], lmPixel(r, pos("web")))
	assert.Equal(t, lmLayerFill[landscape.Virtual], lmPixel(r, pos("vm1")), "impacted without telemetry keeps its layer colour")
	assert.Positive(t, halo("vm1"), "impacted: halo")
	assert.Positive(t, halo("web"), "anomalous and impacted: halo too")
	assert.Zero(t, halo("host"), "not impacted: no halo")
	m.SetHealth(nil)
	assert.Equal(t, lmLayerFill[landscape.Physical], lmPixel(r, pos("host")), "health cleared")
	assert.Zero(t, halo("vm1"))
}
