package widgets

import (
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Sparkline draws a short series of values as a line, scaled from zero to
// its maximum, newest on the right.
type Sparkline struct {
	widget.BaseWidget
	values []float64
	color  color.Color
}

var _ fyne.Widget = (*Sparkline)(nil)

// NewSparkline returns an empty sparkline.
func NewSparkline() *Sparkline {
	s := &Sparkline{}
	s.ExtendBaseWidget(s)
	return s
}

// SetValues shows values in c (nil: the theme's primary colour). Call on
// the UI goroutine.
func (s *Sparkline) SetValues(values []float64, c color.Color) {
	s.values = append(s.values[:0], values...)
	s.color = c
	s.Refresh()
}

// CreateRenderer is part of fyne.Widget.
func (s *Sparkline) CreateRenderer() fyne.WidgetRenderer {
	return &sparklineRenderer{s: s, base: canvas.NewLine(theme.Color(theme.ColorNameSeparator))}
}

type sparklineRenderer struct {
	s     *Sparkline
	lines []*canvas.Line
	base  *canvas.Line
	all   []fyne.CanvasObject
}

var _ fyne.WidgetRenderer = (*sparklineRenderer)(nil)

func (r *sparklineRenderer) Layout(fyne.Size) { r.Refresh() }

func (r *sparklineRenderer) MinSize() fyne.Size { return fyne.NewSize(60, 24) }

func (r *sparklineRenderer) Objects() []fyne.CanvasObject { return r.all }

func (r *sparklineRenderer) Destroy() {}

func (r *sparklineRenderer) Refresh() {
	s := r.s
	size := s.Size()
	w, h := float64(size.Width), float64(size.Height)-2
	r.base.Position1 = fyne.NewPos(0, float32(h+1))
	r.base.Position2 = fyne.NewPos(float32(w), float32(h+1))
	r.base.StrokeColor = theme.Color(theme.ColorNameSeparator)
	r.base.Refresh()
	r.all = append(r.all[:0], r.base)
	n := len(s.values)
	if n < 2 {
		return
	}
	top := 0.0
	for _, v := range s.values {
		top = math.Max(top, v)
	}
	if top <= 0 {
		top = 1
	}
	c := s.color
	if c == nil {
		c = theme.Color(theme.ColorNamePrimary)
	}
	pt := func(i int) fyne.Position {
		return fyne.NewPos(float32(w*float64(i)/float64(n-1)), float32(1+h-h*math.Max(0, s.values[i])/top))
	}
	for len(r.lines) < n-1 {
		r.lines = append(r.lines, canvas.NewLine(c))
	}
	for i := 0; i < n-1; i++ {
		l := r.lines[i]
		l.Position1, l.Position2 = pt(i), pt(i+1)
		l.StrokeColor, l.StrokeWidth = c, 1.5
		l.Refresh()
		r.all = append(r.all, l)
	}
}
