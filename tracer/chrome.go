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
// format chrome://tracing, Perfetto and VizTracer read): one complete "X"
// event per call, "M" events naming the process and threads, and the
// process info under "otherData". Timestamps are µs since t.StartNS() with
// ns precision; calls still open last until their thread's latest event and
// carry "open":true. It streams: memory does not grow with the trace.
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

	// frames are looked up once per id, outside the lock of readSpans
	var frames []Frame
	var known []bool
	frame := func(id FrameID) *Frame {
		if int(id) >= len(known) {
			n := max(int(id)+1, 2*len(known))
			frames = append(frames, make([]Frame, n-len(frames))...)
			known = append(known, make([]bool, n-len(known))...)
		}
		if !known[id] {
			t.mu.RLock()
			frames[id] = t.frameOrStub(id)
			t.mu.RUnlock()
			known[id] = true
		}
		return &frames[id]
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
				b = append(b, `{"ph":"X","name":`...)
				b = appendJSONString(b, f.Label())
				b = append(b, `,"cat":"python","pid":`...)
				b = strconv.AppendInt(b, int64(info.PID), 10)
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
				b = append(b, `,"args":{"file":`...)
				b = appendJSONString(b, f.File)
				b = append(b, `,"first_line":`...)
				b = strconv.AppendInt(b, int64(f.Line), 10)
				b = append(b, `,"line":`...)
				b = strconv.AppendInt(b, int64(r.line), 10)
				if s.exitOK && r.kind&flagUnwound == 0 {
					b = append(b, `,"exit_line":`...)
					b = strconv.AppendInt(b, int64(s.exit.line), 10)
				}
				if f.C {
					b = append(b, `,"c":true`...)
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
				b = append(b, "}}"...)
				if _, err := bw.Write(b); err != nil {
					return err
				}
			}
			from += int32(n)
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
	Ignored  map[string]int // events of other phases, by phase
}

// ReadChrome reads Chrome Trace Event JSON (the array form or the
// {"traceEvents":[…]} form) and gives it to rec as frames, threads and
// entry/exit events; see ReadChromeReport.
func ReadChrome(r io.Reader, rec Recorder) error {
	_, err := ReadChromeReport(r, rec)
	return err
}

// chromeEvent is the part of a trace event ReadChrome uses.
type chromeEvent struct {
	Name string      `json:"name"`
	Ph   string      `json:"ph"`
	PID  chromeID    `json:"pid"`
	TID  chromeID    `json:"tid"`
	TS   json.Number `json:"ts"`
	Dur  json.Number `json:"dur"`
	Args struct {
		Name      string      `json:"name"`
		File      *string     `json:"file"`
		FirstLine json.Number `json:"first_line"`
		Line      json.Number `json:"line"`
		ExitLine  json.Number `json:"exit_line"`
		C         bool        `json:"c"`
		Open      bool        `json:"open"`
		Unwound   bool        `json:"unwound"`
	} `json:"args"`
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

// chromeReader holds the state of one ReadChromeReport.
type chromeReader struct {
	dec    *json.Decoder
	rec    Recorder
	report ChromeReport

	frameIDs map[frameKey]FrameID
	frames   []Frame // by id-1

	tids      map[uint32]*chromeThread
	order     []uint32
	strTIDs   map[string]uint32
	nextStrID uint32

	info     ProcessInfo
	pidSet   bool
	procName string
	other    *chromeOther
	event    int // index of the event being read
}

type frameKey struct {
	file string
	line int
	fn   string
}

type chromeThread struct {
	tid   uint32
	name  string
	spans []chromeSpan
	open  []int // B events waiting for their E, indexes into spans
}

// ReadChromeReport reads Chrome Trace Event JSON and gives it to rec. It
// handles complete "X" events (with the args WriteChrome writes, or without
// args by parsing a "func (file:line)" name), "B"/"E" pairs and the
// process_name and thread_name "M" events; events of other phases are
// counted in the report and ignored. Timestamps are µs. Frames are interned
// by file, first line and function. Each thread's calls are sorted by start
// (longer first on ties) and given to rec as entry and exit events. On a
// fault the error is a *FormatError and everything read before it has been
// given to rec.
func ReadChromeReport(r io.Reader, rec Recorder) (ChromeReport, error) {
	cr := &chromeReader{
		dec:       json.NewDecoder(r),
		rec:       rec,
		frameIDs:  make(map[frameKey]FrameID),
		tids:      make(map[uint32]*chromeThread),
		strTIDs:   make(map[string]uint32),
		nextStrID: 1 << 31,
		event:     -1,
	}
	cr.report.Ignored = make(map[string]int)
	cr.dec.UseNumber()
	err := cr.read()
	cr.flush()
	return cr.report, err
}

func (cr *chromeReader) fail(err error) error {
	return &FormatError{Format: "chrome trace", Event: cr.event, Offset: cr.dec.InputOffset(), Err: err}
}

func (cr *chromeReader) read() error {
	tok, err := cr.dec.Token()
	if err == io.EOF {
		return cr.fail(errors.New("empty input"))
	}
	if err != nil {
		return cr.fail(err)
	}
	switch tok {
	case json.Delim('['):
		return cr.readEvents()
	case json.Delim('{'):
	default:
		return cr.fail(fmt.Errorf("want an array or an object, got %v", tok))
	}
	seen := false
	for cr.dec.More() {
		tok, err := cr.dec.Token()
		if err != nil {
			return cr.fail(err)
		}
		key, _ := tok.(string)
		switch key {
		case "traceEvents":
			tok, err := cr.dec.Token()
			if err != nil {
				return cr.fail(err)
			}
			if tok != json.Delim('[') {
				return cr.fail(fmt.Errorf("traceEvents: want an array, got %v", tok))
			}
			if err := cr.readEvents(); err != nil {
				return err
			}
			seen = true
		case "otherData":
			var o chromeOther
			if err := cr.dec.Decode(&o); err != nil {
				var te *json.UnmarshalTypeError
				if !errors.As(err, &te) {
					return cr.fail(fmt.Errorf("otherData: %w", err))
				}
			}
			cr.other = &o
		default:
			var skip json.RawMessage
			if err := cr.dec.Decode(&skip); err != nil {
				return cr.fail(fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	if _, err := cr.dec.Token(); err != nil {
		return cr.fail(err)
	}
	if !seen {
		return cr.fail(errors.New("no traceEvents"))
	}
	return nil
}

// readEvents reads the events of an array whose '[' was read, and its ']'.
func (cr *chromeReader) readEvents() error {
	for cr.dec.More() {
		cr.event++
		var ev chromeEvent
		if err := cr.dec.Decode(&ev); err != nil {
			return cr.fail(err)
		}
		cr.report.Events++
		if err := cr.add(&ev); err != nil {
			return cr.fail(err)
		}
	}
	cr.event = -1
	if _, err := cr.dec.Token(); err != nil {
		return cr.fail(err)
	}
	return nil
}

func (cr *chromeReader) add(ev *chromeEvent) error {
	switch ev.Ph {
	case "X", "B", "E":
	case "M":
		switch ev.Name {
		case "process_name":
			cr.procName = ev.Args.Name
			cr.pid(ev)
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
	default:
		cr.report.Ignored[ev.Ph]++
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
			return nil
		}
		s := &th.spans[th.open[n-1]]
		th.open = th.open[:n-1]
		s.end = max(ts, s.ts)
		if ev.Args.ExitLine != "" {
			s.exitLine = int32(intArg(ev.Args.ExitLine))
		}
		s.unwound = s.unwound || ev.Args.Unwound
		return nil
	}
	s := chromeSpan{
		ts:      ts,
		end:     math.MaxInt64,
		frame:   cr.frame(ev),
		line:    int32(intArg(ev.Args.Line)),
		unwound: ev.Args.Unwound,
	}
	if ev.Ph == "B" {
		th.open = append(th.open, len(th.spans))
		th.spans = append(th.spans, s)
		return nil
	}
	if !ev.Args.Open {
		dur, err := micros(ev.Dur)
		if err != nil {
			return fmt.Errorf("dur: %w", err)
		}
		s.end = ts + max(dur, 0)
		if s.end < ts { // overflow
			s.end = math.MaxInt64 - 1
		}
		s.exitLine = int32(intArg(ev.Args.ExitLine))
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

// frame interns the event's function.
func (cr *chromeReader) frame(ev *chromeEvent) FrameID {
	var f Frame
	if ev.Args.File != nil {
		f = Frame{Func: ev.Name, File: *ev.Args.File, Line: intArg(ev.Args.FirstLine), C: ev.Args.C}
		// WriteChrome names Python frames "func (file:line)"
		if fn, file, line, ok := parseLabel(ev.Name); ok && file == f.File && line == f.Line {
			f.Func = fn
		}
	} else if fn, file, line, ok := parseLabel(ev.Name); ok {
		f = Frame{Func: fn, File: file, Line: line}
	} else {
		f = Frame{Func: ev.Name, C: ev.Args.C}
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
// integer that fits.
func intArg(n json.Number) int {
	v, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil {
		return 0
	}
	return int(v)
}

// micros converts a µs timestamp to ns exactly for decimal input.
func micros(n json.Number) (int64, error) {
	s := string(n)
	if s == "" {
		return 0, nil
	}
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

// flush gives everything read so far to the recorder.
func (cr *chromeReader) flush() {
	info := cr.info
	var shift int64
	if o := cr.other; o != nil {
		if o.PID != 0 {
			info.PID = o.PID
		}
		info.Command = o.Command
		info.Interpreter = o.Interpreter
		info.Version = o.Version
		info.Mode = o.Mode
		// WriteChrome writes times relative to start_ns
		info.StartNS = o.StartNS
		shift = o.StartNS
	}
	if len(info.Command) == 0 && cr.procName != "" {
		info.Command = []string{cr.procName}
	}
	if cr.other != nil || cr.pidSet || cr.procName != "" {
		cr.rec.Process(info)
	}
	if len(cr.frames) > 0 {
		cr.rec.Frames(cr.frames)
	}
	for _, tid := range cr.order {
		th := cr.tids[tid]
		cr.rec.Thread(Thread{TID: tid, Name: th.name})
	}
	evs := make([]Event, 0, 4096)
	var stack []chromeSpan
	for _, tid := range cr.order {
		th := cr.tids[tid]
		cr.report.Unclosed += len(th.open)
		cr.report.Calls += len(th.spans)
		slices.SortStableFunc(th.spans, func(a, b chromeSpan) int {
			if c := cmp.Compare(a.ts, b.ts); c != 0 {
				return c
			}
			return cmp.Compare(b.end, a.end)
		})
		emit := func(e Event) {
			e.TS += shift
			evs = append(evs, e)
			if len(evs) == cap(evs) {
				cr.rec.Events(tid, evs)
				evs = evs[:0]
			}
		}
		exit := func(s chromeSpan) {
			k := Return
			if cr.frames[s.frame-1].C {
				k = CReturn
			} else if s.unwound {
				k = Unwind
			}
			emit(Event{TS: s.end, Frame: s.frame, Line: s.exitLine, Kind: k})
		}
		stack = stack[:0]
		for _, s := range th.spans {
			for n := len(stack); n > 0 && stack[n-1].end <= s.ts; n-- {
				exit(stack[n-1])
				stack = stack[:n-1]
			}
			if n := len(stack); n > 0 && s.end > stack[n-1].end {
				s.end = stack[n-1].end // a child cannot outlive its parent
			}
			k := Call
			if cr.frames[s.frame-1].C {
				k = CCall
			}
			emit(Event{TS: s.ts, Frame: s.frame, Line: s.line, Kind: k})
			stack = append(stack, s)
		}
		for n := len(stack); n > 0; n-- {
			if s := stack[n-1]; s.end != math.MaxInt64 {
				exit(s)
			}
		}
		if len(evs) > 0 {
			cr.rec.Events(tid, evs)
			evs = evs[:0]
		}
	}
}
