package widgets

import (
	"image"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"flowscape/landscape/telemetry"
)

func TestAnomalyLegendSaysWhatColoursMean(t *testing.T) {
	test.NewTempApp(t)
	cfg := telemetry.DefaultConfig()
	l := NewAnomalyLegend(cfg)
	w := test.NewTempWindow(t, l)
	_ = w
	l.SetCounts(1, 2, 7)
	l.SetWhy("cpu3 is critical: cpu_busy_pct 12.0 σ off since 18:01:02")
	got := strings.Join(l.Texts(), "\n")
	for _, want := range []string{"ok:", "warning (2): ≥ 4 σ off its usual value", "3 of the last 5 samples", "critical (1): ≥ 8 σ", "impacted (7 more): depends on an anomalous node", "no telemetry", "cpu3 is critical"} {
		if !strings.Contains(got, want) {
			t.Errorf("legend lacks %q:\n%s", want, got)
		}
	}
	l.SetWhy("")
	if n := len(l.Texts()); n != 5 {
		t.Errorf("%d lines after clearing why, want 5", n)
	}
}

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
