package widgets

import (
	"bytes"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"github.com/go-text/typesetting/di"
	"github.com/go-text/typesetting/font"
	"github.com/go-text/typesetting/shaping"
	"golang.org/x/image/math/fixed"
)

// textMeasurer measures text as Fyne draws it (the default theme's fonts,
// the same HarfbuzzShaper), with font faces of its own, so it can run off
// the UI goroutine: fyne.MeasureText shares caches with the renderer and is
// only safe on the UI goroutine.
type textMeasurer struct {
	mu     sync.Mutex
	faces  map[bool]*font.Face // by bold
	shaper shaping.HarfbuzzShaper
}

var measurer textMeasurer

// measure returns the size of one line of text at size (in Fyne units).
func (m *textMeasurer) measure(text string, size float32, bold bool) fyne.Size {
	m.mu.Lock()
	defer m.mu.Unlock()
	face := m.face(bold)
	if face == nil {
		return fyne.NewSize(float32(len(text))*size*0.6, size*1.3)
	}
	runes := []rune(text)
	in := shaping.Input{
		Text:      []rune{' '},
		RunEnd:    1,
		Direction: di.DirectionLTR,
		Face:      face,
		Size:      fixed.Int26_6(float64(size) * 64),
	}
	height := m.shaper.Shape(in).LineBounds.LineThickness()
	in.Text, in.RunEnd = runes, len(runes)
	out := m.shaper.Shape(in)
	return fyne.NewSize(float32(out.Advance)/64, float32(height)/64)
}

func (m *textMeasurer) face(bold bool) *font.Face {
	if f, ok := m.faces[bold]; ok {
		return f
	}
	if m.faces == nil {
		m.faces = map[bool]*font.Face{}
	}
	res := theme.DefaultTheme().Font(fyne.TextStyle{Bold: bold})
	f, err := font.ParseTTF(bytes.NewReader(res.Content()))
	if err != nil {
		f = nil
	}
	m.faces[bold] = f
	return f
}
