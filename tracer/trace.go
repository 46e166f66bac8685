package tracer

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// DefaultLimit is the number of events a Trace stores when NewTrace is given
// no positive limit.
const DefaultLimit = 20_000_000

// MaxFrameID is the largest frame id a Trace accepts; events that refer to a
// larger id are counted as invalid. Sources number frames densely from 0 or
// 1, so this is far more than any real program has.
const MaxFrameID FrameID = 1<<24 - 1

const (
	chunkBits  = 16
	chunkSize  = 1 << chunkBits // records per chunk (1.5 MiB)
	chunkMask  = chunkSize - 1
	firstChunk = 256 // capacity of a thread's first chunk, doubled up to chunkSize

	kindMask    Kind = 0x0f
	flagUnwound Kind = 0x80 // on an entry: closed by the exit of a frame below it

	matchOpen  = -1 // an entry whose exit has not happened yet
	matchTrunc = -2 // an entry that was closed after the store was full

	maxDepth = math.MaxUint16
)

// record is one stored event: 24 bytes.
type record struct {
	ts    int64
	frame FrameID
	line  int32
	// match is, for an entry, the index of its exit record (or of the exit
	// that unwound it, see flagUnwound), matchOpen or matchTrunc; for an
	// exit, the index of its entry record.
	match int32
	depth uint16 // stack depth of the entry (0 for a root); exits carry their entry's
	kind  Kind   // Kind, plus flagUnwound on entries
}

func (r *record) entry() bool { return (r.kind & kindMask).IsEntry() }

// frameState is one open call on a thread's stack.
type frameState struct {
	ts        int64
	child     int64 // time spent in completed direct children
	frame     FrameID
	local     int32 // index into threadStore.fns
	idx       int32 // index of the entry record, -1 when it was not stored
	edge      int32 // index into threadStore.edges, -1 at top level
	recur     bool  // the same function is lower on this stack
	edgeRecur bool  // the same caller→callee edge is lower on this stack
}

// threadStore is everything a Trace keeps about one thread.
type threadStore struct {
	tid     uint32
	name    string
	chunks  [][]record
	n       int32 // records stored
	firstTS int64 // of all events applied, stored or not
	lastTS  int64
	seen    bool

	stack []frameState

	// callgraph state, see callgraph.go
	local   []int32 // FrameID → index+1 into fns, 0 when not seen on this thread
	fns     []threadFunc
	edges   []edgeStat
	edgeIdx map[uint64]int32

	pend *pendingThread // calls given in end order, until Settle (see pending.go)
}

func (th *threadStore) rec(i int32) *record {
	return &th.chunks[i>>chunkBits][i&chunkMask]
}

// push stores r and returns its index.
func (th *threadStore) push(r record) int32 {
	last := len(th.chunks) - 1
	if last < 0 || len(th.chunks[last]) == cap(th.chunks[last]) {
		th.grow()
		last = len(th.chunks) - 1
	}
	th.chunks[last] = append(th.chunks[last], r)
	i := th.n
	th.n++
	return i
}

func (th *threadStore) grow() {
	switch last := len(th.chunks) - 1; {
	case last < 0:
		th.chunks = append(th.chunks, make([]record, 0, firstChunk))
	case last == 0 && cap(th.chunks[0]) < chunkSize:
		c := make([]record, len(th.chunks[0]), min(2*cap(th.chunks[0]), chunkSize))
		copy(c, th.chunks[0])
		th.chunks[0] = c
	default:
		th.chunks = append(th.chunks, make([]record, 0, chunkSize))
	}
}

// Trace is the bounded event store of one traced process, with its
// per-thread call stacks and callgraph. It implements Recorder. It is safe
// for one writer (the Recorder methods) and any number of concurrent readers
// (every other method).
type Trace struct {
	mu      sync.RWMutex
	version atomic.Uint64

	limit     int
	stored    int
	reserved  int // events the calls waiting in memory will become (pending.go)
	spilled   int // calls that waited in a temporary file
	spillErr  error
	dropped   int
	unmatched int
	invalid   int
	firstTS   int64
	lastTS    int64
	seen      bool

	info    ProcessInfo
	frames  []Frame // by FrameID
	known   []bool  // by FrameID: announced through Frames
	nframes int

	threads []*threadStore // in order of first appearance
	byTID   map[uint32]*threadStore

	sources embeddedSources // source files a trace file carried, see embedded.go
	marks   marks           // instants and counter samples, see marks.go
}

var _ Recorder = (*Trace)(nil)

// NewTrace returns an empty Trace that stores at most limit events over all
// threads (DefaultLimit when limit <= 0).
func NewTrace(limit int) *Trace {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, pendingBase-1)
	return &Trace{limit: limit, byTID: make(map[uint32]*threadStore)}
}

// Stats summarises a Trace.
type Stats struct {
	Events  int // events stored
	Dropped int // events not stored because the limit was hit (still counted in the callgraph)
	Limit   int // the most events the trace stores
	Threads int // threads seen
	Frames  int // frames announced
	Open    int // calls not yet returned, over all threads
	// Waiting is how many calls given in end order (EndOrderRecorder) wait
	// to be placed: they show where they are known to be, and each counts
	// against Limit as the two events it becomes.
	Waiting int
	// Spilled is how many calls given in end order came beyond Limit and
	// waited in a temporary file (not in memory) to be placed.
	Spilled int
	// SpillError is a fault with that temporary file: it could not be
	// written (the calls stayed in memory) or read back (calls are missing).
	SpillError   error
	MarksDropped int   // instants and counter samples beyond MaxMarks (not kept)
	Unmatched    int   // exits whose frame was not on the thread's stack (not stored)
	Invalid      int   // events with an unknown kind or a frame id above MaxFrameID (ignored)
	FirstTS      int64 // earliest event timestamp in ns, 0 before any event
	LastTS       int64 // latest event timestamp in ns, 0 before any event
}

// Process records the traced process.
func (t *Trace) Process(p ProcessInfo) {
	p.Command = append([]string(nil), p.Command...)
	t.mu.Lock()
	t.info = p
	t.mu.Unlock()
	t.version.Add(1)
}

// Frames interns functions; a frame announced again replaces the earlier one.
func (t *Trace) Frames(fs []Frame) {
	if len(fs) == 0 {
		return
	}
	t.mu.Lock()
	for _, f := range fs {
		if f.ID > MaxFrameID {
			continue
		}
		t.growFrames(f.ID)
		if !t.known[f.ID] {
			t.known[f.ID] = true
			t.nframes++
		}
		t.frames[f.ID] = f
	}
	t.mu.Unlock()
	t.version.Add(1)
}

func (t *Trace) growFrames(id FrameID) {
	if int(id) < len(t.frames) {
		return
	}
	n := max(int(id)+1, 2*len(t.frames), 64)
	frames := make([]Frame, n)
	copy(frames, t.frames)
	known := make([]bool, n)
	copy(known, t.known)
	t.frames, t.known = frames, known
}

// Thread announces or renames a thread.
func (t *Trace) Thread(th Thread) {
	t.mu.Lock()
	t.thread(th.TID).name = th.Name
	t.mu.Unlock()
	t.version.Add(1)
}

func (t *Trace) thread(tid uint32) *threadStore {
	th := t.byTID[tid]
	if th == nil {
		th = &threadStore{tid: tid, edgeIdx: make(map[uint64]int32)}
		t.byTID[tid] = th
		t.threads = append(t.threads, th)
	}
	return th
}

// Events applies one thread's events, in time order: they update the
// thread's stack and callgraph, and are stored while the limit allows.
func (t *Trace) Events(tid uint32, evs []Event) {
	if len(evs) == 0 {
		return
	}
	t.mu.Lock()
	th := t.thread(tid)
	for i := range evs {
		e := &evs[i]
		if e.Kind >= numKinds || e.Frame > MaxFrameID {
			t.invalid++
			continue
		}
		if !t.seen {
			t.seen, t.firstTS, t.lastTS = true, e.TS, e.TS
		} else if e.TS > t.lastTS {
			t.lastTS = e.TS
		} else if e.TS < t.firstTS {
			t.firstTS = e.TS
		}
		if !th.seen {
			th.seen, th.firstTS, th.lastTS = true, e.TS, e.TS
		} else if e.TS > th.lastTS {
			th.lastTS = e.TS
		}
		if e.Kind.IsEntry() {
			t.enter(th, e)
		} else {
			t.exit(th, e)
		}
	}
	t.mu.Unlock()
	t.version.Add(1)
}

func (t *Trace) enter(th *threadStore, e *Event) {
	depth := len(th.stack)
	s := frameState{ts: e.TS, frame: e.Frame, idx: -1, edge: -1}
	s.local = th.localOf(e.Frame)
	fn := &th.fns[s.local]
	fn.onStack++
	s.recur = fn.onStack > 1
	fn.calls++
	if fn.calls == 1 {
		fn.firstTS = e.TS
		fn.firstPath = th.path(e.Frame)
	}
	if depth > 0 {
		caller := &th.stack[depth-1]
		s.edge = th.edgeOf(caller.local, s.local)
		ed := &th.edges[s.edge]
		ed.calls++
		ed.onStack++
		s.edgeRecur = ed.onStack > 1
	}
	if idx, ok := t.store(th, e, matchOpen, depth); ok {
		s.idx = idx
	}
	th.stack = append(th.stack, s)
}

// store appends e to th's records unless the limit is reached (then it is
// counted as dropped); it returns the record's index and whether it was kept.
func (t *Trace) store(th *threadStore, e *Event, match int32, depth int) (int32, bool) {
	if t.stored+t.reserved >= t.limit {
		t.dropped++
		return 0, false
	}
	t.stored++
	return th.push(record{
		ts:    e.TS,
		frame: e.Frame,
		line:  e.Line,
		match: match,
		depth: uint16(min(depth, maxDepth)),
		kind:  e.Kind,
	}), true
}

func (t *Trace) exit(th *threadStore, e *Event) {
	top := len(th.stack) - 1
	j := top
	for j >= 0 && th.stack[j].frame != e.Frame {
		j--
	}
	if j < 0 {
		t.unmatched++
		return
	}
	entry := th.stack[j].idx
	var exitIdx int32 = matchTrunc
	if idx, ok := t.store(th, e, entry, j); ok {
		exitIdx = idx
	}
	for k := top; k >= j; k-- {
		s := th.pop(e.TS)
		if s.idx < 0 {
			continue
		}
		r := th.rec(s.idx)
		r.match = exitIdx
		if k > j {
			r.kind |= flagUnwound
		}
	}
}

// Info returns what is known about the traced process.
func (t *Trace) Info() ProcessInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.info
	p.Command = append([]string(nil), p.Command...)
	return p
}

// Frame returns the frame with the given id, and whether it was announced.
func (t *Trace) Frame(id FrameID) (Frame, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(id) < len(t.known) && t.known[id] {
		return t.frames[id], true
	}
	return Frame{}, false
}

// frameOrStub returns the frame with the given id, or a placeholder naming
// the id when it was never announced. Call with t.mu held.
func (t *Trace) frameOrStub(id FrameID) Frame {
	if int(id) < len(t.known) && t.known[id] {
		return t.frames[id]
	}
	return Frame{ID: id, Func: fmt.Sprintf("<frame %d>", id)}
}

// FrameList returns a copy of the announced frames in id order. (Frames
// is taken by the Recorder method that announces them.)
func (t *Trace) FrameList() []Frame {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Frame, 0, t.nframes)
	for id, ok := range t.known {
		if ok {
			out = append(out, t.frames[id])
		}
	}
	return out
}

// Threads returns the threads seen, in order of first appearance.
func (t *Trace) Threads() []Thread {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Thread, len(t.threads))
	for i, th := range t.threads {
		out[i] = Thread{TID: th.tid, Name: th.name}
	}
	return out
}

// Stats returns the trace's counters.
func (t *Trace) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := Stats{
		MarksDropped: t.marks.dropped,
		Events:       t.stored,
		Dropped:      t.dropped,
		Limit:        t.limit,
		Threads:      len(t.threads),
		Frames:       t.nframes,
		Unmatched:    t.unmatched,
		Invalid:      t.invalid,
		FirstTS:      t.firstTS,
		LastTS:       t.lastTS,
	}
	s.Spilled, s.SpillError = t.spilled, t.spillErr
	for _, th := range t.threads {
		s.Open += len(th.stack)
		if p := th.pend; p != nil {
			s.Waiting += int(p.arrived)
			s.Spilled += p.spilled
			if p.err != nil && s.SpillError == nil {
				s.SpillError = p.err
			}
		}
	}
	return s
}

// Version returns a counter that changes whenever the trace does, so a
// reader can skip work when nothing happened.
func (t *Trace) Version() uint64 { return t.version.Load() }

// StartNS returns when tracing started: ProcessInfo.StartNS when the source
// set it, else the first event's timestamp.
func (t *Trace) StartNS() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.startNS()
}

func (t *Trace) startNS() int64 {
	if t.info.StartNS != 0 {
		return t.info.StartNS
	}
	return t.firstTS
}
