package tracer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// speedscopeSchema is the $schema speedscope files name.
const speedscopeSchema = "https://www.speedscope.app/file-format-schema.json"

type speedscopeFrame struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

type speedscopeEvent struct {
	Type  string  `json:"type"`
	Frame int     `json:"frame"`
	At    float64 `json:"at"`
}

// speedscopeProfile is one profile as read, before conversion.
type speedscopeProfile struct {
	Type       string
	Name       string
	Unit       string
	StartValue float64
	EndValue   float64
	Events     []speedscopeEvent
	Samples    [][]int
	Weights    []float64
	offset     int64 // byte offset where the profile starts
	index      int   // the profile's index in the file
}

// speedscopeReader holds the state of one ReadSpeedscope.
type speedscopeReader struct {
	dec     *json.Decoder
	rec     Recorder
	ft      frameTable
	frames  []FrameID // by index in shared.frames
	haveFr  bool
	pending []speedscopeProfile // profiles read before shared.frames
	nprof   int
	calls   int
}

// ReadSpeedscope reads speedscope's JSON file format (the evented and the
// sampled profile types) into rec: one thread per profile, named after it.
// Evented profiles become their open/close events; a sampled profile
// becomes a timeline where each sample lasts its weight and consecutive
// samples that share a stack prefix share those calls, as speedscope's
// time-ordered view shows them. Values are converted to ns by the
// profile's unit ("none" and "bytes" are read as ns). It returns the number
// of calls given to rec. On a fault (a close that does not match the open
// frame, events out of order, a frame still open at the end) the error is a
// *FormatError naming the profile and event, and what came before it has
// been given to rec.
func ReadSpeedscope(r io.Reader, rec Recorder) (int, error) {
	sr := &speedscopeReader{dec: json.NewDecoder(r), rec: rec}
	err := sr.read()
	return sr.calls, err
}

func (sr *speedscopeReader) fail(event int, err error) error {
	return &FormatError{Format: "speedscope", Event: event, Offset: sr.dec.InputOffset(), Err: err}
}

func (sr *speedscopeReader) read() error {
	tok, err := sr.dec.Token()
	if err == io.EOF {
		return sr.fail(-1, errors.New("empty input"))
	}
	if err != nil {
		return sr.fail(-1, err)
	}
	if tok != json.Delim('{') {
		return sr.fail(-1, fmt.Errorf("want an object, got %v", tok))
	}
	sawProfiles := false
	for sr.dec.More() {
		tok, err := sr.dec.Token()
		if err != nil {
			return sr.fail(-1, err)
		}
		key, _ := tok.(string)
		switch key {
		case "shared":
			var shared struct {
				Frames []speedscopeFrame `json:"frames"`
			}
			if err := sr.dec.Decode(&shared); err != nil {
				return sr.fail(-1, fmt.Errorf("shared: %w", err))
			}
			sr.setFrames(shared.Frames)
			for i := range sr.pending {
				if err := sr.profile(&sr.pending[i]); err != nil {
					return err
				}
			}
			sr.pending = nil
		case "profiles":
			sawProfiles = true
			if err := sr.profiles(); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := sr.dec.Decode(&skip); err != nil {
				return sr.fail(-1, fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	if _, err := sr.dec.Token(); err != nil {
		return sr.fail(-1, err)
	}
	if !sawProfiles {
		return sr.fail(-1, errors.New("no profiles"))
	}
	if !sr.haveFr {
		return sr.fail(-1, errors.New("no shared.frames"))
	}
	return nil
}

func (sr *speedscopeReader) setFrames(fs []speedscopeFrame) {
	sr.haveFr = true
	sr.frames = make([]FrameID, len(fs))
	for i, f := range fs {
		sr.frames[i] = sr.ft.intern(Frame{Func: f.Name, File: f.File, Line: f.Line})
	}
}

// profiles reads the profiles array, converting each as soon as the frames
// are known.
func (sr *speedscopeReader) profiles() error {
	tok, err := sr.dec.Token()
	if err != nil {
		return sr.fail(-1, err)
	}
	if tok != json.Delim('[') {
		return sr.fail(-1, fmt.Errorf("profiles: want an array, got %v", tok))
	}
	for sr.dec.More() {
		p, err := sr.readProfile()
		if err != nil {
			return err
		}
		if !sr.haveFr {
			sr.pending = append(sr.pending, p)
			continue
		}
		if err := sr.profile(&p); err != nil {
			return err
		}
	}
	_, err = sr.dec.Token()
	if err != nil {
		return sr.fail(-1, err)
	}
	return nil
}

// readProfile reads one profile object, its events one at a time.
func (sr *speedscopeReader) readProfile() (speedscopeProfile, error) {
	p := speedscopeProfile{offset: sr.dec.InputOffset(), index: sr.nprof}
	tok, err := sr.dec.Token()
	if err != nil {
		return p, sr.fail(-1, err)
	}
	if tok != json.Delim('{') {
		return p, sr.fail(-1, fmt.Errorf("profile %d: want an object, got %v", sr.nprof, tok))
	}
	for sr.dec.More() {
		tok, err := sr.dec.Token()
		if err != nil {
			return p, sr.fail(-1, err)
		}
		key, _ := tok.(string)
		var dst any
		switch key {
		case "type":
			dst = &p.Type
		case "name":
			dst = &p.Name
		case "unit":
			dst = &p.Unit
		case "startValue":
			dst = &p.StartValue
		case "endValue":
			dst = &p.EndValue
		case "samples":
			dst = &p.Samples
		case "weights":
			dst = &p.Weights
		case "events":
			if err := sr.readEvents(&p); err != nil {
				return p, err
			}
			continue
		default:
			dst = new(json.RawMessage)
		}
		if err := sr.dec.Decode(dst); err != nil {
			return p, sr.fail(-1, fmt.Errorf("profile %d: %s: %w", sr.nprof, key, err))
		}
	}
	if _, err := sr.dec.Token(); err != nil {
		return p, sr.fail(-1, err)
	}
	sr.nprof++
	return p, nil
}

func (sr *speedscopeReader) readEvents(p *speedscopeProfile) error {
	tok, err := sr.dec.Token()
	if err != nil {
		return sr.fail(-1, err)
	}
	if tok != json.Delim('[') {
		return sr.fail(-1, fmt.Errorf("profile %d: events: want an array, got %v", sr.nprof, tok))
	}
	for sr.dec.More() {
		var ev speedscopeEvent
		if err := sr.dec.Decode(&ev); err != nil {
			return sr.fail(len(p.Events), fmt.Errorf("profile %d: %w", sr.nprof, err))
		}
		p.Events = append(p.Events, ev)
	}
	_, err = sr.dec.Token()
	if err != nil {
		return sr.fail(-1, err)
	}
	return nil
}

// unitNS returns how many ns one unit of a profile is.
func unitNS(unit string) (float64, error) {
	switch unit {
	case "nanoseconds", "none", "bytes", "":
		return 1, nil
	case "microseconds":
		return 1e3, nil
	case "milliseconds":
		return 1e6, nil
	case "seconds":
		return 1e9, nil
	}
	return 0, fmt.Errorf("unknown unit %q", unit)
}

func toNS(v, scale float64) (int64, error) {
	ns := math.Round(v * scale)
	if math.IsNaN(ns) || math.Abs(ns) > 1<<62 {
		return 0, fmt.Errorf("value %v out of range", v)
	}
	return int64(ns), nil
}

// profile converts one profile and gives it to the recorder.
func (sr *speedscopeReader) profile(p *speedscopeProfile) error {
	idx := p.index
	tid := uint32(idx + 1)
	fail := func(event int, err error) error {
		e := sr.fail(event, fmt.Errorf("profile %d (%q): %w", idx, p.Name, err))
		e.(*FormatError).Offset = p.offset
		return e
	}
	scale, err := unitNS(p.Unit)
	if err != nil {
		return fail(-1, err)
	}
	name := p.Name
	if name == "" {
		name = "profile " + strconv.Itoa(idx)
	}
	sr.rec.Thread(Thread{TID: tid, Name: name})
	b := eventBatch{rec: sr.rec, ft: &sr.ft, tid: tid}
	defer b.flush()
	frame := func(i int) (FrameID, bool) {
		if i < 0 || i >= len(sr.frames) {
			return 0, false
		}
		return sr.frames[i], true
	}
	switch p.Type {
	case "evented":
		var stack []int
		var last int64 = math.MinInt64
		for i, ev := range p.Events {
			id, ok := frame(ev.Frame)
			if !ok {
				return fail(i, fmt.Errorf("frame %d does not exist (%d frames)", ev.Frame, len(sr.frames)))
			}
			ts, err := toNS(ev.At, scale)
			if err != nil {
				return fail(i, err)
			}
			if ts < last {
				return fail(i, fmt.Errorf("at %v is before the previous event's", ev.At))
			}
			last = ts
			switch ev.Type {
			case "O":
				stack = append(stack, ev.Frame)
				b.add(Event{TS: ts, Frame: id, Kind: Call})
				sr.calls++
			case "C":
				if len(stack) == 0 {
					return fail(i, fmt.Errorf("closes frame %d (%s) but no frame is open", ev.Frame, sr.ft.frame(id).Func))
				}
				if top := stack[len(stack)-1]; top != ev.Frame {
					return fail(i, fmt.Errorf("closes frame %d (%s) but frame %d (%s) is the one open",
						ev.Frame, sr.ft.frame(id).Func, top, sr.ft.frame(sr.frames[top]).Func))
				}
				stack = stack[:len(stack)-1]
				b.add(Event{TS: ts, Frame: id, Kind: Return})
			default:
				return fail(i, fmt.Errorf("unknown event type %q", ev.Type))
			}
		}
		if n := len(stack); n > 0 {
			top := stack[n-1]
			return fail(len(p.Events), fmt.Errorf("%d frame(s) still open at the end, the innermost %d (%s)", n, top, sr.ft.frame(sr.frames[top]).Func))
		}
	case "sampled":
		if p.Weights != nil && len(p.Weights) != len(p.Samples) {
			return fail(-1, fmt.Errorf("%d samples but %d weights", len(p.Samples), len(p.Weights)))
		}
		start, err := toNS(p.StartValue, scale)
		if err != nil {
			return fail(-1, err)
		}
		tl := stackTimeline{b: &b, t: start}
		ids := make([]FrameID, 0, 64)
		for i, s := range p.Samples {
			ids = ids[:0]
			for _, fi := range s {
				id, ok := frame(fi)
				if !ok {
					tl.end()
					return fail(i, fmt.Errorf("sample %d: frame %d does not exist (%d frames)", i, fi, len(sr.frames)))
				}
				ids = append(ids, id)
			}
			w := 1.0
			if p.Weights != nil {
				w = p.Weights[i]
			}
			d, err := toNS(w, scale)
			if err != nil || d < 0 {
				tl.end()
				return fail(i, fmt.Errorf("sample %d: bad weight %v", i, w))
			}
			tl.sample(ids, d)
		}
		tl.end()
		sr.calls += tl.calls
	default:
		return fail(-1, fmt.Errorf("unknown profile type %q (want evented or sampled)", p.Type))
	}
	return nil
}

// stackTimeline turns weighted stack samples into calls: each sample lasts
// its weight, and a sample keeps the calls it shares with the one before.
type stackTimeline struct {
	b     *eventBatch
	stack []FrameID
	t     int64
	calls int
}

func (s *stackTimeline) sample(frames []FrameID, d int64) {
	common := 0
	for common < len(s.stack) && common < len(frames) && s.stack[common] == frames[common] {
		common++
	}
	for i := len(s.stack) - 1; i >= common; i-- {
		s.b.add(Event{TS: s.t, Frame: s.stack[i], Kind: Return})
	}
	s.stack = s.stack[:common]
	for _, f := range frames[common:] {
		s.b.add(Event{TS: s.t, Frame: f, Kind: Call})
		s.stack = append(s.stack, f)
		s.calls++
	}
	s.t += d
}

func (s *stackTimeline) end() {
	for i := len(s.stack) - 1; i >= 0; i-- {
		s.b.add(Event{TS: s.t, Frame: s.stack[i], Kind: Return})
	}
	s.stack = s.stack[:0]
}

// WriteSpeedscope writes the stored calls of t as a speedscope file: one
// evented profile per thread, in ns since t.StartNS(); calls still open
// close at their thread's latest event. The file opens on the main thread
// (see mainThread). It streams the events.
func WriteSpeedscope(w io.Writer, t *Trace) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	start := t.StartNS()
	info := t.Info()
	// every frame an event refers to: announced ones and stubs
	index := make(map[FrameID]int)
	var frames []Frame
	for _, f := range t.FrameList() {
		index[f.ID] = len(frames)
		frames = append(frames, f)
	}
	for _, n := range t.Callgraph().Nodes {
		if _, ok := index[n.ID]; !ok {
			index[n.ID] = len(frames)
			frames = append(frames, n.Frame)
		}
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"$schema":"`+speedscopeSchema+`","exporter":"flowscape","name":`...)
	name := "flowscape trace"
	if len(info.Command) > 0 {
		name = joinCommand(info.Command)
	}
	b = appendJSONString(b, name)
	threads := t.storedThreads()
	names := t.Threads()
	b = append(b, `,"activeProfileIndex":`...)
	b = strconv.AppendInt(b, int64(t.mainThread(info.PID, threads)), 10)
	b = append(b, `,"shared":{"frames":[`...)
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n"...)
		b = append(b, `{"name":`...)
		b = appendJSONString(b, f.Func)
		if f.File != "" && !f.C {
			b = append(b, `,"file":`...)
			b = appendJSONString(b, f.File)
		}
		if f.Line > 0 {
			b = append(b, `,"line":`...)
			b = strconv.AppendInt(b, int64(f.Line), 10)
		}
		b = append(b, '}')
		if len(b) > 32<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]},\n\"profiles\":["...)
	lastTS := t.Stats().LastTS
	for ti, th := range threads {
		first, last, hasOpen := t.threadRange(th)
		if hasOpen {
			last = max(last, lastTS) // its open calls close at the trace's end
		}
		if ti > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n"...)
		b = append(b, `{"type":"evented","name":`...)
		tn := names[ti].Name
		if tn == "" {
			tn = "thread " + strconv.FormatUint(uint64(th.tid), 10)
		}
		b = appendJSONString(b, tn)
		b = append(b, `,"unit":"nanoseconds","startValue":`...)
		b = strconv.AppendInt(b, first-start, 10)
		b = append(b, `,"endValue":`...)
		b = strconv.AppendInt(b, last-start, 10)
		b = append(b, `,"events":[`...)
		n := 0
		ev := func(typ byte, f FrameID, at int64) {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, "\n"...)
			b = append(b, `{"type":"`...)
			b = append(b, typ)
			b = append(b, `","frame":`...)
			b = strconv.AppendInt(b, int64(index[f]), 10)
			b = append(b, `,"at":`...)
			b = strconv.AppendInt(b, at-start, 10)
			b = append(b, '}')
		}
		type open struct {
			f   FrameID
			end int64
		}
		var stack []open
		closeTo := func(d int) {
			for len(stack) > d {
				o := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				ev('C', o.f, o.end)
			}
		}
		err := t.spanWalk(th, func(r *record, end int64, path []FrameID) error {
			closeTo(len(path) - 1)
			ts := r.ts
			if len(stack) > 0 {
				end = min(end, stack[len(stack)-1].end)
			}
			end = max(end, ts)
			ev('O', r.frame, ts)
			stack = append(stack, open{r.frame, end})
			if len(b) > 32<<10 {
				if _, err := bw.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
			return nil
		})
		if err != nil {
			return err
		}
		closeTo(0)
		b = append(b, "]}"...)
	}
	b = append(b, "]}\n"...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// mainThread returns the index in threads of the thread a viewer should
// open on: the process's main thread. On Linux its tid is the pid, which no
// one can rename, so that comes first; then the thread Python names
// MainThread (for traces whose tids are not the system's); then the thread
// whose events span the longest time.
func (t *Trace) mainThread(pid int, threads []*threadStore) int {
	named, longest := -1, 0
	var span int64 = -1
	for i, th := range threads {
		if pid > 0 && th.tid == uint32(pid) {
			return i
		}
		t.mu.RLock()
		name := th.name
		t.mu.RUnlock()
		if name == "MainThread" && named < 0 {
			named = i
		}
		if first, last, _ := t.threadRange(th); last-first > span {
			span, longest = last-first, i
		}
	}
	if named >= 0 {
		return named
	}
	return longest
}

// threadRange returns a thread's first and latest event timestamps, and
// whether it has calls still open.
func (t *Trace) threadRange(th *threadStore) (first, last int64, open bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return th.firstTS, th.lastTS, len(th.stack) > 0
}

func joinCommand(cmd []string) string {
	s := ""
	for i, a := range cmd {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
