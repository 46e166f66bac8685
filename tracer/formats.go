package tracer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// FileFormat names a trace or profile file format Flowscape reads and
// writes.
type FileFormat string

// The file formats.
const (
	Chrome     FileFormat = "chrome"     // Chrome Trace Event JSON (chrome://tracing, Perfetto, VizTracer)
	Speedscope FileFormat = "speedscope" // speedscope's JSON file format (evented and sampled profiles)
	Callgrind  FileFormat = "callgrind"  // callgrind's profile format (KCachegrind, QCachegrind)
	Collapsed  FileFormat = "collapsed"  // collapsed stacks, one "a;b;c 42" per line (flamegraph.pl)
)

// FileFormats lists the formats, in the order help texts show them.
var FileFormats = []FileFormat{Chrome, Speedscope, Callgrind, Collapsed}

// ParseFileFormat returns the format named s (case-insensitive; "json",
// "perfetto" and "viztracer" mean chrome, "folded" and "flamegraph" mean
// collapsed).
func ParseFileFormat(s string) (FileFormat, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "chrome", "json", "perfetto", "viztracer", "trace-event", "trace":
		return Chrome, nil
	case "speedscope":
		return Speedscope, nil
	case "callgrind", "kcachegrind":
		return Callgrind, nil
	case "collapsed", "folded", "flamegraph", "stackcollapse":
		return Collapsed, nil
	}
	return "", fmt.Errorf("unknown format %q (want chrome, speedscope, callgrind or collapsed)", s)
}

// FormatFromName guesses a format from a file name: *.speedscope.json is
// speedscope, other *.json chrome, callgrind.out.* and *.callgrind
// callgrind, *.folded, *.collapsed and *.stacks collapsed stacks. It returns
// "" when the name says nothing.
func FormatFromName(path string) FileFormat {
	base := strings.ToLower(filepath.Base(path))
	base = strings.TrimSuffix(base, ".gz")
	switch {
	case strings.HasSuffix(base, ".speedscope.json"), strings.HasSuffix(base, ".speedscope"):
		return Speedscope
	case strings.HasSuffix(base, ".json"):
		return Chrome
	case strings.HasPrefix(base, "callgrind.out"), strings.HasSuffix(base, ".callgrind"), strings.HasPrefix(base, "cachegrind.out"):
		return Callgrind
	case strings.HasSuffix(base, ".folded"), strings.HasSuffix(base, ".collapsed"), strings.HasSuffix(base, ".stacks"):
		return Collapsed
	}
	return ""
}

// sniffSize is how much of a file DetectFormat looks at.
const sniffSize = 64 << 10

// DetectFormat guesses the format of a file from its first bytes: JSON
// naming speedscope's schema is speedscope, other JSON chrome; text with
// callgrind's header lines or fn= lines is callgrind; text whose lines end
// in a number after a space is collapsed stacks. It returns "" when the
// content matches none.
func DetectFormat(head []byte) FileFormat {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	if len(trimmed) == 0 {
		return ""
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		if bytes.Contains(head, []byte("speedscope.app/file-format-schema")) ||
			bytes.Contains(head, []byte(`"exporter": "speedscope`)) || bytes.Contains(head, []byte(`"exporter":"speedscope`)) {
			return Speedscope
		}
		return Chrome
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return ""
	}
	lines := bytes.Split(head, []byte("\n"))
	if len(head) == sniffSize && len(lines) > 1 {
		lines = lines[:len(lines)-1] // the last one may be cut
	}
	collapsed, other := 0, 0
	for _, l := range lines {
		l = bytes.TrimRight(l, "\r")
		if len(l) == 0 {
			continue
		}
		for _, p := range [][]byte{[]byte("# callgrind format"), []byte("events:"), []byte("fn="), []byte("fl="), []byte("creator:"), []byte("positions:"), []byte("cmd:")} {
			if bytes.HasPrefix(l, p) {
				return Callgrind
			}
		}
		if _, _, ok := splitCollapsed(string(l)); ok {
			collapsed++
		} else {
			other++
		}
	}
	if collapsed > 0 && other == 0 {
		return Collapsed
	}
	return ""
}

// GuessFormat guesses a file's format from its first bytes and its name:
// the content decides, the name breaks ties (JSON named *.speedscope.json
// is speedscope even when its head does not name the schema) and is used
// alone when the content says nothing.
func GuessFormat(path string, head []byte) FileFormat {
	byName := FormatFromName(path)
	byContent := DetectFormat(head)
	switch {
	case byContent == "":
		return byName
	case byContent == Chrome && byName == Speedscope:
		return Speedscope
	}
	return byContent
}

// ImportReport says what Import read.
type ImportReport struct {
	Format FileFormat
	Calls  int // calls given to the recorder
	// Notes are things the reader could not represent exactly, e.g.
	// "49 instant events (marks, not calls)"; empty when none.
	Notes []string
}

// ErrUnknownFormat is returned when a file's format cannot be guessed.
var ErrUnknownFormat = errors.New("unknown trace format: not Chrome Trace Event JSON, speedscope, callgrind or collapsed stacks (give it with --from)")

// Waiter is an input that another process is still writing (a file being
// followed). Waiting reports whether everything written so far has been
// read, so a reader gives what it holds to the recorder before the next
// Read waits for more. A Waiter buffers its input itself.
type Waiter interface {
	io.Reader
	Waiting() bool
}

// Import reads a file of format f from r into rec; with f == "" it guesses
// the format from the content. On a fault the error is a *FormatError and
// what was read before it has been given to rec.
func Import(r io.Reader, f FileFormat, rec Recorder) (ImportReport, error) {
	var in io.Reader = r
	br, ok := r.(*bufio.Reader)
	if _, live := r.(Waiter); !live && (!ok || br.Size() < sniffSize) {
		br = bufio.NewReaderSize(r, max(sniffSize, 1<<20))
		in = br
	}
	if f == "" {
		if br == nil {
			return ImportReport{}, errors.New("a followed file needs its format")
		}
		head, err := br.Peek(sniffSize)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return ImportReport{}, err
		}
		if f = DetectFormat(head); f == "" {
			return ImportReport{}, ErrUnknownFormat
		}
	}
	rep := ImportReport{Format: f}
	var err error
	switch f {
	case Chrome:
		var cr ChromeReport
		cr, err = ReadChromeReport(in, rec)
		rep.Calls = cr.Calls
		rep.Notes = cr.notes()
	case Speedscope:
		rep.Calls, err = ReadSpeedscope(in, rec)
	case Callgrind:
		rep.Calls, err = ReadCallgrind(in, rec)
		rep.Notes = []string{"a callgrind profile has no timeline: its calls are laid out from their counts, costs read as ns"}
	case Collapsed:
		rep.Calls, err = ReadCollapsed(in, rec)
		rep.Notes = []string{"collapsed stacks have no timeline and no call counts: each line lasts its count in ns, consecutive lines share calls"}
	default:
		return rep, fmt.Errorf("unknown format %q", f)
	}
	return rep, err
}

// Export writes t in format f.
func Export(w io.Writer, f FileFormat, t *Trace) error {
	switch f {
	case Chrome:
		return WriteChrome(w, t)
	case Speedscope:
		return WriteSpeedscope(w, t)
	case Callgrind:
		return WriteCallgrind(w, t)
	case Collapsed:
		return WriteCollapsed(w, t)
	}
	return fmt.Errorf("unknown format %q", f)
}

// frameTable interns frames by function, file and first line, numbering
// them from 1.
type frameTable struct {
	ids    map[frameKey]FrameID
	frames []Frame // by id-1
	sent   int     // frames already given to the recorder
}

func (ft *frameTable) intern(f Frame) FrameID {
	if ft.ids == nil {
		ft.ids = make(map[frameKey]FrameID)
	}
	k := frameKey{file: f.File, line: f.Line, fn: f.Func}
	if id, ok := ft.ids[k]; ok {
		return id
	}
	f.ID = FrameID(len(ft.frames) + 1)
	ft.ids[k] = f.ID
	ft.frames = append(ft.frames, f)
	return f.ID
}

func (ft *frameTable) frame(id FrameID) *Frame { return &ft.frames[id-1] }

// announce gives the frames not yet given to rec.
func (ft *frameTable) announce(rec Recorder) {
	if ft.sent < len(ft.frames) {
		rec.Frames(ft.frames[ft.sent:])
		ft.sent = len(ft.frames)
	}
}

// eventBatch buffers one thread's events for a recorder.
type eventBatch struct {
	rec Recorder
	ft  *frameTable
	tid uint32
	evs []Event
}

func (b *eventBatch) add(e Event) {
	if b.evs == nil {
		b.evs = make([]Event, 0, 4096)
	}
	b.evs = append(b.evs, e)
	if len(b.evs) == cap(b.evs) {
		b.flush()
	}
}

func (b *eventBatch) flush() {
	if len(b.evs) == 0 {
		return
	}
	b.ft.announce(b.rec)
	b.rec.Events(b.tid, b.evs)
	b.evs = b.evs[:0]
}

// spanWalk reads a thread's stored calls in order: fn gets each call's
// entry record, its end (the exit's time; for a call still open the trace's
// latest event, as the callgraph counts it; for one whose exit was not
// stored the thread's latest event) and the stack of frames above it (root first, ending
// with the call's own frame).
func (t *Trace) spanWalk(th *threadStore, fn func(r *record, end int64, stack []FrameID) error) error {
	buf := make([]span, 1024)
	var stack []FrameID
	for from := int32(0); ; {
		n, lastTS := t.readSpans(th, from, buf, true)
		if n == 0 {
			return nil
		}
		for k := range buf[:n] {
			s := &buf[k]
			r := &s.rec
			if !r.entry() {
				continue
			}
			end := lastTS
			if s.exitOK {
				end = s.exit.ts
			} else if r.match == matchOpen {
				end = t.Stats().LastTS
			}
			d := int(r.depth)
			if d > len(stack) {
				d = len(stack)
			}
			stack = append(stack[:d], r.frame)
			if err := fn(r, end, stack); err != nil {
				return err
			}
		}
		from += int32(n)
	}
}

// storedThreads returns the threads in order of first appearance.
func (t *Trace) storedThreads() []*threadStore {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]*threadStore(nil), t.threads...)
}

// frameCache looks frames up once per id.
type frameCache struct {
	t      *Trace
	frames map[FrameID]Frame
}

func (fc *frameCache) get(id FrameID) Frame {
	if fc.frames == nil {
		fc.frames = make(map[FrameID]Frame)
	}
	f, ok := fc.frames[id]
	if !ok {
		fc.t.mu.RLock()
		f = fc.t.frameOrStub(id)
		fc.t.mu.RUnlock()
		fc.frames[id] = f
	}
	return f
}
