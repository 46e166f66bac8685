package app

import (
	"sync/atomic"

	"fyne.io/fyne/v2"
)

// refresher coalesces UI updates asked for from goroutines: at most one is
// queued with fyne.Do at a time; asks made while one is pending are dropped,
// since the pending one will read the latest state.
type refresher struct {
	pending atomic.Bool
	fn      func()
}

// ask queues fn on the UI goroutine unless a run is already pending.
func (r *refresher) ask() {
	if !r.pending.CompareAndSwap(false, true) {
		return
	}
	fyne.Do(func() {
		r.pending.Store(false)
		r.fn()
	})
}
