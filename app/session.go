package app

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"flowscape/sources"
	"flowscape/tracer"
)

// Session is one run of a code-flow source into a fresh trace: the trace,
// the program's output and how it ended. It owns no UI.
type Session struct {
	Trace  *tracer.Trace
	Output *LineBuffer

	src     sources.FlowSource
	cancel  context.CancelFunc
	done    chan struct{}
	stopped atomic.Bool
	mu      sync.Mutex
	err     error
}

// StartSession runs src in its own goroutine, recording into a new trace
// bounded to limit events (0: the default).
func StartSession(ctx context.Context, src sources.FlowSource, out *LineBuffer, limit int) *Session {
	ctx, cancel := context.WithCancel(ctx)
	s := &Session{
		Trace:  tracer.NewTrace(limit),
		Output: out,
		src:    src,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		defer cancel()
		err := src.Run(ctx, s.Trace)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return s
}

// Stop asks the source to stop (the launched program is interrupted, then
// killed). It does not wait.
func (s *Session) Stop() {
	s.stopped.Store(true)
	s.cancel()
}

// Source is what the session runs.
func (s *Session) Source() sources.FlowSource { return s.src }

// Done is closed when the source has finished.
func (s *Session) Done() <-chan struct{} { return s.done }

// Running reports whether the source is still running.
func (s *Session) Running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Err is how the source ended (nil while running, or when it ended well).
// A stop asked for by the user is not an error.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() && errors.Is(s.err, context.Canceled) {
		return nil
	}
	return s.err
}

// StoppedByUser reports whether Stop was called.
func (s *Session) StoppedByUser() bool { return s.stopped.Load() }
