package widgets

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSparklineScalesToItsMaximum(t *testing.T) {
	test.NewTempApp(t)
	s := NewSparkline()
	s.Resize(fyne.NewSize(100, 42))
	s.SetValues([]float64{0, 50, 100, 25}, nil)
	r := test.TempWidgetRenderer(t, s).(*sparklineRenderer)
	r.Refresh()
	require.Len(t, r.all, 4, "the base line and three segments")
	first, last := r.lines[0], r.lines[2]
	assert.Equal(t, float32(0), first.Position1.X)
	assert.Equal(t, float32(41), first.Position1.Y, "zero at the bottom")
	assert.Equal(t, float32(1), r.lines[1].Position2.Y, "the maximum at the top")
	assert.Equal(t, float32(100), last.Position2.X, "newest on the right")
	assert.Equal(t, float32(31), last.Position2.Y)

	s.SetValues([]float64{7}, nil)
	r.Refresh()
	assert.Len(t, r.all, 1, "one value draws no line")
}
