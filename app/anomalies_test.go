package app

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/widgets"
)

// demoPanel is a panel fed the demo cloud's telemetry, assessed in line.
func demoPanel(t *testing.T) (*anomalyPanel, *landscape.Graph, *map[string]widgets.NodeHealth, time.Time) {
	t.Helper()
	test.NewTempApp(t)
	p := newAnomalyPanel()
	p.async = func(f func()) { f() }
	health := map[string]widgets.NodeHealth{}
	p.OnHealth = func(h map[string]widgets.NodeHealth) { health = h }
	test.NewTempWindow(t, p.content())
	g := landscape.Generate(300, 1)
	end := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cfg := telemetry.DefaultConfig()
	cfg.Period = 60
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p.start(ctx, "demo", cfg, 0, func(ctx context.Context, s *telemetry.Store) {
		demoTelemetry(ctx, s, g, end)
		close(done)
	})
	<-done
	p.tick()
	return p, g, &health, end
}

func TestAnomalyPanelColoursTheDemoFault(t *testing.T) {
	p, g, health, _ := demoPanel(t)
	h := *health
	if got := h[demoFaultHost]; got.Level != telemetry.Critical {
		t.Fatalf("%s health %+v, want critical", demoFaultHost, got)
	}
	vm := demoFaultHost + "-vm0"
	if g.Node(vm) == nil {
		t.Fatalf("no %s in the demo cloud", vm)
	}
	if got := h[vm]; !got.Impacted {
		t.Errorf("%s health %+v, want impacted", vm, got)
	}
	if got := h[vm+"-svc"]; !got.Impacted {
		t.Errorf("service on %s: %+v, want impacted", vm, got)
	}
	if got := h["rack0-host1"]; got.Level != telemetry.OK || got.Impacted {
		t.Errorf("an untouched host: %+v, want ok", got)
	}
	p.mu.Lock()
	first := rowText(p.rows[0])
	p.mu.Unlock()
	if !strings.Contains(first, " σ · cause #1 · "+demoFaultHost+" critical cpu_busy_pct") {
		t.Errorf("first row %q, want the faulty host, highest score, ranked first as a cause", first)
	}
	p.mu.Lock()
	for i := 1; i < len(p.rows); i++ {
		if p.rows[i].Anomalous() && p.rows[i].Score > p.rows[i-1].Score {
			t.Errorf("row %d (%s, %.1f σ) after a lower score", i, p.rows[i].ID, p.rows[i].Score)
		}
	}
	p.mu.Unlock()
	legend := strings.Join(p.legend.Texts(), "\n")
	if !strings.Contains(legend, "Likeliest cause: "+demoFaultHost+" is critical, cpu_busy_pct") || !strings.Contains(legend, "nodes depend on it") {
		t.Errorf("legend:\n%s", legend)
	}
	if d := p.describe(vm); !strings.Contains(d, "Impacted by "+demoFaultHost) {
		t.Errorf("details of %s: %q", vm, d)
	}
	if d := p.describe(demoFaultHost); !strings.Contains(d, "critical, root-cause rank 1: cpu_busy_pct") {
		t.Errorf("details of %s: %q", demoFaultHost, d)
	}
	p.showNode(demoFaultHost)
	if !strings.Contains(p.sparkLabel.Text, demoFaultHost+" · cpu_busy_pct") || !strings.Contains(p.sparkLabel.Text, "last 240 samples") {
		t.Errorf("sparkline label %q", p.sparkLabel.Text)
	}
	if !strings.Contains(p.status.Text, "0 series unjoined") {
		t.Errorf("status %q", p.status.Text)
	}
	if !strings.Contains(p.cursorLabel.Text, "(live)") {
		t.Errorf("cursor label %q", p.cursorLabel.Text)
	}
}

// Moving the time cursor before the fault replays the colours of then.
func TestAnomalyPanelTimeCursor(t *testing.T) {
	p, _, health, end := demoPanel(t)
	before := end.Add(-40 * time.Minute).UnixMilli() // the shift starts 20 min before the end
	p.cursor.SetValue(float64(before))
	p.tick()
	if got := (*health)[demoFaultHost]; got.Level != telemetry.OK {
		t.Errorf("40 min before the end: %s %+v, want ok", demoFaultHost, got)
	}
	if !strings.Contains(p.cursorLabel.Text, "at 11:20:") || strings.Contains(p.cursorLabel.Text, "live") {
		t.Errorf("cursor label %q", p.cursorLabel.Text)
	}
	p.live.OnTapped()
	p.tick()
	if got := (*health)[demoFaultHost]; got.Level != telemetry.Critical {
		t.Errorf("back to live: %+v", got)
	}
}

// The demo's slow drift is first seen by the CUSUM, as a lasting shift
// smaller than the warning's 4 σ: the list, the legend's why and the
// node's details say so, not a number of σ; later, when the drift is
// large, they give its z-score.
func TestAnomalyPanelSaysWhatTheAlarmIs(t *testing.T) {
	p, _, _, end := demoPanel(t)
	const driftHost = "rack0-host5"
	p.mu.Lock()
	s := p.store
	p.mu.Unlock()
	var cusumAt, zAt int64
	for m := -180; m <= -130 && (cusumAt == 0 || zAt == 0); m++ {
		t := end.Add(time.Duration(m) * time.Minute).UnixMilli()
		switch n := s.Assess(t, 0).State(driftHost); {
		case n.Anomalous() && n.By == telemetry.ByCUSUM && cusumAt == 0:
			cusumAt = t
		case n.Level == telemetry.Critical && n.By != telemetry.ByCUSUM:
			zAt = t
		}
	}
	if cusumAt == 0 || zAt == 0 {
		t.Fatalf("the drift on %s: no alarm by the CUSUM (%d) or no critical z-score (%d)", driftHost, cusumAt, zAt)
	}
	row := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, r := range p.rows {
			if r.ID == driftHost {
				return rowText(r)
			}
		}
		return ""
	}

	at := func(t int64) { // as the cursor would, without its slider's rounding
		p.mu.Lock()
		p.at = t
		p.mu.Unlock()
		p.changed()
		p.tick()
	}
	at(cusumAt)
	if got := row(); !strings.HasPrefix(got, "lasting shift (CUSUM) · cause #1 · "+driftHost+" warning cpu_busy_pct") || strings.Contains(got, "σ") {
		t.Errorf("row at the CUSUM's alarm: %q", got)
	}
	if why := p.legend.Texts()[len(p.legend.Texts())-1]; !strings.Contains(why, "cpu_busy_pct in a lasting shift from its usual value (CUSUM) since") {
		t.Errorf("legend's why: %q", why)
	}
	if d := p.describe(driftHost); !strings.Contains(d, "rank 1: cpu_busy_pct in a lasting shift") || strings.Contains(d, "σ") {
		t.Errorf("details: %q", d)
	}

	at(zAt)
	if got := row(); !strings.HasPrefix(got, "z ") || !strings.Contains(got, " σ · cause #1 · "+driftHost+" critical") {
		t.Errorf("row when the drift is critical: %q", got)
	}
}

// The status line counts the gaps and the clock's jumps back beside what
// was skipped.
func TestAnomalyPanelStatusCountsGapsAndClock(t *testing.T) {
	test.NewTempApp(t)
	p := newAnomalyPanel()
	p.async = func(f func()) { f() }
	test.NewTempWindow(t, p.content())
	done := make(chan struct{})
	p.start(context.Background(), "test", telemetry.DefaultConfig(), 0, func(_ context.Context, s *telemetry.Store) {
		k := landscape.JoinKey{Kind: telemetry.KeyID, Value: "a"}
		var t int64
		for i := range 60 {
			switch i {
			case 20:
				t += 3_600_000 // an hour missing
			case 40:
				t -= 600_000 // the clock set back ten minutes
			}
			t += 1000
			s.Add(telemetry.Sample{Key: k, Metric: "m", T: t, V: float64(i % 3)})
		}
		s.Add(telemetry.Sample{Key: k, Metric: "m", T: t + 1000, V: math.NaN()})
		close(done)
	})
	<-done
	p.tick()
	if want := "skipped 1 NaN, 0 out of order · 1 gap (the sample after each not scored), a clock went back 1 time"; !strings.Contains(p.status.Text, want) {
		t.Errorf("status %q, want %q", p.status.Text, want)
	}
}

func TestFoldHealth(t *testing.T) {
	h := map[string]widgets.NodeHealth{
		"a": {Level: telemetry.OK},
		"b": {Level: telemetry.Warning},
		"c": {Level: telemetry.NoData, Impacted: true},
	}
	got := foldHealth(h, map[string][]string{"group:1": {"a", "b"}, "group:2": {"c", "x"}, "group:3": {"x"}})
	if got["group:1"].Level != telemetry.Warning || got["group:1"].Impacted {
		t.Errorf("group:1 = %+v, want warning", got["group:1"])
	}
	if got["group:2"].Level != telemetry.NoData || !got["group:2"].Impacted {
		t.Errorf("group:2 = %+v, want impacted", got["group:2"])
	}
	if _, ok := got["group:3"]; ok {
		t.Error("a group with no telemetry got a health")
	}
	if got["a"] != h["a"] {
		t.Error("members lost their own health")
	}
}

// The Thresholds section changes the thresholds; the colours, the legend
// and the time cursor's replay follow them.
func TestAnomalyPanelThresholds(t *testing.T) {
	p, _, health, end := demoPanel(t)
	p.mu.Lock()
	s := p.store
	p.mu.Unlock()
	at := func(min int) *telemetry.Assessment {
		return s.Assess(end.Add(time.Duration(min)*time.Minute).UnixMilli(), 0)
	}
	const driftHost = "rack0-host5" // demoTelemetry's drift, 3 h to 2 h 20 min before the end
	driftSince := at(-170).State(driftHost).Since
	if at(-20).State(demoFaultHost).Level != telemetry.OK || driftSince == 0 {
		t.Fatalf("with 3 of 5: the shift's first sample %v (want ok), the drift's alarm since %d", at(-20).State(demoFaultHost).Level, driftSince)
	}

	p.tune.warn.SetValue(10)
	p.tick()
	if got := (*health)[demoFaultHost]; got.Level != telemetry.Warning {
		t.Errorf("warning at 10 σ, critical at 20 σ: the 12 σ shift is %+v, want a warning", got)
	}
	if l := p.legend.Texts()[1]; !strings.Contains(l, "≥ 10 σ") {
		t.Errorf("legend %q, want the new threshold", l)
	}
	if got := p.tune.warnLabel.Text; got != "Warning at 10 σ off the usual value, critical at 20 σ" {
		t.Errorf("label %q", got)
	}

	p.tune.warn.SetValue(4)
	p.tune.k.SetSelected("1")
	p.tune.n.SetSelected("1")
	p.tick()
	if got := at(-20).State(demoFaultHost).Level; got != telemetry.Critical {
		t.Errorf("1 of 1: the shift's first sample %v, want critical", got)
	}
	if l := p.legend.Texts()[1]; !strings.Contains(l, "1 of the last 1 samples") {
		t.Errorf("legend %q", l)
	}

	p.tune.n.SetSelected("5")
	p.tune.k.SetSelected("3")
	p.tune.cusum.SetValue(12)
	p.tick()
	if got := at(-170).State(driftHost).Since; got <= driftSince {
		t.Errorf("CUSUM at 12 σ: the drift's alarm since %d, want later than %d (CUSUM at 4 σ)", got, driftSince)
	}
	if l := strings.Join(p.legend.Texts(), "\n"); !strings.Contains(l, "adding up to 12 σ (CUSUM)") {
		t.Errorf("legend %q, want the CUSUM's new decision interval", l)
	}
	if got := s.Config(); got.CusumH != 12 || got.K != 3 || got.N != 5 || got.Warn != 4 || got.Crit != 8 {
		t.Errorf("store configuration %+v", got)
	}

	// a wider allowance: deviations within 3 σ no longer add up
	p.tune.allow.SetValue(3)
	p.tick()
	if got := s.Config(); got.CusumK != 3 || got.CusumH != 12 {
		t.Errorf("store configuration %+v, want the CUSUM's allowance 3 σ", got)
	}
	if l := strings.Join(p.legend.Texts(), "\n"); !strings.Contains(l, "beyond 3 σ adding up to 12 σ (CUSUM)") {
		t.Errorf("legend %q, want the CUSUM's new allowance", l)
	}
	if got := p.tune.cusumLabel.Text; !strings.Contains(got, "beyond 3 σ add up to 12 σ") {
		t.Errorf("label %q", got)
	}

	// k above n moves n up; n below k moves k down.
	p.tune.k.SetSelected("7")
	if p.tune.n.Selected != "7" {
		t.Errorf("k 7 of n %s, want n raised to 7", p.tune.n.Selected)
	}
	p.tune.n.SetSelected("2")
	if p.tune.k.Selected != "2" {
		t.Errorf("n 2 with k %s, want k lowered to 2", p.tune.k.Selected)
	}
	p.tick()
	if got := s.Config(); got.K != 2 || got.N != 2 {
		t.Errorf("k-of-n in the store: %d of %d, want 2 of 2", got.K, got.N)
	}
}

// A source started after the thresholds changed gets them.
func TestAnomalyPanelThresholdsOutliveTheSource(t *testing.T) {
	test.NewTempApp(t)
	p := newAnomalyPanel()
	p.async = func(f func()) { f() }
	test.NewTempWindow(t, p.content())
	p.tune.warn.SetValue(6)
	p.tune.k.SetSelected("2")
	p.startNone(context.Background(), "none")
	p.mu.Lock()
	got := p.store.Config()
	p.mu.Unlock()
	if got.Warn != 6 || got.Crit != 12 || got.K != 2 || got.N != 5 {
		t.Errorf("a new source's configuration: warn %g, crit %g, %d of %d; want 6, 12, 2 of 5", got.Warn, got.Crit, got.K, got.N)
	}
}
