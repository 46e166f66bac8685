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
	test.NewTempWindow(t, l)
	l.SetCounts(1, 2, 7)
	l.SetWhy("cpu3 is critical: cpu_busy_pct 12.0 σ off since 18:01:02")
	got := strings.Join(l.Texts(), "\n")
	for _, want := range []string{"ok:", "warning (2): ≥ 4 σ off its usual value", "3 of the last 5 samples",
		"or a lasting shift: deviations beyond 1.5 σ adding up to 4 σ (CUSUM)",
		"critical (1): ≥ 8 σ", "impacted (7 more): depends on an anomalous node", "no telemetry", "cpu3 is critical"} {
		if !strings.Contains(got, want) {
			t.Errorf("legend lacks %q:\n%s", want, got)
		}
	}
	l.SetWhy("")
	if n := len(l.Texts()); n != 6 {
		t.Errorf("%d lines after clearing why, want 6", n)
	}
}

// SetThresholds says the new thresholds in the same legend; without the
// CUSUM its line goes, and takes no room.
func TestAnomalyLegendSetThresholds(t *testing.T) {
	test.NewTempApp(t)
	l := NewAnomalyLegend(telemetry.DefaultConfig())
	test.NewTempWindow(t, l)
	with := l.MinSize().Height

	cfg := telemetry.DefaultConfig()
	cfg.Warn, cfg.Crit, cfg.K, cfg.N, cfg.CusumK, cfg.CusumH = 6, 12, 2, 4, 1, 7
	l.SetThresholds(cfg)
	got := strings.Join(l.Texts(), "\n")
	for _, want := range []string{"≥ 6 σ off its usual value, 2 of the last 4 samples", "deviations beyond 1 σ adding up to 7 σ (CUSUM)", "critical (0): ≥ 12 σ"} {
		if !strings.Contains(got, want) {
			t.Errorf("legend lacks %q:\n%s", want, got)
		}
	}

	cfg.CusumH = 0
	l.SetThresholds(cfg)
	if got := strings.Join(l.Texts(), "\n"); strings.Contains(got, "CUSUM") || len(l.Texts()) != 5 {
		t.Errorf("CUSUM off, the legend says:\n%s", got)
	}
	if without := l.MinSize().Height; without >= with {
		t.Errorf("legend height %v without the CUSUM's line, %v with it; want less", without, with)
	}
	cfg.CusumH = 4
	l.SetThresholds(cfg)
	if l.MinSize().Height != with || !strings.Contains(strings.Join(l.Texts(), "\n"), "adding up to 4 σ (CUSUM)") {
		t.Errorf("CUSUM on again: height %v (want %v), lines %q", l.MinSize().Height, with, l.Texts())
	}
}
