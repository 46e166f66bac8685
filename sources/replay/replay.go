// Package replay is the code-flow backend that replays a recorded trace
// file (Chrome Trace Event JSON, as `flowscape trace` writes it).
package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"flowscape/sources"
	"flowscape/tracer"
)

// Name is the backend's registry name.
const Name = "replay"

// Backend replays trace files.
type Backend struct{}

var _ sources.FlowBackend = Backend{}

// Info says what the backend reads; it is always available.
func (Backend) Info(context.Context) sources.Info {
	return sources.Info{
		Name:      Name,
		Kind:      sources.KindCodeFlow,
		Summary:   "open a recorded trace file (Chrome Trace Event JSON, as `flowscape trace` and VizTracer write)",
		Available: true,
	}
}

// NewFlow checks that the file can be opened.
func (Backend) NewFlow(cfg sources.FlowConfig) (sources.FlowSource, error) {
	if cfg.File == "" {
		return nil, errors.New("no trace file given")
	}
	f, err := os.Open(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("trace file: %w", err)
	}
	f.Close()
	path := cfg.File
	return sources.FlowFunc(func(ctx context.Context, rec tracer.Recorder) error {
		return Load(ctx, path, rec)
	}), nil
}

// Load reads the trace file at path into rec. What was read before an
// error stays in rec.
func Load(ctx context.Context, path string, rec tracer.Recorder) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("trace file: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(ctxReader{ctx, f}, 1<<20)
	if err := tracer.ReadChrome(r, rec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ctxReader stops reading when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	f   *os.File
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.f.Read(p)
}
