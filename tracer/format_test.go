package tracer

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{812, "812ns"}, {4210, "4.21µs"}, {12_300_000, "12.3ms"}, {1_500_000_000, "1.50s"}, {-5, "-5ns"}, {250 * time.Millisecond, "250ms"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
