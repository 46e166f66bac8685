package tracer

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// Wire record types of the in-process agent's stream (see
// assets/agent/flowscape_agent.py for the writer).
const (
	wireHello   = 'H'
	wireFrames  = 'F'
	wireThreads = 'T'
	wireEvents  = 'E'
	wireEnd     = 'X'
)

// maxWirePayload bounds one record so a corrupt length cannot make the
// decoder allocate gigabytes.
const maxWirePayload = 256 << 20

// ErrNoEnd is returned when the agent's stream ends without its end record:
// the traced process died or was killed.
var ErrNoEnd = errors.New("stream ended without the agent's end record")

// WireError says what was wrong in the agent's stream and where.
type WireError struct {
	Offset int64 // byte offset of the record in the stream
	Record byte  // record type, 0 if the header itself was bad
	Err    error
}

func (e *WireError) Error() string {
	if e.Record == 0 {
		return fmt.Sprintf("agent stream at byte %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("agent stream, record %q at byte %d: %v", e.Record, e.Offset, e.Err)
}

func (e *WireError) Unwrap() error { return e.Err }

// AgentHello is the agent's first record.
type AgentHello struct {
	PID        int      `json:"pid"`
	Version    string   `json:"version"`
	Executable string   `json:"executable"`
	Mode       string   `json:"mode"`
	CCalls     bool     `json:"c_calls"`
	StartNS    int64    `json:"start_ns"`
	Argv       []string `json:"argv"`
	AgentTIDs  []uint32 `json:"agent_tids"`
	Hook       string   `json:"hook"`      // "c" or "python"
	HookNote   string   `json:"hook_note"` // why the Python hook is used
}

// AgentEnd is the agent's last record.
type AgentEnd struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Decoder reads the agent's wire stream and feeds a Recorder. It is not safe
// for concurrent use.
type Decoder struct {
	r      *bufio.Reader
	rec    Recorder
	off    int64
	hdr    [5]byte
	buf    []byte
	tables map[FrameID][]int32 // bytecode offset → line tables, flat [start,end,line]...
	skip   map[uint32]bool     // the agent's own threads
	// scratch, reused between batches
	tids   []uint32
	groups [][]Event

	// Hello is the agent's hello, once read.
	Hello *AgentHello
	// End is the agent's end record, once read.
	End *AgentEnd
	// Events counts the events decoded so far.
	Events int64
}

// NewDecoder returns a decoder reading the agent's stream from r.
func NewDecoder(r io.Reader, rec Recorder) *Decoder {
	return &Decoder{
		r:      bufio.NewReaderSize(r, 1<<16),
		rec:    rec,
		tables: map[FrameID][]int32{},
		skip:   map[uint32]bool{},
	}
}

// Run decodes records until the end record (nil), the end of the stream
// without an end record (ErrNoEnd) or a malformed record (*WireError).
// Everything decoded before an error has been given to the Recorder.
func (d *Decoder) Run() error {
	for {
		err := d.Next()
		if err == io.EOF {
			if d.End != nil {
				return nil
			}
			return ErrNoEnd
		}
		if err != nil {
			return err
		}
	}
}

// Next decodes one record. It returns io.EOF at a clean end of stream.
func (d *Decoder) Next() error {
	start := d.off
	n, err := io.ReadFull(d.r, d.hdr[:])
	d.off += int64(n)
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return &WireError{Offset: start, Err: fmt.Errorf("truncated record header: %w", err)}
	}
	typ := d.hdr[0]
	size := binary.LittleEndian.Uint32(d.hdr[1:])
	if size > maxWirePayload {
		return &WireError{Offset: start, Record: typ, Err: fmt.Errorf("payload of %d bytes is over the %d limit", size, maxWirePayload)}
	}
	if cap(d.buf) < int(size) {
		d.buf = make([]byte, size)
	}
	p := d.buf[:size]
	n, err = io.ReadFull(d.r, p)
	d.off += int64(n)
	if err != nil {
		return &WireError{Offset: start, Record: typ, Err: fmt.Errorf("truncated payload (%d of %d bytes): %w", n, size, err)}
	}
	if err := d.record(typ, p); err != nil {
		return &WireError{Offset: start, Record: typ, Err: err}
	}
	return nil
}

func (d *Decoder) record(typ byte, p []byte) error {
	switch typ {
	case wireHello:
		var h AgentHello
		if err := json.Unmarshal(p, &h); err != nil {
			return err
		}
		d.Hello = &h
		for _, t := range h.AgentTIDs {
			d.skip[t] = true
		}
		d.rec.Process(ProcessInfo{PID: h.PID, Command: h.Argv, Interpreter: h.Executable, Version: h.Version, Mode: h.Mode, Note: h.HookNote, StartNS: h.StartNS})
	case wireFrames:
		return d.frames(p)
	case wireThreads:
		var ts [][2]json.RawMessage
		if err := json.Unmarshal(p, &ts); err != nil {
			return err
		}
		for _, t := range ts {
			var tid uint32
			var name string
			if err := json.Unmarshal(t[0], &tid); err != nil {
				return fmt.Errorf("thread id: %w", err)
			}
			if err := json.Unmarshal(t[1], &name); err != nil {
				return fmt.Errorf("thread name: %w", err)
			}
			if !d.skip[tid] {
				d.rec.Thread(Thread{TID: tid, Name: name})
			}
		}
	case wireEvents:
		return d.events(p)
	case wireEnd:
		var e AgentEnd
		if err := json.Unmarshal(p, &e); err != nil {
			return err
		}
		d.End = &e
	default:
		return errors.New("unknown record type")
	}
	return nil
}

func (d *Decoder) frames(p []byte) error {
	var raw [][]json.RawMessage
	if err := json.Unmarshal(p, &raw); err != nil {
		return err
	}
	fs := make([]Frame, 0, len(raw))
	for i, r := range raw {
		if len(r) < 5 {
			return fmt.Errorf("frame %d has %d fields, want 6", i, len(r))
		}
		var f Frame
		var id uint32
		for j, dst := range []any{&id, &f.File, &f.Func, &f.Line, &f.C} {
			if err := json.Unmarshal(r[j], dst); err != nil {
				return fmt.Errorf("frame %d field %d: %w", i, j, err)
			}
		}
		f.ID = FrameID(id)
		if len(r) > 5 {
			var table []int32
			if err := json.Unmarshal(r[5], &table); err != nil {
				return fmt.Errorf("frame %d line table: %w", i, err)
			}
			if len(table)%3 != 0 {
				return fmt.Errorf("frame %d line table has %d numbers, not a multiple of 3", i, len(table))
			}
			if table != nil {
				d.tables[f.ID] = table
			}
		}
		fs = append(fs, f)
	}
	d.rec.Frames(fs)
	return nil
}

// line maps a bytecode offset in frame f to a line through its table.
func (d *Decoder) line(f FrameID, off int32) int32 {
	t := d.tables[f]
	n := len(t) / 3
	i := sort.Search(n, func(i int) bool { return t[3*i+1] > off })
	if i < n && t[3*i] <= off {
		return t[3*i+2]
	}
	return 0
}

func (d *Decoder) events(p []byte) error {
	if len(p) < 5 {
		return fmt.Errorf("event batch of %d bytes is shorter than its header", len(p))
	}
	n := int(binary.LittleEndian.Uint32(p))
	posmode := p[4]
	if posmode > 1 {
		return fmt.Errorf("unknown position mode %d", posmode)
	}
	if want := 5 + 21*uint64(n); uint64(len(p)) != want {
		return fmt.Errorf("event batch of %d events should be %d bytes, is %d", n, want, len(p))
	}
	ts := p[5 : 5+8*n]
	ids := p[5+8*n : 5+12*n]
	pos := p[5+12*n : 5+16*n]
	tids := p[5+16*n : 5+20*n]
	kinds := p[5+20*n:]
	for i := range d.groups {
		d.groups[i] = d.groups[i][:0]
	}
	d.tids = d.tids[:0]
	g := -1
	var lastTid uint32
	var lastFrame FrameID = math.MaxUint32
	var lastTable bool
	for i := 0; i < n; i++ {
		tid := binary.LittleEndian.Uint32(tids[4*i:])
		if g < 0 || tid != lastTid {
			g = d.group(tid)
			lastTid = tid
		}
		k := Kind(kinds[i])
		if k >= numKinds {
			return fmt.Errorf("event %d has unknown kind %d", i, kinds[i])
		}
		f := FrameID(binary.LittleEndian.Uint32(ids[4*i:]))
		if f == 0 {
			continue // the agent's own code
		}
		at := int64(binary.LittleEndian.Uint64(ts[8*i:]))
		line := int32(binary.LittleEndian.Uint32(pos[4*i:]))
		if posmode == 1 {
			if f != lastFrame {
				_, lastTable = d.tables[f]
				lastFrame = f
			}
			if lastTable {
				line = d.line(f, line)
			} else {
				line = 0
			}
		}
		d.groups[g] = append(d.groups[g], Event{
			TS:    at,
			Frame: f,
			Line:  line,
			Kind:  k,
		})
	}
	d.Events += int64(n)
	for i, tid := range d.tids {
		if len(d.groups[i]) > 0 && !d.skip[tid] {
			d.rec.Events(tid, d.groups[i])
		}
	}
	return nil
}

func (d *Decoder) group(tid uint32) int {
	for i, t := range d.tids {
		if t == tid {
			return i
		}
	}
	d.tids = append(d.tids, tid)
	if len(d.groups) < len(d.tids) {
		d.groups = append(d.groups, nil)
	}
	return len(d.tids) - 1
}
