package widgets

import (
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// The measurer agrees with Fyne's own measuring (to a pixel), and can run
// on many goroutines at once (go test -race).
func TestTextMeasurerMatchesFyne(t *testing.T) {
	test.NewTempApp(t)
	for _, tt := range []struct {
		s    string
		size float32
		bold bool
	}{
		{"Shop.checkout.<locals>.<genexpr>", 11, true},
		{"128 calls · 2.59ms (0.0%)", 11, false},
		{"reached +1.55ms", 17.6, false},
		{"", 11, false},
	} {
		want := fyne.MeasureText(tt.s, tt.size, fyne.TextStyle{Bold: tt.bold})
		got := measurer.measure(tt.s, tt.size, tt.bold)
		if d := got.Width - want.Width; d > 1 || d < -1 {
			t.Errorf("%q at %v: width %v, Fyne says %v", tt.s, tt.size, got.Width, want.Width)
		}
		if d := got.Height - want.Height; d > 1 || d < -1 {
			t.Errorf("%q at %v: height %v, Fyne says %v", tt.s, tt.size, got.Height, want.Height)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				measurer.measure("concurrent", 12, false)
			}
		}()
	}
	wg.Wait()
}
