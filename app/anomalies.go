package app

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources/hosttelemetry"
	"flowscape/sources/prometheus"
	"flowscape/sources/telemetrycsv"
	"flowscape/widgets"
)

// anomalyPanel puts telemetry on the Landscape tab: it runs the telemetry
// source that fits the landscape shown (this machine: /proc and /sys; the
// demo cloud: generated metrics with injected faults; a file: a CSV given
// with --telemetry), scores it, and gives the map its colours, and the
// side panel a legend, the anomalies ranked, a sparkline of a node's
// offending metric and a time cursor that replays the colours.
type anomalyPanel struct {
	legend      *widgets.AnomalyLegend
	tune        *thresholdControls
	list        *widget.List
	spark       *widgets.Sparkline
	sparkLabel  *widget.Label
	cursor      *widget.Slider
	cursorLabel *widget.Label
	live        *widget.Button
	status      *widget.Label
	cursorSet   bool // the cursor is being moved by code

	// OnHealth gets the state of every node with telemetry or an impact,
	// by node id, after each assessment (UI goroutine).
	OnHealth func(map[string]widgets.NodeHealth)
	// OnSelect is called when a row of the anomalies list is chosen.
	OnSelect func(id string)
	// async runs the assessment; tests run it in line.
	async func(func())

	cfg       telemetry.Config
	mu        sync.Mutex  // guards the fields below
	th        thresholds  // the user's, applied to every source's configuration
	retune    atomic.Bool // th changed: score the store again at the next tick
	store     *telemetry.Store
	stopSrc   context.CancelFunc
	source    string // what feeds the store, for the status line
	problem   string // the source's last failure
	at        int64  // the cursor (Unix ms); 0 follows the latest sample
	first     int64  // the store's time range when last assessed
	last      int64
	stale     int64 // ms after which a series' last point no longer counts; 0: never
	a         *telemetry.Assessment
	rows      []*telemetry.NodeState
	selected  string
	dirty     atomic.Bool
	urgent    atomic.Bool // the user moved the cursor: no throttling
	running   atomic.Bool
	lastAsses time.Time // touched by tick only
}

// maxAnomalyRows caps the anomalies list.
const maxAnomalyRows = 200

func newAnomalyPanel() *anomalyPanel {
	p := &anomalyPanel{cfg: telemetry.DefaultConfig(), async: func(f func()) { go f() }}
	p.th = thresholdsOf(p.cfg)
	p.legend = widgets.NewAnomalyLegend(p.cfg)
	p.tune = newThresholdControls(p.th, p.setThresholds)
	p.status = widget.NewLabel("No telemetry yet.")
	p.status.Wrapping = fyne.TextWrapWord
	p.list = widget.NewList(
		func() int {
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.rows)
		},
		func() fyne.CanvasObject { return widget.NewLabel("rank node state") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			p.mu.Lock()
			var text string
			if i < len(p.rows) {
				text = rowText(p.rows[i])
			}
			p.mu.Unlock()
			o.(*widget.Label).SetText(text)
		})
	p.list.OnSelected = func(i widget.ListItemID) {
		p.mu.Lock()
		id := ""
		if i < len(p.rows) {
			id = p.rows[i].ID
		}
		p.mu.Unlock()
		if id != "" && p.OnSelect != nil {
			p.OnSelect(id)
		}
	}
	p.spark = widgets.NewSparkline()
	p.sparkLabel = widget.NewLabel("")
	p.sparkLabel.Wrapping = fyne.TextWrapWord
	p.cursor = widget.NewSlider(0, 1)
	p.cursor.OnChanged = func(v float64) {
		if p.cursorSet {
			return
		}
		p.mu.Lock()
		p.at = int64(v)
		if p.at >= p.last {
			p.at = 0
		}
		p.mu.Unlock()
		p.changed()
	}
	p.cursorLabel = widget.NewLabel("")
	p.live = widget.NewButton("Live", func() {
		p.mu.Lock()
		p.at = 0
		p.mu.Unlock()
		p.changed()
	})
	return p
}

// scoreText says what a score is: a z-score in σ, or the CUSUM's, which
// is no number of σ (see telemetry.Scorer): a lasting shift when the node
// alarms, otherwise how far the CUSUM's sum is to its alarm (its score
// is warn there).
func scoreText(score float64, cusum, alarm bool, warn float64) string {
	switch {
	case !cusum:
		return fmt.Sprintf("z %.1f σ", score)
	case alarm:
		return "lasting shift (CUSUM)"
	case warn > 0:
		return fmt.Sprintf("CUSUM at %.0f %% of its alarm", 100*score/warn)
	}
	return "CUSUM"
}

// offText says how a node's metric is off: "cpu_busy_pct 5.2 σ off its
// usual value", or a lasting shift for the CUSUM.
func offText(n *telemetry.NodeState) string {
	if n.By == telemetry.ByCUSUM {
		return n.Metric + " in a lasting shift from its usual value (CUSUM)"
	}
	return fmt.Sprintf("%s %.1f σ off its usual value", n.Metric, n.Score)
}

// rowText is one line of the anomalies list.
func rowText(n *telemetry.NodeState) string {
	if n.Rank > 0 {
		return fmt.Sprintf("%s · cause #%d · %s %s %s", scoreText(n.Score, n.By == telemetry.ByCUSUM, true, 0), n.Rank, n.ID, n.Level, n.Metric)
	}
	return fmt.Sprintf("%s · impacted via %s", n.ID, strings.Join(n.ImpactedBy, ", "))
}

// content is the panel's part of the side panel.
func (p *anomalyPanel) content() fyne.CanvasObject {
	title := widget.NewLabelWithStyle("Anomalies", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	list := container.NewStack(minHeight(150), p.list)
	cursor := container.NewBorder(nil, nil, widget.NewLabel("Time"), p.live, p.cursor)
	spark := container.NewStack(minHeight(40), p.spark)
	tune := widget.NewAccordion(widget.NewAccordionItem("Thresholds", p.tune.content()))
	return container.NewVBox(title, p.legend, p.status, tune, list, cursor, p.cursorLabel, p.sparkLabel, spark)
}

// start stops the running telemetry source and starts run with a new
// store.
func (p *anomalyPanel) start(ctx context.Context, name string, cfg telemetry.Config, stale time.Duration, run func(ctx context.Context, s *telemetry.Store)) {
	p.mu.Lock()
	if p.stopSrc != nil {
		p.stopSrc()
	}
	ctx, cancel := context.WithCancel(ctx)
	p.stopSrc = cancel
	g := (*landscape.Graph)(nil)
	if p.store != nil {
		g = p.store.Graph()
	}
	cfg = p.th.apply(cfg)
	p.cfg = cfg
	p.store = telemetry.NewStore(g, cfg)
	p.source, p.problem, p.at, p.a, p.rows = name, "", 0, nil, nil
	p.stale = stale.Milliseconds()
	s := p.store
	p.mu.Unlock()
	p.dirty.Store(true)
	go run(ctx, s)
}

// stop ends the telemetry source.
func (p *anomalyPanel) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopSrc != nil {
		p.stopSrc()
		p.stopSrc = nil
	}
}

// current returns the store if it is still the one s was made for.
func (p *anomalyPanel) current(s *telemetry.Store) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.store == s
}

func (p *anomalyPanel) fail(s *telemetry.Store, msg string) {
	p.mu.Lock()
	if p.store == s {
		p.problem = msg
	}
	p.mu.Unlock()
	p.dirty.Store(true)
}

// startLocal follows this machine's counters every 2 s, or asks the
// Prometheus server at $FLOWSCAPE_PROMETHEUS_URL every 5 s when it is set
// (node-exporter's series, joined by its cpu, device and instance labels).
func (p *anomalyPanel) startLocal(ctx context.Context) {
	cfg := telemetry.DefaultConfig()
	cfg.Floors = hosttelemetry.Floors()
	if url := os.Getenv("FLOWSCAPE_PROMETHEUS_URL"); url != "" {
		p.start(ctx, "Prometheus at "+url+" every 5 s", cfg, 30*time.Second, func(ctx context.Context, s *telemetry.Store) {
			src := &prometheus.Source{Client: prometheus.Client{URL: url, Timeout: 4 * time.Second}, Interval: 5 * time.Second,
				OnSamples: func(smp []telemetry.Sample, errs []error) {
					if !p.current(s) {
						return
					}
					s.Add(smp...)
					msg := ""
					if len(errs) > 0 {
						msg = fmt.Sprintf("%d of the Prometheus queries failed (first: %v)", len(errs), errs[0])
					}
					p.fail(s, msg)
				}}
			_ = src.Run(ctx)
		})
		return
	}
	p.start(ctx, "this machine's /proc and /sys every 2 s", cfg, 10*time.Second, func(ctx context.Context, s *telemetry.Store) {
		src := &hosttelemetry.Source{Interval: 2 * time.Second, OnSamples: func(smp []telemetry.Sample, rep hosttelemetry.Report) {
			if !p.current(s) {
				return
			}
			s.Add(smp...)
			msg := ""
			if rep.Skipped > 0 {
				msg = rep.String()
			}
			p.fail(s, msg)
		}}
		_ = src.Run(ctx)
	})
}

// demoFaultHost is the host of the demo cloud whose CPU goes wrong.
const demoFaultHost = "rack1-host3"

// startDemo gives the generated cloud six hours of one-minute metrics with
// a season of one hour, a slow drift on one host three hours in and a level
// shift on demoFaultHost for the last twenty minutes.
func (p *anomalyPanel) startDemo(ctx context.Context, g *landscape.Graph, end time.Time) {
	cfg := telemetry.DefaultConfig()
	cfg.Period = 60
	p.start(ctx, "generated metrics (1 min, seasonal, with injected faults)", cfg, 0, func(ctx context.Context, s *telemetry.Store) {
		demoTelemetry(ctx, s, g, end)
		p.dirty.Store(true)
	})
}

// demoTelemetry fills s with the demo cloud's metrics (see startDemo).
func demoTelemetry(ctx context.Context, s *telemetry.Store, g *landscape.Graph, end time.Time) {
	s.SetGraph(g)
	const steps = 360
	syn := telemetry.NewSynth(g, s.Config().Period, 7)
	faults := []telemetry.Fault{
		{Kind: telemetry.FaultDrift, Node: "rack0-host5", Metric: "cpu_busy_pct", Start: 180, End: 220, Size: 10},
		{Kind: telemetry.FaultShift, Node: demoFaultHost, Metric: "cpu_busy_pct", Start: steps - 20, End: steps, Size: 12},
	}
	t0 := end.Add(-steps * time.Minute).UnixMilli()
	var batch []telemetry.Sample
	var act []*telemetry.Fault
	for i := range steps {
		act = act[:0]
		for k := range faults {
			if i >= faults[k].Start && i < faults[k].End {
				act = append(act, &faults[k])
			}
		}
		batch = syn.Step(batch[:0], i, t0+int64(i)*60000, act)
		s.Add(batch...)
		if ctx.Err() != nil {
			return
		}
	}
}

// startFile follows a telemetry CSV file.
func (p *anomalyPanel) startFile(ctx context.Context, path string) {
	p.start(ctx, path, telemetry.DefaultConfig(), 0, func(ctx context.Context, s *telemetry.Store) {
		w := &telemetrycsv.Watcher{Path: path,
			OnRows: func(smp []telemetry.Sample) {
				if !p.current(s) {
					return
				}
				s.Add(smp...) // in file order, as flowscape anomalies: a clock that went back is seen
				p.dirty.Store(true)
			},
			OnReport: func(r telemetrycsv.Report) {
				msg := ""
				if r.Bad > 0 {
					msg = path + ": " + r.String()
				}
				p.fail(s, msg)
			},
			OnError: func(err error) { p.fail(s, err.Error()) },
		}
		if err := w.Run(ctx); err != nil {
			p.fail(s, err.Error())
		}
	})
}

// setGraph joins the telemetry to the landscape shown.
func (p *anomalyPanel) setGraph(g *landscape.Graph) {
	p.mu.Lock()
	s := p.store
	p.mu.Unlock()
	if s != nil && s.Graph() != g {
		s.SetGraph(g)
		p.dirty.Store(true)
	}
}

// changed asks for a new assessment at the next tick.
func (p *anomalyPanel) changed() {
	p.urgent.Store(true)
	p.dirty.Store(true)
}

// tick assesses again when something changed, at most twice a second
// while samples stream in, off the UI goroutine.
func (p *anomalyPanel) tick() {
	p.mu.Lock()
	s := p.store
	p.mu.Unlock()
	if s == nil {
		return
	}
	if s.Stats().Samples > 0 && time.Since(p.lastAsses) > 2*time.Second {
		p.dirty.Store(true) // live: the cursor moves on
	}
	if !p.dirty.Load() || (!p.urgent.Load() && time.Since(p.lastAsses) < 500*time.Millisecond) || !p.running.CompareAndSwap(false, true) {
		return
	}
	p.dirty.Store(false)
	p.urgent.Store(false)
	p.lastAsses = time.Now()
	var cfg *telemetry.Config
	if p.retune.Swap(false) {
		p.mu.Lock()
		c := p.cfg
		p.mu.Unlock()
		cfg = &c
	}
	p.async(func() {
		defer p.running.Store(false)
		if cfg != nil {
			s.Rescore(*cfg)
		}
		p.assess(s)
	})
}

// assess computes the state at the cursor and shows it.
func (p *anomalyPanel) assess(s *telemetry.Store) {
	first, last := s.TimeRange()
	p.mu.Lock()
	at, stale := p.at, p.stale
	p.mu.Unlock()
	when := at
	if when == 0 {
		when = last
		if stale > 0 {
			when = max(last, time.Now().UnixMilli())
		}
	}
	a := s.Assess(when, stale)
	// Anomalous nodes by score, each with its root-cause rank; then the
	// nodes only impacted.
	rows := a.Anomalies()
	slices.SortStableFunc(rows, func(x, y *telemetry.NodeState) int {
		switch {
		case x.Score > y.Score:
			return -1
		case x.Score < y.Score:
			return 1
		}
		return x.Rank - y.Rank
	})
	var impacted []*telemetry.NodeState
	for _, n := range a.Nodes {
		if !n.Anomalous() && n.Impacted() {
			impacted = append(impacted, n)
		}
	}
	slices.SortFunc(impacted, func(x, y *telemetry.NodeState) int { return strings.Compare(x.ID, y.ID) })
	rows = append(rows, impacted...)
	if len(rows) > maxAnomalyRows {
		rows = rows[:maxAnomalyRows]
	}
	health := make(map[string]widgets.NodeHealth, len(a.Nodes))
	for id, n := range a.Nodes {
		health[id] = widgets.NodeHealth{Level: n.Level, Impacted: n.Impacted()}
	}
	st := s.Stats()
	un := s.Unjoined()
	unjoined := fmt.Sprintf("%d series unjoined", len(un))
	if len(un) > 0 {
		var first []string
		for _, u := range un[:min(3, len(un))] {
			first = append(first, u.Key.Kind+"="+u.Key.Value+" "+u.Metric)
		}
		unjoined += " (no single node has the key: " + strings.Join(first, ", ")
		if len(un) > 3 {
			unjoined += ", …"
		}
		unjoined += ")"
	}
	p.mu.Lock()
	if p.store != s {
		p.mu.Unlock()
		return
	}
	p.a, p.rows, p.first, p.last = a, rows, first, last
	source, problem, sel := p.source, p.problem, p.selected
	p.mu.Unlock()

	crit, warn, imp := a.Counts()
	why := ""
	if len(a.Causes) > 0 {
		n := a.Nodes[a.Causes[0]]
		why = fmt.Sprintf("Likeliest cause: %s is %s, %s since %s", n.ID, n.Level, offText(n), clock(n.Since))
		if d := dependents(a, n.ID); d > 0 {
			why += fmt.Sprintf("; %d nodes depend on it", d)
		}
		why += "."
	}
	status := fmt.Sprintf("Telemetry: %s · %d samples, %s", source, st.Samples, unjoined)
	if st.NaN+st.OutOfOrder > 0 {
		status += fmt.Sprintf(" · skipped %d NaN, %d out of order", st.NaN, st.OutOfOrder)
	}
	if st.Gaps+st.ClockBack > 0 {
		status += fmt.Sprintf(" · %s (the sample after each not scored), a clock went back %s", plural(st.Gaps, "gap"), plural(st.ClockBack, "time"))
	}
	if problem != "" {
		status = problem + " · " + status
	}
	fyne.Do(func() {
		p.legend.SetCounts(crit, warn, imp)
		p.legend.SetWhy(why)
		p.status.SetText(status)
		p.status.Importance = widget.MediumImportance
		if problem != "" {
			p.status.Importance = widget.DangerImportance
		}
		p.list.Refresh()
		p.cursorSet = true
		if last > first {
			p.cursor.Min, p.cursor.Max = float64(first), float64(last)
			p.cursor.Step = float64(max(1, (last-first)/1000))
			if at == 0 {
				p.cursor.SetValue(p.cursor.Max)
			} else {
				p.cursor.SetValue(float64(at))
			}
		}
		p.cursorSet = false
		label := "at " + clock(when)
		if at == 0 {
			label += " (live)"
		}
		p.cursorLabel.SetText(label)
		if p.OnHealth != nil {
			p.OnHealth(health)
		}
		p.showNode(sel)
	})
}

// dependents counts the nodes impacted by id.
func dependents(a *telemetry.Assessment, id string) int {
	n := 0
	for _, s := range a.Nodes {
		if slices.Contains(s.ImpactedBy, id) {
			n++
		}
	}
	return n
}

func clock(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("15:04:05 UTC")
}

// describe is the telemetry part of a node's details.
func (p *anomalyPanel) describe(id string) string {
	p.mu.Lock()
	a, warn := p.a, p.cfg.Warn
	p.mu.Unlock()
	if a == nil {
		return ""
	}
	n := a.State(id)
	var s strings.Builder
	switch {
	case n.Anomalous():
		fmt.Fprintf(&s, "Telemetry: %s, root-cause rank %d: %s since %s\n", n.Level, n.Rank, offText(n), clock(n.Since))
	case n.Level == telemetry.OK:
		fmt.Fprintf(&s, "Telemetry: ok (worst: %s, %s)\n", n.Metric, scoreText(n.Score, n.By == telemetry.ByCUSUM, false, warn))
	default:
		s.WriteString("Telemetry: none joined to this node\n")
	}
	for _, x := range n.ImpactedBy {
		if v := n.Via[x]; v != x {
			fmt.Fprintf(&s, "Impacted by %s (via %s)\n", x, v)
		} else {
			fmt.Fprintf(&s, "Impacted by %s\n", x)
		}
	}
	return s.String()
}

// showNode puts node id's offending metric (or its first) in the
// sparkline. UI goroutine.
func (p *anomalyPanel) showNode(id string) {
	p.mu.Lock()
	p.selected = id
	s, a, at := p.store, p.a, p.at
	p.mu.Unlock()
	if s == nil || id == "" {
		p.sparkLabel.SetText("")
		p.spark.SetValues(nil, nil)
		return
	}
	series := s.Series(id)
	if len(series) == 0 {
		p.sparkLabel.SetText(id + ": no telemetry")
		p.spark.SetValues(nil, nil)
		return
	}
	pick := series[0]
	if a != nil {
		if m := a.State(id).Metric; m != "" {
			for _, sv := range series {
				if sv.Metric == m {
					pick = sv
				}
			}
		}
	}
	pts := pick.Points
	if at != 0 {
		k := len(pts)
		for k > 0 && pts[k-1].T > at {
			k--
		}
		pts = pts[:k]
	}
	if len(pts) > 240 {
		pts = pts[len(pts)-240:]
	}
	vals := make([]float64, len(pts))
	for i, pt := range pts {
		vals[i] = pt.V
	}
	level := telemetry.OK
	if len(pts) > 0 {
		level = pts[len(pts)-1].Level
	}
	last := 0.0
	if len(vals) > 0 {
		last = vals[len(vals)-1]
	}
	p.sparkLabel.SetText(fmt.Sprintf("%s · %s: %s (last %d samples; %s)", id, pick.Metric, formatValue(last), len(vals), plural(len(series), "metric")))
	p.spark.SetValues(vals, widgets.HealthFill(level))
}

func formatValue(v float64) string {
	switch {
	case v >= 1e9 || v <= -1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6 || v <= -1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4 || v <= -1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.2f", v)
}

// foldHealth gives each node shown its health: a group the worst of its
// members', impacted when any member is.
func foldHealth(h map[string]widgets.NodeHealth, members map[string][]string) map[string]widgets.NodeHealth {
	out := make(map[string]widgets.NodeHealth, len(h))
	for id, v := range h {
		out[id] = v
	}
	for gid, ms := range members {
		g := widgets.NodeHealth{Level: telemetry.NoData}
		if v, ok := h[gid]; ok {
			g = v
		}
		for _, m := range ms {
			if v, ok := h[m]; ok {
				g.Level = max(g.Level, v.Level)
				g.Impacted = g.Impacted || v.Impacted
			}
		}
		if g.Level != telemetry.NoData || g.Impacted {
			out[gid] = g
		}
	}
	return out
}

// startNone stops the telemetry and clears the colours, saying why there
// is none.
func (p *anomalyPanel) startNone(ctx context.Context, why string) {
	p.start(ctx, why, telemetry.DefaultConfig(), 0, func(context.Context, *telemetry.Store) {})
}

// minHeight is an invisible object that gives a stack its height.
func minHeight(h float32) fyne.CanvasObject {
	r := canvas.NewRectangle(color.Transparent)
	r.SetMinSize(fyne.NewSize(0, h))
	return r
}
