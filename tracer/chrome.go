package tracer

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteChrome writes the stored calls of t as Chrome Trace Event JSON (the
// format chrome://tracing, Perfetto, VizTracer and speedscope read): one
// complete "X" event per call, "M" events naming the process and threads,
// and the process info under "otherData". Timestamps are µs since
// t.StartNS() with ns precision; calls still open last until their thread's
// latest event.
//
// An event is named by Frame.Label, "func (file:line)" as VizTracer names
// it, with "cat" "python", or "c" for a C function. Viewers that tell
// functions apart by name and args (speedscope keys a frame on the name
// plus its args as JSON) must see the same for every call of a function, so
// what differs from call to call is written beside the standard fields,
// where they do not look (as VizTracer once wrote "caller_lineno"): "line"
// and "exit_line" (the current line at entry and exit, when known),
// "open":true for a call still running, "truncated":true for one closed
// after the store was full, "unwound":true for one left by an exception.
// "args" holds only what is the same for every call: the frame's "file" and
// "first_line", written when the name cannot be read back into them. It
// streams: memory does not grow with the trace.
func WriteChrome(w io.Writer, t *Trace) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	info := t.Info()
	start := t.StartNS()
	stats := t.Stats()
	t.mu.RLock()
	threads := append([]*threadStore(nil), t.threads...)
	t.mu.RUnlock()

	b := make([]byte, 0, 512)
	b = append(b, `{"traceEvents":[`...)
	b = append(b, "\n"...)
	b = append(b, `{"ph":"M","name":"process_name","pid":`...)
	b = strconv.AppendInt(b, int64(info.PID), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendInt(b, int64(info.PID), 10)
	b = append(b, `,"args":{"name":`...)
	name := strings.Join(info.Command, " ")
	if name == "" {
		name = "python"
	}
	b = appendJSONString(b, name)
	// where the times start, before the events, so a reader can place
	// them as it reads
	b = append(b, `,"start_ns":`...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, "}}"...)
	for _, th := range t.Threads() {
		b = append(b, ",\n"...)
		b = append(b, `{"ph":"M","name":"thread_name","pid":`...)
		b = strconv.AppendInt(b, int64(info.PID), 10)
		b = append(b, `,"tid":`...)
		b = strconv.AppendUint(b, uint64(th.TID), 10)
		b = append(b, `,"args":{"name":`...)
		name := th.Name
		if name == "" {
			name = "thread " + strconv.FormatUint(uint64(th.TID), 10)
		}
		b = appendJSONString(b, name)
		b = append(b, "}}"...)
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}

	// each frame's part of its events is made once per id, outside the
	// lock of readSpans: the head (from '{' to the pid) and the args
	type chromeFrame struct {
		head, args []byte
		known      bool
	}
	var frames []chromeFrame
	frame := func(id FrameID) *chromeFrame {
		if int(id) >= len(frames) {
			frames = append(frames, make([]chromeFrame, max(int(id)+1, 2*len(frames))-len(frames))...)
		}
		cf := &frames[id]
		if !cf.known {
			t.mu.RLock()
			f := t.frameOrStub(id)
			t.mu.RUnlock()
			cf.head, cf.args = chromeFrameJSON(f, info.PID)
			cf.known = true
		}
		return cf
	}

	buf := make([]span, 1024)
	for _, th := range threads {
		for from := int32(0); ; {
			n, lastTS := t.readSpans(th, from, buf, true)
			if n == 0 {
				break
			}
			for k := range buf[:n] {
				s := &buf[k]
				r := &s.rec
				if !r.entry() {
					continue
				}
				f := frame(r.frame)
				b = b[:0]
				b = append(b, ",\n"...)
				b = append(b, f.head...)
				b = append(b, `,"tid":`...)
				b = strconv.AppendUint(b, uint64(th.tid), 10)
				b = append(b, `,"ts":`...)
				b = appendMicros(b, r.ts-start)
				end := lastTS
				if s.exitOK {
					end = s.exit.ts
				}
				b = append(b, `,"dur":`...)
				b = appendMicros(b, max(end-r.ts, 0))
				if r.line != 0 {
					b = append(b, `,"line":`...)
					b = strconv.AppendInt(b, int64(r.line), 10)
				}
				if s.exitOK && r.kind&flagUnwound == 0 && s.exit.line != 0 {
					b = append(b, `,"exit_line":`...)
					b = strconv.AppendInt(b, int64(s.exit.line), 10)
				}
				switch {
				case r.match == matchOpen:
					b = append(b, `,"open":true`...)
				case r.match == matchTrunc:
					b = append(b, `,"truncated":true`...)
				}
				if r.kind&flagUnwound != 0 || (s.exitOK && s.exit.kind == Unwind) {
					b = append(b, `,"unwound":true`...)
				}
				b = append(b, f.args...)
				b = append(b, '}')
				if _, err := bw.Write(b); err != nil {
					return err
				}
			}
			from += int32(n)
		}
	}

	// instants and counters, as the file they came from had them
	for _, in := range t.Instants() {
		b = b[:0]
		b = append(b, `,
{"ph":"i","name":`...)
		b = appendJSONString(b, in.Name)
		b = append(b, `,"s":"`...)
		b = append(b, in.Scope)
		b = append(b, `","pid":`...)
		b = strconv.AppendInt(b, int64(info.PID), 10)
		b = append(b, `,"tid":`...)
		b = strconv.AppendUint(b, uint64(in.TID), 10)
		b = append(b, `,"ts":`...)
		b = appendMicros(b, in.TS-start)
		b = append(b, '}')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	for _, c := range t.Counters() {
		b = b[:0]
		b = append(b, `,
{"ph":"C","name":`...)
		b = appendJSONString(b, c.Name)
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(info.PID), 10)
		b = append(b, `,"ts":`...)
		b = appendMicros(b, c.TS-start)
		b = append(b, `,"args":{`...)
		b = appendJSONString(b, c.Series)
		b = append(b, ':')
		b = strconv.AppendFloat(b, c.Value, 'g', -1, 64)
		b = append(b, "}}"...)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}

	b = b[:0]
	b = append(b, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":"...)
	other, err := json.Marshal(chromeOther{
		Producer:    "flowscape",
		PID:         info.PID,
		Command:     info.Command,
		Interpreter: info.Interpreter,
		Version:     info.Version,
		Mode:        info.Mode,
		StartNS:     start,
		Events:      stats.Events,
		Dropped:     stats.Dropped,
	})
	if err != nil {
		return err
	}
	b = append(b, other...)
	b = append(b, "}\n"...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// chromeOther is the "otherData" object WriteChrome writes.
type chromeOther struct {
	Producer    string   `json:"producer,omitempty"`
	PID         int      `json:"pid,omitempty"`
	Command     []string `json:"command,omitempty"`
	Interpreter string   `json:"interpreter,omitempty"`
	Version     string   `json:"version,omitempty"`
	Mode        string   `json:"mode,omitempty"`
	StartNS     int64    `json:"start_ns,omitempty"`
	Events      int      `json:"events,omitempty"`
	Dropped     int      `json:"dropped,omitempty"`
}

// chromeFrameJSON returns the part of an X event of f that is the same for
// every call: its head, from '{' to the pid, and its args, empty when the
// name says everything (ReadChrome reads "func (file:line)" back into the
// function, file and first line; a name that is no such label is a C
// function with "cat":"c", or a function without a file).
func chromeFrameJSON(f Frame, pid int) (head, args []byte) {
	head = append(head, `{"ph":"X","name":`...)
	head = appendJSONString(head, f.Label())
	if f.C {
		head = append(head, `,"cat":"c","pid":`...)
	} else {
		head = append(head, `,"cat":"python","pid":`...)
	}
	head = strconv.AppendInt(head, int64(pid), 10)
	var exact bool
	switch {
	case f.C:
		// the C functions of the Python agent are in file "~"
		exact = (f.File == "" || f.File == "~") && f.Line == 0
	case f.File == "":
		_, _, _, label := parseLabel(f.Func)
		exact = f.Line == 0 && !label
	default:
		fn, file, line, ok := parseLabel(f.Label())
		exact = ok && fn == f.Func && file == f.File && line == f.Line
	}
	if !exact {
		args = append(args, `,"args":{"file":`...)
		args = appendJSONString(args, f.File)
		args = append(args, `,"first_line":`...)
		args = strconv.AppendInt(args, int64(f.Line), 10)
		args = append(args, '}')
	}
	return head, args
}

// appendMicros appends ns as µs with three decimals.
func appendMicros(b []byte, ns int64) []byte {
	u := uint64(ns)
	if ns < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/1000, 10)
	f := u % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// FormatError is a fault in a trace file: what was wrong and where.
type FormatError struct {
	Format string // e.g. "chrome trace"
	Event  int    // index of the event in the file, -1 when not in an event
	Offset int64  // byte offset in the input after the faulty token
	Err    error
}

// Error says what was wrong and where.
func (e *FormatError) Error() string {
	if e.Event >= 0 {
		return fmt.Sprintf("%s: event %d (byte %d): %v", e.Format, e.Event, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: byte %d: %v", e.Format, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *FormatError) Unwrap() error { return e.Err }

// ChromeReport says what ReadChromeReport read.
type ChromeReport struct {
	Events   int            // trace events read, of every phase
	Calls    int            // calls given to the recorder (X events and B/E pairs)
	Unclosed int            // B events without an E, given as calls still open
	Instants int            // instant events ("i", "I", "R"): kept as marks (Trace.Instants)
	Counters int            // counter events ("C"): kept as marks (Trace.Counters)
	Sources  int            // source files embedded in the trace (VizTracer's file_info)
	Ignored  map[string]int // events that are not calls, by phase (instants and counters included)
	// Warnings describe events that were read but were not what they should
	// be (an E without its B, a negative duration, an unknown phase, a call
	// that starts before calls already given to the recorder), each with its
	// event index and byte offset; at most one per kind, with a count.
	Warnings []string
	warned   map[string]*warning
}

type warning struct {
	first string
	n     int
}

func (r *ChromeReport) warn(kind string, event int, offset int64, msg string) {
	if r.warned == nil {
		r.warned = make(map[string]*warning)
	}
	w := r.warned[kind]
	if w == nil {
		w = &warning{first: fmt.Sprintf("event %d (byte %d): %s", event, offset, msg)}
		r.warned[kind] = w
	}
	w.n++
}

// finishWarnings turns the warnings collected into Warnings, in a stable
// order.
func (r *ChromeReport) finishWarnings() {
	kinds := make([]string, 0, len(r.warned))
	for k := range r.warned {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	r.Warnings = r.Warnings[:0]
	for _, k := range kinds {
		w := r.warned[k]
		msg := w.first
		if w.n > 1 {
			msg += fmt.Sprintf(" (and %d more like it)", w.n-1)
		}
		r.Warnings = append(r.Warnings, msg)
	}
}

// notes says what the report's numbers mean for a user.
func (r ChromeReport) notes() []string {
	var out []string
	if r.Unclosed > 0 {
		out = append(out, fmt.Sprintf("%d B events without their E: shown as calls that never returned", r.Unclosed))
	}
	if r.Instants > 0 {
		out = append(out, fmt.Sprintf("%d instant events (marks, not calls)", r.Instants))
	}
	if r.Counters > 0 {
		out = append(out, fmt.Sprintf("%d counter samples (marks, not calls)", r.Counters))
	}
	return append(out, r.Warnings...)
}

// ReadChrome reads Chrome Trace Event JSON (the array form or the
// {"traceEvents":[…]} form) and gives it to rec as frames, threads and
// entry/exit events; see ReadChromeReport.
func ReadChrome(r io.Reader, rec Recorder) error {
	_, err := ReadChromeReport(r, rec)
	return err
}

// SourceRecorder is a Recorder that also keeps source files embedded in a
// trace file, so they can be shown when the file is not on disk.
type SourceRecorder interface {
	Recorder
	// EmbeddedSource keeps the text of the source file at path.
	EmbeddedSource(path, text string)
}

// chromeEvent is the part of a trace event ReadChrome uses. Its byte
// slices are buffers reused from event to event.
type chromeEvent struct {
	name    []byte // the name's bytes, when named
	named   bool
	Name    string // the name as a string, once eventName made it
	nameSet bool
	Ph      string
	PID     chromeID
	TID     chromeID
	TS      []byte // the number's text, empty when absent
	Dur     []byte
	Cat     chromeCat
	Scope   byte // an instant's "s": 't', 'p' or 'g'
	// Args also takes the fields of its own a call has beside the
	// standard ones, as WriteChrome writes them (line, exit_line, open,
	// unwound)
	Args chromeArgs
}

// chromeCat is what an event's category says about its function.
type chromeCat uint8

const (
	catOther  chromeCat = iota
	catPython           // "python": WriteChrome's Python functions
	catC                // "c": WriteChrome's C functions
	catFEE              // "FEE": VizTracer's function entries and exits
)

// catOf classifies an event's category.
func catOf(b []byte) chromeCat {
	switch {
	case string(b) == "python":
		return catPython
	case string(b) == "c":
		return catC
	case len(b) == 3 && b[0]|0x20 == 'f' && b[1]|0x20 == 'e' && b[2]|0x20 == 'e':
		return catFEE
	}
	return catOther
}

// chromeArgs is the part of an event's args ReadChrome uses.
type chromeArgs struct {
	Name        string
	File        string
	HasFile     bool
	FirstLine   int
	Line        int
	ExitLine    int
	HasExitLine bool
	C           bool
	Open        bool
	Unwound     bool
	StartNS     int64
	HasStartNS  bool
	// Nums are the other args with a number for value: a counter's
	// series ("C" events)
	Nums []chromeNum
}

type chromeNum struct {
	Key   string
	Value float64
}

// reset empties ev for the next event, keeping its buffers.
func (ev *chromeEvent) reset() {
	*ev = chromeEvent{name: ev.name[:0], TS: ev.TS[:0], Dur: ev.Dur[:0], Args: chromeArgs{Nums: ev.Args.Nums[:0]}}
}

// chromeID is a pid or tid: a number, or a string some producers use.
type chromeID struct {
	n     int64
	s     string
	isStr bool
	set   bool
}

// UnmarshalJSON accepts a number or a string.
func (c *chromeID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		c.set, c.isStr = true, true
		return json.Unmarshal(b, &c.s)
	}
	if string(b) == "null" {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("id %s is not an integer", b)
		}
		n = int64(f)
	}
	c.set, c.n = true, n
	return nil
}

// chromeSpan is one call read from the file, before conversion to events.
type chromeSpan struct {
	ts, end        int64 // ns; end is math.MaxInt64 while open
	frame          FrameID
	line, exitLine int32
	unwound        bool
}

// chromeFlushEvery is how many events ReadChromeReport reads between
// giving the calls it can place to the recorder.
const chromeFlushEvery = 16 << 10

// chromeReader holds the state of one ReadChromeReport.
type chromeReader struct {
	sc      *jsonScanner
	names   map[string]string  // interned names and files
	byName  map[string]FrameID // frames of events named without a file, by name
	byNameC map[string]FrameID // the same for C functions ("c": true, "cat":"c")
	byFEE   map[string]FrameID // the same for VizTracer's ("cat":"FEE")
	rec     Recorder
	report  ChromeReport

	frameIDs map[frameKey]FrameID
	frames   []Frame // by id-1
	sent     int     // frames given to the recorder

	tids      map[uint32]*chromeThread
	order     []uint32
	strTIDs   map[string]uint32
	nextStrID uint32

	info     ProcessInfo
	pidSet   bool
	procName string
	other    *chromeOther
	event    int // index of the event being read

	shift    int64       // added to every timestamp: otherData's start_ns
	shiftSet bool        // shift is fixed (calls were given to the recorder)
	sinceFl  int         // events since the last flush
	waiting  func() bool // the input is followed and all of it was read
	placeAll bool        // flush places the calls that start last too
	evs      []Event
	numBuf   []byte // the text of the number being read

	instants []Instant       // kept until the end (the shift may not be known yet)
	counters []CounterSample // likewise

	end   *pipeRecorder // takes calls in end order, when endOK
	endOK bool

	// flushThread's buffers, reused
	order2 []int
	placed []bool
	rest   []chromeSpan
}

type frameKey struct {
	file string
	line int
	fn   string
}

// chromeThread is one thread's calls while they are read. While the calls
// arrive in order of their start (B/E pairs, or X events in time order),
// those that start before the latest start seen are given to the recorder
// as the file is read. Calls that arrive in order of their end (VizTracer
// writes a call when it returns) are given as they come to a recorder that
// takes them so (EndOrderRecorder), which shows them while it waits for
// their callers and places them at the end; for another recorder, and for
// calls in no order, they are kept until the end and sorted.
type chromeThread struct {
	tid   uint32
	name  string
	order callOrder
	spans []chromeSpan // read; spans[:done] given to the recorder
	done  int
	open  []int        // B events waiting for their E, indexes into spans
	stack []int        // calls given to the recorder whose exit was not, indexes into spans
	ret   []chromeSpan // in end order: calls read, not given to the recorder yet
	prev  chromeSpan   // the call read last, while the order is not known

	sorted    bool  // every call so far started no earlier than the one before
	lastStart int64 // the latest start read
	lastTS    int64 // the latest timestamp given to the recorder
	announced bool
	named     string // the name given to the recorder
	begun     bool   // a call was read
	emitted   bool   // a call was given to the recorder
}

// callOrder is the order in which a thread's calls come in a file.
type callOrder uint8

const (
	orderUnknown callOrder = iota // no call was read next to one inside it yet
	orderStart                    // by start: a caller before its callees (B/E, Perfetto's X)
	orderEnd                      // by end: a caller after its callees (VizTracer's X)
)

// chromeUndecided is how many calls of a thread are kept while their order
// is not known: then they are taken to be in order of their start.
const chromeUndecided = 1 << 16

// decide looks at a call s read after th.prev for the thread's order: a
// call right after one that contains it says start order, a call right
// after one inside it end order. Ties (the same start) say nothing.
func (cr *chromeReader) decide(th *chromeThread, s *chromeSpan) {
	if th.begun {
		p := &th.prev
		switch {
		case p.ts <= s.ts && s.end <= p.end && (p.ts < s.ts || s.end < p.end):
			th.order = orderStart
		case s.ts < p.ts && p.end <= s.end:
			th.order = orderEnd
		}
	}
	th.prev = *s
	if th.order == orderUnknown && len(th.spans) >= chromeUndecided {
		th.order = orderStart
	}
	if th.order == orderEnd {
		if !cr.endOK {
			th.order = orderStart // kept and sorted at the end
			return
		}
		// the calls read so far wait with the rest
		th.ret = append(th.ret, th.spans...)
		th.spans = nil
	}
}

// ReadChromeReport reads Chrome Trace Event JSON and gives it to rec. It
// handles complete "X" events (with the args WriteChrome writes, or without
// args by parsing a "func (file:line)" name; durations with fractions of a
// µs), "B"/"E" pairs, the process_name and thread_name "M" events, and
// VizTracer's viztracer_metadata and file_info (embedded sources go to rec
// when it is a SourceRecorder); instants ("i", "I"), counters ("C") and
// events of other phases are counted in the report. Timestamps are µs.
// Frames are interned by file, first line and function. Each thread's calls
// are given to rec as entry and exit events in order of their start
// (longer first on ties); while a thread's calls arrive in that order they
// are given as the file is read, so a reader of rec sees them grow. On a
// fault the error is a *FormatError and everything read before it has been
// given to rec.
func ReadChromeReport(r io.Reader, rec Recorder) (ChromeReport, error) {
	cr := &chromeReader{
		sc:        newJSONScanner(r),
		names:     make(map[string]string),
		byName:    make(map[string]FrameID),
		byNameC:   make(map[string]FrameID),
		byFEE:     make(map[string]FrameID),
		rec:       rec,
		frameIDs:  make(map[frameKey]FrameID),
		tids:      make(map[uint32]*chromeThread),
		strTIDs:   make(map[string]uint32),
		nextStrID: 1 << 31,
		event:     -1,
	}
	cr.report.Ignored = make(map[string]int)
	if w, ok := r.(Waiter); ok {
		cr.waiting = w.Waiting
	}
	// read on this goroutine, apply on another
	pipe := newPipeRecorder(rec)
	cr.rec = pipe
	cr.end, cr.endOK = pipe, pipe.endOrder()
	err := cr.read()
	cr.finish()
	pipe.close()
	cr.report.finishWarnings()
	return cr.report, err
}

func (cr *chromeReader) fail(err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	return &FormatError{Format: "chrome trace", Event: cr.event, Offset: cr.sc.offset(), Err: err}
}

func (cr *chromeReader) warn(kind, msg string) {
	cr.report.warn(kind, cr.event, cr.sc.offset(), msg)
}

func (cr *chromeReader) read() error {
	c, ok := cr.sc.peek()
	if !ok {
		if err := cr.sc.errEOF(); !errors.Is(err, io.ErrUnexpectedEOF) {
			return cr.fail(err)
		}
		return cr.fail(errors.New("empty input"))
	}
	switch c {
	case '[':
		cr.sc.pos++
		return cr.readEvents(true)
	case '{':
	default:
		return cr.fail(fmt.Errorf("want an array or an object, got %s", quoteByte(c)))
	}
	seen := false
	err := cr.sc.objectFields(func(key []byte) error {
		switch string(key) {
		case "traceEvents":
			if err := cr.sc.expect('['); err != nil {
				return fmt.Errorf("traceEvents: %w", err)
			}
			seen = true
			return cr.readEvents(false)
		case "otherData":
			var o chromeOther
			if err := cr.decodeValue(key, &o); err != nil {
				return err
			}
			cr.other = &o
		case "viztracer_metadata":
			var m struct {
				Version string `json:"version"`
			}
			if err := cr.decodeValue(key, &m); err != nil {
				return err
			}
			if cr.info.Mode == "" {
				cr.info.Mode = strings.TrimSpace("VizTracer " + m.Version)
			}
		case "file_info":
			var fi struct {
				Files map[string]json.RawMessage `json:"files"`
			}
			if err := cr.decodeValue(key, &fi); err != nil {
				return err
			}
			cr.fileInfo(fi.Files)
		default:
			if err := cr.sc.skip(nil); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		return nil
	})
	if err != nil {
		return cr.fail(err)
	}
	if !seen {
		return cr.fail(errors.New("no traceEvents"))
	}
	return nil
}

// decodeValue reads the next value into v; values of other types than v
// wants are ignored.
func (cr *chromeReader) decodeValue(key []byte, v any) error {
	name := string(key)
	var raw []byte
	if err := cr.sc.skip(&raw); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// fileInfo keeps the sources of VizTracer's file_info: {"files": {path:
// [source, lines]}, "functions": {...}}.
func (cr *chromeReader) fileInfo(files map[string]json.RawMessage) {
	sr, ok := cr.rec.(SourceRecorder)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		var entry []json.RawMessage
		var text string
		if json.Unmarshal(files[path], &entry) != nil || len(entry) == 0 || json.Unmarshal(entry[0], &text) != nil {
			cr.warn("file_info", fmt.Sprintf("file_info: the entry of %s is not [source, lines]", path))
			continue
		}
		cr.report.Sources++
		if ok {
			sr.EmbeddedSource(path, text)
		}
	}
}

// readEvents reads the events of an array whose '[' was read, and its ']'.
// In the array form the closing ']' may be missing, as the format allows.
func (cr *chromeReader) readEvents(arrayForm bool) error {
	cleanEOF := func() bool {
		return arrayForm && errors.Is(cr.sc.errEOF(), io.ErrUnexpectedEOF)
	}
	if c, ok := cr.sc.peek(); ok && c == ']' {
		cr.sc.pos++
		return nil
	}
	var ev chromeEvent
	for {
		cr.event++
		if _, ok := cr.sc.peek(); !ok && cr.event > 0 && cleanEOF() {
			break // "[…," at the end of the input
		}
		if err := cr.readEvent(&ev); err != nil {
			return cr.fail(err)
		}
		cr.report.Events++
		if err := cr.add(&ev); err != nil {
			return cr.fail(err)
		}
		if cr.sinceFl++; cr.sinceFl >= chromeFlushEvery {
			cr.sinceFl = 0
			cr.flush(false)
		} else if cr.idle() {
			// a followed file: show what was written, the latest call too
			cr.sinceFl = 0
			cr.placeAll = true
			cr.flush(false)
			cr.placeAll = false
		}
		sep, err := cr.sc.next()
		if err != nil {
			if cleanEOF() {
				break
			}
			return cr.fail(err)
		}
		if sep == ']' {
			break
		}
		if sep != ',' {
			return cr.fail(fmt.Errorf("invalid character %s after an event, want ',' or ']'", quoteByte(sep)))
		}
	}
	cr.event = -1
	return nil
}

// eventKey and argKey name the keys readEvent looks at.
type eventKey uint8

const (
	keyOther eventKey = iota
	keyScope
	keyName
	keyPh
	keyPID
	keyTID
	keyTS
	keyDur
	keyArgs
	keyCat
	keyFile
	keyFirstLine
	keyLine
	keyExitLine
	keyStartNS
	keyC
	keyOpen
	keyUnwound
)

func eventKeyOf(k []byte) eventKey {
	switch string(k) {
	case "name":
		return keyName
	case "ph":
		return keyPh
	case "pid":
		return keyPID
	case "tid":
		return keyTID
	case "ts":
		return keyTS
	case "dur":
		return keyDur
	case "args":
		return keyArgs
	case "cat":
		return keyCat
	// a call's own fields, as WriteChrome writes them
	case "line":
		return keyLine
	case "exit_line":
		return keyExitLine
	case "open":
		return keyOpen
	case "unwound":
		return keyUnwound
	case "s":
		return keyScope
	}
	return keyOther
}

func argKeyOf(k []byte) eventKey {
	switch string(k) {
	case "name":
		return keyName
	case "file":
		return keyFile
	case "first_line":
		return keyFirstLine
	case "line":
		return keyLine
	case "exit_line":
		return keyExitLine
	case "start_ns":
		return keyStartNS
	case "c":
		return keyC
	case "open":
		return keyOpen
	case "unwound":
		return keyUnwound
	}
	return keyOther
}

// readEvent reads one event object into ev. It is the reader's hot loop:
// it keeps the bytes of names and numbers in ev's buffers and converts them
// when add needs them, so an event costs no allocation.
func (cr *chromeReader) readEvent(ev *chromeEvent) error {
	ev.reset()
	sc := cr.sc
	if c, ok := sc.peek(); ok && c != '{' {
		return fmt.Errorf("want an event object, got %s", quoteByte(c))
	}
	empty, err := sc.openObject()
	if err != nil || empty {
		return err
	}
	for {
		raw, err := sc.memberKey()
		if err != nil {
			return err
		}
		key := eventKeyOf(raw)
		if err := sc.expect(':'); err != nil {
			return err
		}
		switch key {
		case keyName:
			b, ok, err := cr.optString()
			if err != nil {
				return err
			}
			if ok {
				ev.name, ev.named = append(ev.name[:0], b...), true
			}
		case keyPh:
			b, ok, err := cr.optString()
			if err != nil {
				return err
			}
			if ok {
				ev.Ph = phaseString(b)
			}
		case keyPID:
			err = cr.id(&ev.PID)
		case keyTID:
			err = cr.id(&ev.TID)
		case keyTS:
			_, err = cr.number(&ev.TS, "ts")
		case keyDur:
			_, err = cr.number(&ev.Dur, "dur")
		case keyArgs:
			if c, _ := sc.peek(); c != '{' {
				err = sc.skip(nil)
			} else {
				err = cr.readArgs(&ev.Args)
			}
		case keyCat:
			var b []byte
			var ok bool
			if b, ok, err = cr.optString(); ok {
				ev.Cat = catOf(b)
			}
		case keyLine:
			err = cr.intNumber(&ev.Args.Line, nil, "line")
		case keyExitLine:
			err = cr.intNumber(&ev.Args.ExitLine, &ev.Args.HasExitLine, "exit_line")
		case keyOpen:
			err = cr.boolean(&ev.Args.Open)
		case keyUnwound:
			err = cr.boolean(&ev.Args.Unwound)
		case keyScope:
			var b []byte
			var ok bool
			if b, ok, err = cr.optString(); ok && len(b) > 0 {
				ev.Scope = b[0]
			}
		default:
			err = sc.skip(nil)
		}
		if err != nil {
			return err
		}
		if end, err := sc.closeMember(); end || err != nil {
			return err
		}
	}
}

// readArgs reads an event's args object.
func (cr *chromeReader) readArgs(a *chromeArgs) error {
	sc := cr.sc
	empty, err := sc.openObject()
	if err != nil || empty {
		return err
	}
	for {
		raw, err := sc.memberKey()
		if err != nil {
			return err
		}
		key := argKeyOf(raw)
		if err := sc.expect(':'); err != nil {
			return err
		}
		switch key {
		case keyName:
			b, ok, err := cr.optString()
			if err != nil {
				return err
			}
			if ok {
				a.Name = string(b)
			}
		case keyFile:
			b, ok, err := cr.optString()
			if err != nil {
				return err
			}
			if ok {
				a.File, a.HasFile = cr.intern(b), true
			}
		case keyFirstLine:
			err = cr.intNumber(&a.FirstLine, nil, "first_line")
		case keyLine:
			err = cr.intNumber(&a.Line, nil, "line")
		case keyExitLine:
			err = cr.intNumber(&a.ExitLine, &a.HasExitLine, "exit_line")
		case keyStartNS:
			var null bool
			if null, err = cr.number(&cr.numBuf, "start_ns"); err == nil && !null {
				a.StartNS, a.HasStartNS = 0, false
				if ns, perr := strconv.ParseInt(string(cr.numBuf), 10, 64); perr == nil {
					a.StartNS, a.HasStartNS = ns, true
				}
			}
		case keyC:
			err = cr.boolean(&a.C)
		case keyOpen:
			err = cr.boolean(&a.Open)
		case keyUnwound:
			err = cr.boolean(&a.Unwound)
		default:
			if c, _ := sc.peek(); c == '-' || c >= '0' && c <= '9' {
				// a number: a counter's series keeps it
				key := cr.intern(raw)
				var null bool
				if null, err = cr.number(&cr.numBuf, key); err == nil && !null {
					if v, perr := strconv.ParseFloat(string(cr.numBuf), 64); perr == nil {
						a.Nums = append(a.Nums, chromeNum{key, v})
					}
				}
			} else {
				err = sc.skip(nil)
			}
		}
		if err != nil {
			return err
		}
		if end, err := sc.closeMember(); end || err != nil {
			return err
		}
	}
}

// optString reads a string, or skips a value of another kind (ok false).
func (cr *chromeReader) optString() ([]byte, bool, error) {
	if c, _ := cr.sc.peek(); c != '"' {
		return nil, false, cr.sc.skip(nil)
	}
	b, err := cr.sc.str()
	return b, err == nil, err
}

// intern returns b as a string, shared with earlier equal ones.
func (cr *chromeReader) intern(b []byte) string {
	if s, ok := cr.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(cr.names) < 1<<16 {
		cr.names[s] = s
	}
	return s
}

func phaseString(b []byte) string {
	switch string(b) {
	case "X":
		return "X"
	case "B":
		return "B"
	case "E":
		return "E"
	case "M":
		return "M"
	case "i":
		return "i"
	case "C":
		return "C"
	}
	return string(b)
}

// number reads a number (or a string holding one) and keeps its text in
// *n (in its buffer); null leaves *n as it was and reports null.
func (cr *chromeReader) number(n *[]byte, what string) (null bool, err error) {
	if c, _ := cr.sc.peek(); c == '"' {
		b, err := cr.sc.str()
		if err == nil {
			*n = append((*n)[:0], b...)
		}
		return false, err
	}
	raw, err := cr.sc.scalar()
	if err != nil {
		return false, err
	}
	if string(raw) == "null" {
		return true, nil
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return false, fmt.Errorf("%s: want a number, got %q", what, raw)
	}
	*n = append((*n)[:0], raw...)
	return false, nil
}

// intNumber reads a number as number does into an int (0 when it is not
// an integer that fits in 32 bits); set, when given, says whether the
// text was not empty.
func (cr *chromeReader) intNumber(n *int, set *bool, what string) error {
	null, err := cr.number(&cr.numBuf, what)
	if err != nil || null {
		return err
	}
	*n = intArg(cr.numBuf)
	if set != nil {
		*set = len(cr.numBuf) > 0
	}
	return nil
}

func (cr *chromeReader) boolean(b *bool) error {
	raw, err := cr.sc.scalar()
	if err != nil {
		if c, _ := cr.sc.peek(); c == '"' || c == '{' || c == '[' {
			return cr.sc.skip(nil)
		}
		return err
	}
	*b = string(raw) == "true"
	return nil
}

func (cr *chromeReader) id(c *chromeID) error {
	*c = chromeID{}
	if ch, _ := cr.sc.peek(); ch == '"' {
		b, err := cr.sc.str()
		if err != nil {
			return err
		}
		c.set, c.isStr, c.s = true, true, cr.intern(b)
		return nil
	}
	raw, err := cr.sc.scalar()
	if err != nil {
		return err
	}
	if len(raw) > 0 && len(raw) <= 18 {
		// the common case, digits, without strconv
		var n int64
		for _, d := range raw {
			if d < '0' || d > '9' {
				return c.UnmarshalJSON(raw)
			}
			n = 10*n + int64(d-'0')
		}
		c.set, c.n = true, n
		return nil
	}
	return c.UnmarshalJSON(raw)
}

// idle reports whether the input is followed and everything written so far
// was read: the next Read would wait.
func (cr *chromeReader) idle() bool {
	if cr.waiting == nil {
		return false
	}
	for _, c := range cr.sc.buffered() {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' {
			return false
		}
	}
	return cr.waiting()
}

func (cr *chromeReader) add(ev *chromeEvent) error {
	switch ev.Ph {
	case "X", "B", "E":
	case "M":
		switch cr.eventName(ev) {
		case "process_name":
			cr.procName = ev.Args.Name
			cr.pid(ev)
			// WriteChrome says here where its times start, so the calls can
			// be given to the recorder before otherData is read
			if ev.Args.HasStartNS && !cr.shiftSet {
				cr.shift, cr.shiftSet = ev.Args.StartNS, true
			}
		case "thread_name":
			th, err := cr.thread(ev)
			if err != nil {
				return err
			}
			th.name = ev.Args.Name
		default:
			cr.report.Ignored["M"]++
		}
		return nil
	case "i", "I", "R", "C":
		return cr.mark(ev)
	case "b", "e", "n", "s", "t", "f", "S", "T", "p", "F", "N", "O", "D", "P", "v", "V", "c", "(", ")", "=":
		cr.report.Ignored[ev.Ph]++
		return nil
	default:
		cr.report.Ignored[ev.Ph]++
		cr.warn("phase", fmt.Sprintf("unknown phase %q (event %q ignored)", ev.Ph, cr.eventName(ev)))
		return nil
	}
	ts, err := micros(ev.TS)
	if err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	th, err := cr.thread(ev)
	if err != nil {
		return err
	}
	cr.pid(ev)
	if ev.Ph == "E" {
		n := len(th.open)
		if n == 0 {
			cr.report.Ignored["E"]++ // an end without a begin
			cr.warn("E", "an E event without a B before it on its thread (ignored)")
			return nil
		}
		i := th.open[n-1]
		s := &th.spans[i]
		th.open = th.open[:n-1]
		if ts < s.ts {
			cr.warn("E<B", "an E event before its B (the call is given no duration)")
		}
		s.end = max(ts, s.ts)
		if ev.Args.HasExitLine {
			s.exitLine = int32(ev.Args.ExitLine)
		}
		s.unwound = s.unwound || ev.Args.Unwound
		if th.order == orderEnd {
			th.ret = append(th.ret, *s)
			if len(th.open) == 0 {
				th.spans = th.spans[:0]
			}
			return nil
		}
		// calls already given to the recorder inside it end with it
		for k := len(th.stack) - 1; k >= 0 && th.stack[k] != i; k-- {
			c := &th.spans[th.stack[k]]
			c.end = min(c.end, s.end)
		}
		return nil
	}
	s := chromeSpan{
		ts:      ts,
		end:     math.MaxInt64,
		frame:   cr.frame(ev),
		line:    int32(ev.Args.Line),
		unwound: ev.Args.Unwound,
	}
	if !th.begun {
		th.sorted = true
	} else if ts < th.lastStart {
		th.sorted = false
	}
	th.lastStart = max(th.lastStart, ts)
	if ev.Ph == "B" {
		if th.order == orderUnknown {
			th.order = orderStart // a B comes before the calls inside it
		}
		th.begun = true
		th.open = append(th.open, len(th.spans))
		th.spans = append(th.spans, s)
		return nil
	}
	if !ev.Args.Open {
		dur, err := micros(ev.Dur)
		if err != nil {
			return fmt.Errorf("dur: %w", err)
		}
		if dur < 0 {
			cr.warn("dur<0", fmt.Sprintf("negative duration %s µs (the call is given no duration)", ev.Dur))
		}
		s.end = ts + max(dur, 0)
		if s.end < ts { // overflow
			s.end = math.MaxInt64 - 1
		}
		s.exitLine = int32(ev.Args.ExitLine)
	}
	if th.order == orderUnknown {
		cr.decide(th, &s)
	}
	th.begun = true
	if th.order == orderEnd {
		th.ret = append(th.ret, s)
		return nil
	}
	th.spans = append(th.spans, s)
	return nil
}

func (cr *chromeReader) pid(ev *chromeEvent) {
	if !cr.pidSet && ev.PID.set && !ev.PID.isStr {
		cr.info.PID, cr.pidSet = int(ev.PID.n), true
	}
}

func (cr *chromeReader) thread(ev *chromeEvent) (*chromeThread, error) {
	var tid uint32
	switch {
	case !ev.TID.set:
		tid = 0
	case ev.TID.isStr:
		id, ok := cr.strTIDs[ev.TID.s]
		if !ok {
			id = cr.nextStrID
			cr.nextStrID++
			cr.strTIDs[ev.TID.s] = id
		}
		tid = id
	case ev.TID.n < 0 || ev.TID.n > math.MaxUint32:
		return nil, fmt.Errorf("tid %d out of range", ev.TID.n)
	default:
		tid = uint32(ev.TID.n)
	}
	th := cr.tids[tid]
	if th == nil {
		th = &chromeThread{tid: tid}
		if ev.TID.isStr {
			th.name = ev.TID.s
		}
		cr.tids[tid] = th
		cr.order = append(cr.order, tid)
	}
	return th, nil
}

// eventName returns the event's name as a string, interned.
func (cr *chromeReader) eventName(ev *chromeEvent) string {
	if !ev.nameSet {
		ev.nameSet = true
		if ev.named {
			ev.Name = cr.intern(ev.name)
		}
	}
	return ev.Name
}

// frame interns the event's function.
func (cr *chromeReader) frame(ev *chromeEvent) FrameID {
	if !ev.Args.HasFile {
		// most events name their frame alone: look the name up once
		byName := cr.byName
		switch {
		case ev.Args.C || ev.Cat == catC:
			byName = cr.byNameC
		case ev.Cat == catFEE:
			byName = cr.byFEE
		}
		if id, ok := byName[string(ev.name)]; ok {
			return id
		}
		id := cr.frameOf(ev)
		if len(byName) < 1<<16 {
			byName[cr.eventName(ev)] = id
		}
		return id
	}
	return cr.frameOf(ev)
}

// frameOf interns the function an event names. "func (file:line)" is a
// Python function (with args file and first_line, the name is that label
// or the function alone); a C function is marked ("c": true in args, or
// "cat":"c" as WriteChrome writes it). VizTracer names Python functions
// "func (file:line)" and C functions "module.func", both with "cat":"FEE",
// so in its files a name without a file is a C function.
func (cr *chromeReader) frameOf(ev *chromeEvent) FrameID {
	var f Frame
	name := cr.eventName(ev)
	c := ev.Args.C || ev.Cat == catC
	if ev.Args.HasFile {
		f = Frame{Func: name, File: ev.Args.File, Line: ev.Args.FirstLine, C: c}
		if fn, ok := cutLabel(name, f.File, f.Line); ok && !c {
			f.Func = fn
		}
	} else if c {
		f = Frame{Func: name, C: true}
	} else if fn, file, line, ok := parseLabel(name); ok {
		f = Frame{Func: fn, File: file, Line: line}
	} else {
		f = Frame{Func: name, C: ev.Cat == catFEE}
	}
	k := frameKey{file: f.File, line: f.Line, fn: f.Func}
	if id, ok := cr.frameIDs[k]; ok {
		return id
	}
	f.ID = FrameID(len(cr.frames) + 1)
	cr.frameIDs[k] = f.ID
	cr.frames = append(cr.frames, f)
	return f.ID
}

// cutLabel returns the function of name when name is the label
// "func (file:line)" of that file and line.
func cutLabel(name, file string, line int) (string, bool) {
	rest, ok := strings.CutSuffix(name, ")")
	if !ok || line < 0 {
		return "", false
	}
	// the line's digits, from the last
	for v := line; ; v /= 10 {
		if rest == "" || rest[len(rest)-1] != byte('0'+v%10) {
			return "", false
		}
		rest = rest[:len(rest)-1]
		if v < 10 {
			break
		}
	}
	if rest, ok = strings.CutSuffix(rest, ":"); !ok {
		return "", false
	}
	if rest, ok = strings.CutSuffix(rest, file); !ok {
		return "", false
	}
	return strings.CutSuffix(rest, " (")
}

// parseLabel splits "func (file:line)".
func parseLabel(name string) (fn, file string, line int, ok bool) {
	if !strings.HasSuffix(name, ")") {
		return "", "", 0, false
	}
	open := strings.LastIndex(name, " (")
	if open < 0 {
		return "", "", 0, false
	}
	inner := name[open+2 : len(name)-1]
	colon := strings.LastIndexByte(inner, ':')
	if colon < 0 {
		return "", "", 0, false
	}
	line, err := strconv.Atoi(inner[colon+1:])
	if err != nil {
		return "", "", 0, false
	}
	return name[:open], inner[:colon], line, true
}

// intArg returns a numeric argument as an int, 0 when absent or not an
// integer that fits in 32 bits.
func intArg(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	// the common case, a few digits, without strconv
	neg := b[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	if n := len(b) - i; n > 0 && n <= 9 {
		v := 0
		for _, c := range b[i:] {
			if c < '0' || c > '9' {
				goto slow
			}
			v = 10*v + int(c-'0')
		}
		if neg {
			v = -v
		}
		return v
	}
slow:
	v, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return 0
	}
	return int(v)
}

// micros converts a µs timestamp to ns exactly for decimal input.
func micros(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	// the common case, [-]digits[.digits] with at most 15 whole digits,
	// without strconv or strings
	neg := b[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	var w int64
	j := i
	for j < len(b) && j-i < 15 && b[j] >= '0' && b[j] <= '9' {
		w = 10*w + int64(b[j]-'0')
		j++
	}
	if j == i || j < len(b) && b[j] != '.' {
		return microsSlow(string(b))
	}
	ns := w * 1000
	if j < len(b) {
		var scale int64 = 100
		for k, c := range b[j+1:] {
			if c < '0' || c > '9' {
				return microsSlow(string(b))
			}
			switch {
			case k < 3:
				ns += int64(c-'0') * scale
				scale /= 10
			case k == 3 && c >= '5':
				ns++ // round half up on the first dropped digit
			}
		}
	}
	if neg {
		ns = -ns
	}
	return ns, nil
}

// microsSlow is micros for every other form: exponents, signs, many
// digits, and what is not a number (an error).
func microsSlow(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(digits, ".")
	if strings.ContainsAny(digits, "eE") || whole == "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.Abs(f*1000) >= math.MaxInt64/2 {
			return 0, fmt.Errorf("timestamp %s out of range", s)
		}
		return int64(math.Round(f * 1000)), nil
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/1000/2 {
		return 0, fmt.Errorf("timestamp %s out of range", s)
	}
	ns := w * 1000
	var scale int64 = 100
	for i := 0; i < len(frac) && scale > 0; i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad timestamp %s", s)
		}
		ns += int64(c-'0') * scale
		scale /= 10
	}
	if len(frac) > 3 && frac[3] >= '5' {
		ns++ // round half up on the first dropped digit
	}
	if neg {
		ns = -ns
	}
	return ns, nil
}

// process gives what is known about the process to the recorder.
func (cr *chromeReader) process() {
	info := cr.info
	if o := cr.other; o != nil {
		if o.PID != 0 {
			info.PID = o.PID
		}
		info.Command = o.Command
		info.Interpreter = o.Interpreter
		info.Version = o.Version
		if o.Mode != "" {
			info.Mode = o.Mode
		}
	}
	// the times given to the recorder start at shift
	info.StartNS = cr.shift
	if len(info.Command) == 0 && cr.procName != "" {
		info.Command = []string{cr.procName}
	}
	if cr.other != nil || cr.pidSet || cr.procName != "" || info.Mode != "" {
		cr.rec.Process(info)
	}
}

// fixShift decides, before the first calls are given to the recorder, what
// is added to the file's times.
func (cr *chromeReader) fixShift() {
	if cr.shiftSet {
		return
	}
	cr.shiftSet = true
	if cr.other != nil {
		cr.shift = cr.other.StartNS
	}
}

// finish gives everything still held to the recorder.
func (cr *chromeReader) finish() {
	cr.fixShift()
	cr.process()
	for _, tid := range cr.order {
		th := cr.tids[tid]
		cr.report.Unclosed += len(th.open)
	}
	cr.flush(true)
	if len(cr.instants) > 0 || len(cr.counters) > 0 {
		for i := range cr.instants {
			cr.instants[i].TS += cr.shift
		}
		for i := range cr.counters {
			cr.counters[i].TS += cr.shift
		}
		if mr, ok := cr.rec.(interface {
			Marks([]Instant, []CounterSample)
		}); ok {
			mr.Marks(cr.instants, cr.counters)
		}
	}
}

// mark keeps an instant ("i", "I", "R") or a counter's samples ("C"),
// given to the recorder at the end with the file's shift.
func (cr *chromeReader) mark(ev *chromeEvent) error {
	ts, err := micros(ev.TS)
	if err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	if ev.Ph == "C" {
		cr.report.Counters++
		name := cr.eventName(ev)
		for _, n := range ev.Args.Nums {
			if len(cr.counters) < MaxMarks {
				cr.counters = append(cr.counters, CounterSample{TS: ts, Name: name, Series: n.Key, Value: n.Value})
			}
		}
		return nil
	}
	cr.report.Instants++
	th, err := cr.thread(ev)
	if err != nil {
		return err
	}
	scope := ev.Scope
	if scope != 'p' && scope != 'g' {
		scope = 't'
	}
	if len(cr.instants) < MaxMarks {
		cr.instants = append(cr.instants, Instant{TS: ts, TID: th.tid, Name: cr.eventName(ev), Scope: scope})
	}
	return nil
}

// flush gives the recorder the calls whose place is known: all of them at
// the end, else those of threads read in order that start before the
// latest start read.
func (cr *chromeReader) flush(final bool) {
	if !final {
		ready := false
		for _, tid := range cr.order {
			th := cr.tids[tid]
			if th.order == orderStart && th.sorted && th.done < len(th.spans) || len(th.ret) > 0 {
				ready = true
			}
		}
		if !ready {
			return
		}
		cr.fixShift()
		if cr.sent == 0 {
			cr.process()
		}
	}
	if cr.sent < len(cr.frames) {
		cr.rec.Frames(cr.frames[cr.sent:])
		cr.sent = len(cr.frames)
	}
	for _, tid := range cr.order {
		th := cr.tids[tid]
		inOrder := th.order == orderStart && th.sorted
		if th.name != th.named || (!th.announced && (final || inOrder || len(th.ret) > 0)) {
			cr.rec.Thread(Thread{TID: tid, Name: th.name})
			th.announced, th.named = true, th.name
		}
		switch {
		case th.order == orderEnd:
			cr.flushReturned(th, final)
		case final || inOrder:
			cr.flushThread(th, final)
		}
	}
}

// flushReturned gives the recorder th's calls read in end order, and at
// the end those still open (B events without their E, innermost first),
// and has them placed.
func (cr *chromeReader) flushReturned(th *chromeThread, final bool) {
	if final {
		for k := len(th.open) - 1; k >= 0; k-- {
			th.ret = append(th.ret, th.spans[th.open[k]])
		}
		th.open, th.spans = th.open[:0], nil
	}
	if len(th.ret) > 0 {
		calls := make([]CallSpan, len(th.ret))
		for i := range th.ret {
			s := &th.ret[i]
			c := &calls[i]
			*c = CallSpan{Start: s.ts + cr.shift, End: s.end, Frame: s.frame, Line: s.line, ExitLine: s.exitLine,
				C: cr.frames[s.frame-1].C, Unwound: s.unwound}
			if c.End != math.MaxInt64 {
				c.End += cr.shift
			}
		}
		cr.report.Calls += len(calls)
		cr.end.Returned(th.tid, calls)
		th.ret = th.ret[:0]
	}
	if final {
		cr.end.Settle(th.tid)
	}
}

// flushThread gives the recorder th's calls from spans[done:] that start
// before the latest start read (all of them when final), with the exits
// that come before them.
func (cr *chromeReader) flushThread(th *chromeThread, final bool) {
	pending := th.spans[th.done:]
	// the calls of a thread read out of order are placed by their start;
	// ties: the longer call encloses the shorter
	byStart := func(sa, sb *chromeSpan) int {
		if c := cmp.Compare(sa.ts, sb.ts); c != 0 {
			return c
		}
		return cmp.Compare(sb.end, sa.end)
	}
	var order []int // indexes into spans, in the order to place them
	if final {
		// the last flush: sort in place, nothing refers to pending calls
		// by index any more (B events still open are only counted)
		slices.SortStableFunc(pending, func(a, b chromeSpan) int { return byStart(&a, &b) })
	} else {
		order = slices.Grow(cr.order2[:0], len(pending))[:len(pending)]
		cr.order2 = order
		for i := range order {
			order[i] = th.done + i
		}
		slices.SortStableFunc(order, func(a, b int) int { return byStart(&th.spans[a], &th.spans[b]) })
	}
	at := func(k int) int {
		if final {
			return th.done + k
		}
		return order[k]
	}
	n := len(pending)
	if !final && !cr.placeAll {
		for n > 0 && th.spans[order[n-1]].ts >= th.lastStart {
			n--
		}
	}
	tid := th.tid
	emit := func(e Event) {
		e.TS += cr.shift
		th.lastTS = e.TS
		cr.evs = append(cr.evs, e)
		if len(cr.evs) == cap(cr.evs) {
			cr.rec.Events(tid, cr.evs)
			cr.evs = cr.evs[:0]
		}
	}
	if cr.evs == nil {
		cr.evs = make([]Event, 0, 4096)
	}
	exit := func(s *chromeSpan) {
		k := Return
		if cr.frames[s.frame-1].C {
			k = CReturn
		} else if s.unwound {
			k = Unwind
		}
		emit(Event{TS: s.end, Frame: s.frame, Line: s.exitLine, Kind: k})
	}
	started := th.emitted
	for k := range n {
		i := at(k)
		s := &th.spans[i]
		for k := len(th.stack); k > 0 && th.spans[th.stack[k-1]].end <= s.ts; k-- {
			exit(&th.spans[th.stack[k-1]])
			th.stack = th.stack[:k-1]
		}
		if k := len(th.stack); k > 0 && s.end > th.spans[th.stack[k-1]].end {
			s.end = th.spans[th.stack[k-1]].end // a child cannot outlive its parent
		}
		if started && s.ts+cr.shift < th.lastTS {
			cr.report.warn("order", -1, cr.sc.offset(),
				fmt.Sprintf("thread %d: a call starts before calls already shown (placed at their time)", tid))
			s.ts = th.lastTS - cr.shift
			s.end = max(s.end, s.ts)
		}
		k := Call
		if cr.frames[s.frame-1].C {
			k = CCall
		}
		emit(Event{TS: s.ts, Frame: s.frame, Line: s.line, Kind: k})
		th.stack = append(th.stack, i)
		cr.report.Calls++
		th.emitted = true
	}
	if final {
		for k := len(th.stack); k > 0; k-- {
			if s := &th.spans[th.stack[k-1]]; s.end != math.MaxInt64 {
				exit(s)
			}
		}
		th.stack = th.stack[:0]
	}
	if len(cr.evs) > 0 {
		cr.rec.Events(tid, cr.evs)
		cr.evs = cr.evs[:0]
	}
	if final {
		th.spans, th.done, th.open = nil, 0, th.open[:0]
		return
	}
	// keep the calls not yet given, and those given whose exit was not
	// (in the stack or waiting for their E): renumber them
	placed := slices.Grow(cr.placed[:0], len(th.spans))[:len(th.spans)]
	clear(placed)
	cr.placed = placed
	for i := range th.done {
		placed[i] = true
	}
	for _, i := range order[:n] {
		placed[i] = true
	}
	// built aside, then copied back: th.spans keeps its capacity
	rest := cr.rest[:0]
	remap := make(map[int]int, len(th.stack)+len(th.open))
	keep := func(i int) int {
		if j, ok := remap[i]; ok {
			return j
		}
		remap[i] = len(rest)
		rest = append(rest, th.spans[i])
		return len(rest) - 1
	}
	for k, i := range th.stack {
		th.stack[k] = keep(i)
	}
	for _, i := range th.open {
		if placed[i] {
			keep(i)
		}
	}
	done := len(rest)
	for _, i := range order[n:] {
		keep(i)
	}
	for k, i := range th.open {
		th.open[k] = remap[i]
	}
	th.spans, th.done = append(th.spans[:0], rest...), done
	cr.rest = rest[:0]
}
