// Package replay is the code-flow backend that replays a recorded trace
// file: Chrome Trace Event JSON (as `flowscape trace`, VizTracer, Chrome
// and Perfetto write it), speedscope, callgrind or collapsed stacks. It can
// also follow a file another process is appending to.
package replay

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

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
		Summary:   "open a recorded trace file (Chrome Trace Event JSON as `flowscape trace`, VizTracer and Perfetto write it, speedscope, callgrind, collapsed stacks), or follow one being written",
		Available: true,
	}
}

// NewFlow checks that the file can be opened.
func (Backend) NewFlow(cfg sources.FlowConfig) (sources.FlowSource, error) {
	if cfg.File == "" {
		return nil, errors.New("no trace file given")
	}
	return NewSource(cfg.File, Options{})
}

// Options says how to read a trace file.
type Options struct {
	// Format is the file's format; "" guesses it from the content and the
	// name.
	Format tracer.FileFormat
	// Progress, when set, is called from the reading goroutine as the file
	// is read (at most every 256 KiB and at the end) with the bytes read
	// and the file's size.
	Progress func(read, size int64)
	// Report, when set, gets what the reader said about the file (notes on
	// what it could not show), once it is read.
	Report func(tracer.ImportReport)
	// Follow keeps reading what another process appends to the file, until
	// the context ends or the file is removed.
	Follow bool
}

// NewSource returns a source that reads the trace file at path, after
// checking it can be opened.
func NewSource(path string, opt Options) (sources.FlowSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace file: %w", err)
	}
	f.Close()
	return sources.FlowFunc(func(ctx context.Context, rec tracer.Recorder) error {
		rep, err := Open(ctx, path, opt, rec)
		if opt.Report != nil {
			opt.Report(rep)
		}
		if opt.Follow && errors.Is(err, context.Canceled) {
			return nil // following ends when it is stopped
		}
		return err
	}), nil
}

// Load reads the trace file at path into rec, guessing its format. What
// was read before an error stays in rec.
func Load(ctx context.Context, path string, rec tracer.Recorder) error {
	_, err := Open(ctx, path, Options{}, rec)
	return err
}

// Open reads the trace file at path into rec as opt says, and returns what
// the reader reported. What was read before an error stays in rec; the
// error names the file.
func Open(ctx context.Context, path string, opt Options, rec tracer.Recorder) (tracer.ImportReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return tracer.ImportReport{}, fmt.Errorf("trace file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return tracer.ImportReport{}, fmt.Errorf("trace file: %w", err)
	}
	if st.IsDir() {
		return tracer.ImportReport{}, fmt.Errorf("%s is a directory, not a trace file", path)
	}
	gz := isGzip(f)
	if gz && opt.Follow {
		return tracer.ImportReport{}, fmt.Errorf("%s is compressed (gzip): it cannot be followed", path)
	}
	var tail *tailReader
	if opt.Follow {
		if tail, err = newTailReader(ctx, f, path); err != nil {
			return tracer.ImportReport{}, fmt.Errorf("follow %s: %w", path, err)
		}
		defer tail.close()
	}
	format := opt.Format
	if format == "" {
		if format, err = guess(ctx, f, path, tail, gz); err != nil {
			return tracer.ImportReport{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	pr := &progressReader{ctx: ctx, r: f, size: st.Size(), progress: opt.Progress, path: path}
	if tail != nil {
		tail.r = pr
		lr := &liveReader{Reader: bufio.NewReaderSize(tail, 1<<20), tail: tail}
		rep, err := tracer.Import(lr, format, rec)
		return rep, wrap(path, err)
	}
	var in io.Reader = pr
	if gz {
		zr, err := gzip.NewReader(bufio.NewReaderSize(pr, 1<<20))
		if err != nil {
			return tracer.ImportReport{}, fmt.Errorf("%s: gzip: %w", path, err)
		}
		in = gzipErrors{zr}
	}
	rep, err := tracer.Import(bufio.NewReaderSize(in, 1<<20), format, rec)
	pr.report(true)
	return rep, wrap(path, err)
}

// isGzip reports whether the file starts with gzip's magic bytes.
func isGzip(f *os.File) bool {
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// gzipErrors says that a decompression error is one.
type gzipErrors struct{ r io.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

func wrap(path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: reading stopped: %w", path, context.Canceled)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// guess reads the head of the file (waiting for content when following an
// empty file) and guesses its format.
func guess(ctx context.Context, f *os.File, path string, tail *tailReader, gz bool) (tracer.FileFormat, error) {
	head := make([]byte, 64<<10)
	for {
		var n int
		var err error
		if gz {
			path = strings.TrimSuffix(path, ".gz")
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(io.NewSectionReader(f, 0, 1<<62)); err == nil {
				n, err = io.ReadFull(zr, head)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = nil
			}
		} else {
			n, err = f.ReadAt(head, 0)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		if format := tracer.GuessFormat(path, head[:n]); format != "" {
			return format, nil
		}
		if tail == nil || n >= 64 {
			if n == 0 {
				return "", errors.New("the file is empty")
			}
			return "", tracer.ErrUnknownFormat
		}
		if err := tail.wait(); err != nil {
			return "", err
		}
	}
}

// progressReader reports how much was read and stops when ctx ends.
type progressReader struct {
	ctx      context.Context
	r        io.Reader
	path     string
	read     int64
	size     int64
	last     int64
	progress func(read, size int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.read += int64(n)
	p.report(false)
	return n, err
}

func (p *progressReader) report(final bool) {
	if p.progress == nil || (!final && p.read-p.last < 256<<10) {
		return
	}
	p.last = p.read
	size := p.size
	if p.read > size {
		if st, err := os.Stat(p.path); err == nil {
			p.size = st.Size()
		}
		size = max(p.size, p.read)
	}
	p.progress(p.read, size)
}

// tailReader reads a file another process appends to: at the end it waits
// for the file to grow (fsnotify, with a slow poll as a fallback) until
// the context ends or the file is removed or renamed.
type tailReader struct {
	ctx     context.Context
	f       *os.File
	r       io.Reader // reads f (through the progress counter)
	path    string
	w       *fsnotify.Watcher
	pos     atomic.Int64 // bytes read
	removed bool
}

func newTailReader(ctx context.Context, f *os.File, path string) (*tailReader, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	// watch the directory: editors and loggers replace files
	abs, err := filepath.Abs(path)
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return nil, err
	}
	return &tailReader{ctx: ctx, f: f, r: f, path: abs, w: w}, nil
}

func (t *tailReader) close() { t.w.Close() }

func (t *tailReader) Read(b []byte) (int, error) {
	for {
		n, err := t.r.Read(b)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			t.pos.Add(int64(n))
			return n, err
		}
		if t.removed {
			return 0, io.EOF
		}
		if err := t.wait(); err != nil {
			return 0, err
		}
	}
}

// wait returns when the file may have grown, or with the context's error.
func (t *tailReader) wait() error {
	tick := time.NewTimer(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return t.ctx.Err()
		case ev, ok := <-t.w.Events:
			if !ok {
				return io.EOF
			}
			if filepath.Clean(ev.Name) != t.path {
				continue
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				t.removed = true
				return nil
			}
			if ev.Has(fsnotify.Write) || ev.Has(fsnotify.Create) {
				return nil
			}
		case err, ok := <-t.w.Errors:
			if !ok {
				return io.EOF
			}
			return fmt.Errorf("watching %s: %w", t.path, err)
		case <-tick.C:
			return nil
		}
	}
}

// liveReader is the buffered input of a followed file: it is waiting when
// its buffer is empty and everything the file holds was read.
type liveReader struct {
	*bufio.Reader
	tail *tailReader
}

var _ tracer.Waiter = (*liveReader)(nil)

// Waiting reports whether everything written so far was read.
func (l *liveReader) Waiting() bool {
	if l.Buffered() > 0 {
		return false
	}
	st, err := l.tail.f.Stat()
	return err != nil || st.Size() <= l.tail.pos.Load()
}
