package app

import (
	"fmt"
	"sort"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"flowscape/tracer"
	"flowscape/widgets"
)

// maxCounterRows is how many counter series the Marks tab draws.
const maxCounterRows = 24

// marksPane shows a trace file's marks: its instants (log lines, GCs,
// requests) in time order, and a sparkline per counter series.
type marksPane struct {
	tab      *container.TabItem
	tabs     *container.AppTabs // holding tab, refreshed when its title changes
	list     *widget.List
	empty    *widget.Label
	counters *fyne.Container
	lines    []string
	seen     [2]int // the mark counts shown
	trace    *tracer.Trace
}

func newMarksPane() *marksPane {
	m := &marksPane{}
	m.list = widget.NewList(func() int { return len(m.lines) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(m.lines[i]) })
	m.counters = container.NewVBox()
	m.empty = widget.NewLabel("No marks: instants and counters of an opened trace file show here.")
	m.empty.Wrapping = fyne.TextWrapWord
	m.tab = container.NewTabItem("Marks", container.NewBorder(m.counters, nil, nil, nil, container.NewStack(m.empty, m.list)))
	m.list.Hide()
	return m
}

// update shows tr's marks when they changed; the first marks of a trace
// without program output (an opened file) bring the tab to the front. Call
// on the UI goroutine.
func (m *marksPane) update(tr *tracer.Trace, noOutput bool) {
	ni, nc := tr.MarkCounts()
	if tr == m.trace && m.seen == [2]int{ni, nc} {
		return
	}
	if m.tabs != nil && noOutput && ni+nc > 0 && (tr != m.trace || m.seen == [2]int{}) {
		defer m.tabs.Select(m.tab)
	}
	m.trace, m.seen = tr, [2]int{ni, nc}
	start := tr.StartNS()
	names := map[uint32]string{}
	for _, th := range tr.Threads() {
		names[th.TID] = th.Name
	}
	m.lines = m.lines[:0]
	for _, in := range tr.Instants() {
		where := fmt.Sprintf("tid %d", in.TID)
		if n := names[in.TID]; n != "" {
			where = n
		}
		switch in.Scope {
		case 'p':
			where = "process"
		case 'g':
			where = "global"
		}
		m.lines = append(m.lines, fmt.Sprintf("+%s  %s  %s", tracer.FormatDuration(time.Duration(in.TS-start)), where, in.Name))
	}
	if len(m.lines) > 0 {
		m.list.Show()
	} else {
		m.list.Hide()
	}
	m.list.Refresh()
	if ni+nc > 0 {
		m.empty.Hide()
	} else {
		m.empty.Show()
	}

	type series struct {
		name   string
		values []float64
	}
	byName := map[string]*series{}
	var order []string
	for _, c := range tr.Counters() {
		k := c.Name + "." + c.Series
		s := byName[k]
		if s == nil {
			s = &series{name: k}
			byName[k] = s
			order = append(order, k)
		}
		s.values = append(s.values, c.Value)
	}
	sort.Strings(order)
	m.counters.RemoveAll()
	for i, k := range order {
		if i == maxCounterRows {
			m.counters.Add(widget.NewLabel(fmt.Sprintf("… and %d more counter series", len(order)-i)))
			break
		}
		s := byName[k]
		lo, hi := s.values[0], s.values[0]
		for _, v := range s.values {
			lo, hi = min(lo, v), max(hi, v)
		}
		sp := widgets.NewSparkline()
		sp.SetValues(s.values, theme.Color(theme.ColorNamePrimary))
		label := widget.NewLabel(fmt.Sprintf("%s: %d samples, %.4g … %.4g, last %.4g", k, len(s.values), lo, hi, s.values[len(s.values)-1]))
		m.counters.Add(container.NewBorder(nil, nil, nil, container.NewGridWrap(fyne.NewSize(160, 28), sp), label))
	}
	title := "Marks"
	if ni+nc > 0 {
		title = fmt.Sprintf("Marks (%d)", ni+len(order))
	}
	if m.tab.Text != title {
		m.tab.Text = title
		if m.tabs != nil {
			m.tabs.Refresh()
		}
	}
}
