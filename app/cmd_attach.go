package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"flowscape/sources/pyagent"
	"flowscape/tracer"
)

// attachTrace is flowscape trace --pid: attach, trace until Ctrl-C, the
// duration or the process's exit, detach, write the trace.
func attachTrace(cfg pyagent.AttachConfig, needC bool, duration time.Duration, limit int, out string, stderr io.Writer) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	a, err := pyagent.NewAttacher(ctx, cfg)
	if err != nil {
		return errorf(stderr, "%v", err)
	}
	if needC {
		if _, err := pyagent.HookDir(ctx, a.Interpreter().Path); err != nil {
			return errorf(stderr, "%v", err)
		}
	}
	fmt.Fprintf(stderr, "flowscape: attaching to pid %d (Python %s); Ctrl-C detaches\n", cfg.PID, a.Interpreter().Version)
	t := tracer.NewTrace(limit)
	if duration > 0 {
		// the duration counts from the moment the agent is in
		var c context.CancelFunc
		ctx, c = context.WithCancel(ctx)
		defer c()
		go func() {
			for t.Info().PID == 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(duration):
				c()
			}
		}()
	}
	runErr := a.Run(ctx, t)
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		runErr = nil // detached as asked
	}
	st := t.Stats()
	if st.Events == 0 && runErr != nil {
		return errorf(stderr, "%v", runErr)
	}
	if werr := writeTraceFile(out, t); werr != nil {
		return errorf(stderr, "write %s: %v", out, werr)
	}
	fmt.Fprintf(stderr, "flowscape: detached; %d events from %d threads, %d functions; wrote %s\n", st.Events, st.Threads, st.Frames, out)
	if info := t.Info(); info.Mode != "" {
		fmt.Fprintf(stderr, "flowscape: traced with %s\n", modeText(info))
	}
	if runErr != nil {
		return errorf(stderr, "%v", runErr)
	}
	return 0
}
