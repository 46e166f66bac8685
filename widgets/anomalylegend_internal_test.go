package widgets

import (
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
