package widgets

import (
	"image"
	"testing"

	"flowscape/landscape/telemetry"
)

func TestHealthStyleAndHalo(t *testing.T) {
	f, ink := lmLayerFill["physical"], lmLayerInk["physical"]
	if gf, gi := lmHealthStyle(NodeHealth{Level: telemetry.NoData, Impacted: true}, f, ink); gf != f || gi != ink {
		t.Error("a node without telemetry lost its layer colours")
	}
	if gf, _ := lmHealthStyle(NodeHealth{Level: telemetry.Critical}, f, ink); gf != lmHealthFill[telemetry.Critical] {
		t.Error("critical node not filled red")
	}
	img := image.NewNRGBA(image.Rect(0, 0, 100, 60))
	box := image.Rect(30, 20, 70, 40)
	lmImpactHalo(img, box, 1)
	at := func(x, y int) bool { return img.NRGBAAt(x, y) == lmImpactInk }
	if at(50, 30) || at(30, 20) {
		t.Error("the halo paints over the box")
	}
	// The ring lies outside the box: 4 px gap, 3 px wide.
	if !at(23, 13) || !at(76, 46) {
		t.Error("no halo at the ring's corners")
	}
	n := 0
	for x := 0; x < 100; x++ {
		if at(x, 13) {
			n++
		}
	}
	if n == 0 || n >= box.Dx()+14 {
		t.Errorf("%d halo pixels on the top row: want dashes, not a solid line", n)
	}
}
