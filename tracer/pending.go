package tracer

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// EndOrderRecorder is a Recorder that also takes a thread's calls whole, in
// the order they returned: each call after the calls it made, as VizTracer
// writes them. Until Settle such calls wait aside and are shown as they
// come (a call whose caller has not come yet shows at the thread's top
// level); Settle then places them in time order, as if they had been given
// to Events as entries and exits.
type EndOrderRecorder interface {
	Recorder
	// Returned adds calls of thread tid that returned, in the order they
	// returned.
	Returned(tid uint32, calls []CallSpan)
	// Settle places the calls Returned gave for thread tid in time order.
	Settle(tid uint32)
}

// CallSpan is one call given whole, with its start and end.
type CallSpan struct {
	Start, End int64 // ns; End is math.MaxInt64 for a call that never returned
	Frame      FrameID
	Line       int32 // current line at entry (0 if unknown)
	ExitLine   int32 // current line at exit (0 if unknown)
	C          bool  // a C function: its events are CCall and CReturn
	Unwound    bool  // left by an exception: its exit is Unwind
}

var _ EndOrderRecorder = (*Trace)(nil)

const (
	// pendingBase is added to the arrival index of a waiting call to make
	// its NodeID.Index; stored records have smaller indexes (a Trace's
	// limit stays below it).
	pendingBase = 1 << 30

	pendChunkBits = 14 // waiting calls per chunk: 16 K (512 KiB)
	pendChunkSize = 1 << pendChunkBits
	pendChunkMask = pendChunkSize - 1

	// spillRun is how many calls beyond the memory limit are sorted and
	// written to the temporary file together.
	spillRun = 1 << 15

	// pendEvents is how many events Settle gives the store at a time: the
	// lock is taken once per batch, so readers go on meanwhile.
	pendEvents = 16 << 10

	pcallC       FrameID = 1 << 31 // on pcall.frame: a C function
	pcallUnwound FrameID = 1 << 30 // on pcall.frame: left by an exception
)

// pcall is a waiting call: 32 bytes, less than the two records it becomes.
type pcall struct {
	start, end     int64
	frame          FrameID // with pcallC and pcallUnwound
	line, exitLine int32
	// lo is the arrival index of the first call of this call's subtree
	// (its own when it made no call): the subtree is lo…itself. A spilled
	// call keeps its own arrival index here, to order ties.
	lo int32
}

func (c *pcall) frameID() FrameID { return c.frame & MaxFrameID }

func (c *pcall) dur() int64 {
	if c.end == math.MaxInt64 {
		return 0
	}
	return c.end - c.start
}

// pendingThread holds a thread's calls given in end order until Settle.
//
// The calls are kept by arrival. When a call arrives, every call read
// before it that starts within it and whose caller has not come yet (the
// forest: a stack, in start order) is one of its children, so each call's
// subtree is a range of arrivals and the calls whose callers have not come
// yet show at the thread's top level. Calls that arrive once the memory
// limit is reached are sorted in runs and written to a temporary file;
// Settle merges them with those kept in memory.
type pendingThread struct {
	chunks [][]pcall // calls kept in memory, by arrival; nil once Settle freed them
	tops   [][]int32 // by arrival: the previous call of the same function not inside this one (for Inclusive), -1
	n      int32     // calls kept in memory
	forest []int32   // arrival indexes of the calls kept whose caller has not come, in start order
	// nested is false once a call did not enclose exactly the forest's
	// calls that start within it (the file is not in end order): Settle
	// sorts the calls instead of walking the forest.
	nested   bool
	frozen   bool // the memory limit was reached: later calls are spilled
	settling bool // Settle is placing the calls; readers see the records

	arrived int32   // calls given, kept or spilled
	spilled int     // calls written (or to be written) to the temporary file
	run     []pcall // spilled calls not written yet
	file    *os.File
	size    int64       // bytes written to file
	runs    []spillSpan // the sorted runs in file
	inMem   [][]pcall   // runs kept in memory because the file could not be written
	err     error       // why the file could not be written

	g pendGraph
}

type spillSpan struct{ off, n int64 }

// pendGraph is the callgraph of the calls kept while they wait: calls and
// exclusive time are exact, inclusive time counts a recursive call once
// per stack of the calls known so far, edges count every call (recursive
// edges once per level) and their callers' edges are missing.
type pendGraph struct {
	local   []int32 // FrameID → index+1 into fns
	fns     []threadFunc
	top     []int32 // by fns index: arrival index of the latest call with no call of the same function above it, -1
	edges   []edgeStat
	edgeIdx map[uint64]int32
}

func (p *pendingThread) at(i int32) *pcall {
	return &p.chunks[i>>pendChunkBits][i&pendChunkMask]
}

func (p *pendingThread) topAt(i int32) *int32 {
	return &p.tops[i>>pendChunkBits][i&pendChunkMask]
}

// Returned adds calls of thread tid given in the order they returned; see
// EndOrderRecorder. They count against the trace's limit as the two events
// each becomes; beyond it they wait in a temporary file.
func (t *Trace) Returned(tid uint32, calls []CallSpan) {
	if len(calls) == 0 {
		return
	}
	t.mu.Lock()
	th := t.thread(tid)
	p := th.pend
	if p == nil || p.settling {
		p = &pendingThread{nested: true}
		p.g.edgeIdx = make(map[uint64]int32)
		th.pend = p
	}
	for i := range calls {
		c := &calls[i]
		if c.Frame > MaxFrameID {
			t.invalid++
			continue
		}
		// the start only: the end may still be cut to its caller's when it
		// is placed
		t.seeTS(th, c.Start)
		pc := pcall{start: c.Start, end: max(c.End, c.Start), frame: c.Frame, line: c.Line, exitLine: c.ExitLine}
		if c.C {
			pc.frame |= pcallC
		}
		if c.Unwound {
			pc.frame |= pcallUnwound
		}
		arrival := p.arrived
		p.arrived++
		if !p.frozen && (t.stored+t.reserved+2 > t.limit || p.n >= pendingBase-1) {
			p.frozen = true
		}
		if p.frozen {
			pc.lo = arrival
			p.spill(pc)
			continue
		}
		t.reserved += 2
		p.keep(pc)
	}
	t.mu.Unlock()
	t.version.Add(1)
}

// seeTS widens the trace's and the thread's time span to ts.
func (t *Trace) seeTS(th *threadStore, ts int64) {
	if !t.seen {
		t.seen, t.firstTS, t.lastTS = true, ts, ts
	} else if ts > t.lastTS {
		t.lastTS = ts
	} else if ts < t.firstTS {
		t.firstTS = ts
	}
	if !th.seen {
		th.seen, th.firstTS, th.lastTS = true, ts, ts
	} else if ts > th.lastTS {
		th.lastTS = ts
	} else if ts < th.firstTS {
		th.firstTS = ts
	}
}

// keep adds c to the calls kept in memory: it takes the forest's calls
// that start within it as its children, and counts it in the provisional
// callgraph.
func (p *pendingThread) keep(c pcall) {
	a := p.n
	if a&pendChunkMask == 0 {
		p.chunks = append(p.chunks, make([]pcall, 0, pendChunkSize))
		p.tops = append(p.tops, make([]int32, 0, pendChunkSize))
	}
	g := &p.g
	f := g.localOf(c.frameID())
	var childDur int64
	c.lo = a
	for len(p.forest) > 0 {
		k := p.forest[len(p.forest)-1]
		r := p.at(k)
		if r.start < c.start {
			if r.end > c.start {
				p.nested = false // overlaps c, or encloses it but came first
			}
			break
		}
		if r.end > c.end {
			p.nested = false // starts within c but ends after it
		}
		p.forest = p.forest[:len(p.forest)-1]
		d := r.dur()
		childDur += d
		if c.end != math.MaxInt64 {
			e := &g.edges[g.edgeOf(f, g.localOf(r.frameID()))]
			e.calls++
			e.time += d
		}
		c.lo = r.lo
	}
	last := len(p.chunks) - 1
	p.chunks[last] = append(p.chunks[last], c)
	top := int32(-1)
	p.n++
	p.forest = append(p.forest, a)

	fn := &g.fns[f]
	fn.calls++
	if fn.calls == 1 || c.start < fn.firstTS {
		fn.firstTS = c.start
		fn.firstPath = []FrameID{c.frameID()}
	}
	if d := c.dur(); c.end != math.MaxInt64 {
		fn.excl += d - childDur
		// the calls of the same function inside c no longer count on
		// their own for its inclusive time: c covers them
		top = g.top[f]
		for top >= c.lo {
			fn.incl -= p.at(top).dur()
			top = *p.topAt(top)
		}
		g.top[f] = a
		fn.incl += d
	}
	p.tops[last] = append(p.tops[last], top)
}

func (g *pendGraph) localOf(f FrameID) int32 {
	if int(f) < len(g.local) {
		if l := g.local[f]; l != 0 {
			return l - 1
		}
	} else {
		local := make([]int32, max(int(f)+1, 2*len(g.local), 64))
		copy(local, g.local)
		g.local = local
	}
	g.fns = append(g.fns, threadFunc{frame: f, cacheCaller: -1})
	g.top = append(g.top, -1)
	l := int32(len(g.fns))
	g.local[f] = l
	return l - 1
}

func (g *pendGraph) edgeOf(caller, callee int32) int32 {
	key := uint64(uint32(caller))<<32 | uint64(uint32(callee))
	e, ok := g.edgeIdx[key]
	if !ok {
		e = int32(len(g.edges))
		g.edges = append(g.edges, edgeStat{from: g.fns[caller].frame, to: g.fns[callee].frame})
		g.edgeIdx[key] = e
	}
	return e
}

// spill adds c to the calls that wait in the temporary file.
func (p *pendingThread) spill(c pcall) {
	p.spilled++
	p.run = append(p.run, c)
	if len(p.run) >= spillRun {
		p.writeRun()
	}
}

// pcallCmp orders calls for placing: by start, the longer first, and on
// full ties the later arrival first (in end order a caller comes after its
// callee).
func pcallCmp(a, b *pcall, arrA, arrB int32) int {
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	if c := cmp.Compare(b.end, a.end); c != 0 {
		return c
	}
	return cmp.Compare(arrB, arrA)
}

const pcallBytes = 32

// writeRun sorts the spilled calls not written yet and writes them to the
// temporary file (created on first use and removed at once, so nothing is
// left behind); when that fails they stay in memory.
func (p *pendingThread) writeRun() {
	if len(p.run) == 0 {
		return
	}
	slices.SortFunc(p.run, func(a, b pcall) int { return pcallCmp(&a, &b, a.lo, b.lo) })
	if p.err == nil && p.file == nil {
		f, err := os.CreateTemp("", "flowscape-calls-*")
		if err != nil {
			p.err = fmt.Errorf("calls beyond the memory limit were kept in memory, not on disk: %w", err)
		} else {
			_ = os.Remove(f.Name())
			p.file = f
		}
	}
	if p.err == nil {
		buf := make([]byte, 0, len(p.run)*pcallBytes)
		for i := range p.run {
			buf = appendPcall(buf, &p.run[i])
		}
		if _, err := p.file.WriteAt(buf, p.size); err != nil {
			p.err = fmt.Errorf("calls beyond the memory limit were kept in memory, not on disk: %w", err)
		} else {
			p.runs = append(p.runs, spillSpan{off: p.size, n: int64(len(p.run))})
			p.size += int64(len(buf))
			p.run = p.run[:0]
			return
		}
	}
	p.inMem = append(p.inMem, p.run)
	p.run = make([]pcall, 0, spillRun)
}

func appendPcall(b []byte, c *pcall) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(c.start))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.end))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.frame))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.line))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.exitLine))
	return binary.LittleEndian.AppendUint32(b, uint32(c.lo))
}

func readPcall(b []byte) pcall {
	return pcall{
		start:    int64(binary.LittleEndian.Uint64(b)),
		end:      int64(binary.LittleEndian.Uint64(b[8:])),
		frame:    FrameID(binary.LittleEndian.Uint32(b[16:])),
		line:     int32(binary.LittleEndian.Uint32(b[20:])),
		exitLine: int32(binary.LittleEndian.Uint32(b[24:])),
		lo:       int32(binary.LittleEndian.Uint32(b[28:])),
	}
}

// Settle places the calls Returned gave for thread tid in time order; see
// EndOrderRecorder. Readers see the thread's records grow meanwhile, and
// the provisional callgraph until the last call is placed.
func (t *Trace) Settle(tid uint32) {
	t.mu.Lock()
	th := t.byTID[tid]
	if th == nil || th.pend == nil || th.pend.settling {
		t.mu.Unlock()
		return
	}
	p := th.pend
	p.settling = true
	t.reserved -= 2 * int(p.n)
	p.writeRun()
	t.mu.Unlock()
	t.version.Add(1)

	// from here on readers do not look at p's calls: this goroutine owns
	// them, and frees them as they are placed
	var readErr error
	src := p.sorted(&readErr)
	evs := make([]Event, 0, pendEvents)
	emit := func(e Event) {
		evs = append(evs, e)
		if len(evs) == cap(evs) {
			t.Events(tid, evs)
			evs = evs[:0]
		}
	}
	exit := func(c *pcall) {
		k := Return
		switch {
		case c.frame&pcallC != 0:
			k = CReturn
		case c.frame&pcallUnwound != 0:
			k = Unwind
		}
		emit(Event{TS: c.end, Frame: c.frameID(), Line: c.exitLine, Kind: k})
	}
	var stack []pcall
	for {
		c, ok := src.next()
		if !ok {
			break
		}
		for n := len(stack); n > 0 && stack[n-1].end <= c.start; n-- {
			exit(&stack[n-1])
			stack = stack[:n-1]
		}
		if n := len(stack); n > 0 && c.end > stack[n-1].end {
			c.end = stack[n-1].end // a child cannot outlive its caller
		}
		k := Call
		if c.frame&pcallC != 0 {
			k = CCall
		}
		emit(Event{TS: c.start, Frame: c.frameID(), Line: c.line, Kind: k})
		stack = append(stack, c)
	}
	for n := len(stack); n > 0; n-- {
		if c := &stack[n-1]; c.end != math.MaxInt64 {
			exit(c)
		}
	}
	if len(evs) > 0 {
		t.Events(tid, evs)
	}
	if p.file != nil {
		p.file.Close()
	}
	t.mu.Lock()
	t.spilled += p.spilled
	for _, err := range []error{p.err, readErr} {
		if err != nil && t.spillErr == nil {
			t.spillErr = err
		}
	}
	th.pend = nil
	t.mu.Unlock()
	t.version.Add(1)
}

// callSource gives calls in placing order (pcallCmp).
type callSource interface {
	// next returns the next call and its arrival index.
	next() (pcall, int32, bool)
}

// sortedCalls is a callSource without arrival indexes.
type sortedCalls interface {
	next() (pcall, bool)
}

// sorted returns p's calls, kept and spilled, in placing order, freeing
// those kept as they are given.
func (p *pendingThread) sorted(readErr *error) sortedCalls {
	var srcs []callSource
	if p.n > 0 {
		if p.nested {
			srcs = append(srcs, p.walk())
		} else {
			for ci, ch := range p.chunks {
				base := int32(ci) << pendChunkBits
				for k := range ch {
					ch[k].lo = base + int32(k) // the arrival, for ties
				}
				slices.SortFunc(ch, func(a, b pcall) int { return pcallCmp(&a, &b, a.lo, b.lo) })
				srcs = append(srcs, &sliceCalls{calls: ch, free: func() { p.chunks[ci] = nil }})
			}
			p.tops = nil
		}
	}
	for _, r := range p.inMem {
		srcs = append(srcs, &sliceCalls{calls: r})
	}
	p.inMem = nil
	for _, r := range p.runs {
		srcs = append(srcs, &fileCalls{r: bufio.NewReaderSize(io.NewSectionReader(p.file, r.off, r.n*pcallBytes), 32<<10), n: r.n, err: readErr})
	}
	if len(srcs) == 1 {
		return oneSource{srcs[0]}
	}
	m := &mergeCalls{}
	for _, s := range srcs {
		if c, a, ok := s.next(); ok {
			m.h = append(m.h, mergeItem{c: c, arr: a, src: s})
		}
	}
	heap.Init(&m.h)
	return m
}

// walk returns the kept calls in placing order, walking the forest: each
// call before the calls it made, in order of their start. It frees the
// chunks of calls placed.
func (p *pendingThread) walk() callSource {
	w := &forestWalk{p: p}
	for i := len(p.forest) - 1; i >= 0; i-- {
		w.todo = append(w.todo, p.forest[i])
	}
	p.forest = nil
	return w
}

type forestWalk struct {
	p     *pendingThread
	todo  []int32 // calls to give, the next last
	freed int     // chunks freed
}

func (w *forestWalk) next() (pcall, int32, bool) {
	n := len(w.todo)
	if n == 0 {
		w.p.chunks, w.p.tops = nil, nil
		return pcall{}, 0, false
	}
	p := w.p
	j := w.todo[n-1]
	w.todo = w.todo[:n-1]
	c := *p.at(j)
	// its children, the last first, so the first is given next
	for k := j - 1; k >= c.lo; k = p.at(k).lo - 1 {
		w.todo = append(w.todo, k)
	}
	// every call before c's subtree was given: free their chunks
	for ; w.freed < int(c.lo>>pendChunkBits); w.freed++ {
		p.chunks[w.freed], p.tops[w.freed] = nil, nil
	}
	return c, j, true
}

type sliceCalls struct {
	calls []pcall
	i     int
	free  func()
}

func (s *sliceCalls) next() (pcall, int32, bool) {
	if s.i == len(s.calls) {
		if s.free != nil {
			s.free()
			s.free = nil
		}
		s.calls = nil
		return pcall{}, 0, false
	}
	c := s.calls[s.i]
	s.i++
	return c, c.lo, true
}

type fileCalls struct {
	r   *bufio.Reader
	n   int64
	buf [pcallBytes]byte
	err *error
}

func (f *fileCalls) next() (pcall, int32, bool) {
	if f.n == 0 {
		return pcall{}, 0, false
	}
	if _, err := io.ReadFull(f.r, f.buf[:]); err != nil {
		if *f.err == nil {
			*f.err = fmt.Errorf("calls beyond the memory limit are missing: reading them back from disk: %w", err)
		}
		f.n = 0
		return pcall{}, 0, false
	}
	f.n--
	c := readPcall(f.buf[:])
	return c, c.lo, true
}

type mergeItem struct {
	c   pcall
	arr int32
	src callSource
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	return pcallCmp(&h[i].c, &h[j].c, h[i].arr, h[j].arr) < 0
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// oneSource is the only callSource: nothing to merge.
type oneSource struct{ src callSource }

func (o oneSource) next() (pcall, bool) {
	c, _, ok := o.src.next()
	return c, ok
}

// mergeCalls merges callSources.
type mergeCalls struct{ h mergeHeap }

func (m *mergeCalls) next() (pcall, bool) {
	if len(m.h) == 0 {
		return pcall{}, false
	}
	top := &m.h[0]
	c := top.c
	if nc, a, ok := top.src.next(); ok {
		top.c, top.arr = nc, a
		if len(m.h) > 1 {
			heap.Fix(&m.h, 0)
		}
	} else {
		heap.Pop(&m.h)
	}
	return c, true
}

// ---- reading waiting calls: the flow tree's view while they wait ----

// waiting returns the thread's waiting calls readers may look at, nil when
// none. Call with t.mu held.
func (th *threadStore) waiting() *pendingThread {
	if p := th.pend; p != nil && !p.settling && p.n > 0 {
		return p
	}
	return nil
}

// pendingID returns the NodeID of waiting call a.
func pendingID(tid uint32, a int32) NodeID { return NodeID{TID: tid, Index: pendingBase + a} }

// pendingAt returns the waiting call an id names, or nil. Call with t.mu
// held.
func (t *Trace) pendingAt(id NodeID) (*pendingThread, int32) {
	if id.Index < pendingBase {
		return nil, 0
	}
	th := t.byTID[id.TID]
	if th == nil {
		return nil, 0
	}
	p := th.waiting()
	a := id.Index - pendingBase
	if p == nil || a >= p.n {
		return nil, 0
	}
	return p, a
}

// children returns the calls waiting call j made, in order of their start.
func (p *pendingThread) children(tid uint32, j int32) []NodeID {
	var out []NodeID
	lo := p.at(j).lo
	for k := j - 1; k >= lo; k = p.at(k).lo - 1 {
		out = append(out, pendingID(tid, k))
	}
	slices.Reverse(out)
	return out
}

func (p *pendingThread) roots(tid uint32) []NodeID {
	out := make([]NodeID, len(p.forest))
	for i, a := range p.forest {
		out[i] = pendingID(tid, a)
	}
	return out
}

func (t *Trace) pendingNode(id NodeID, p *pendingThread, a int32) Node {
	c := p.at(a)
	n := Node{
		ID:          id,
		Frame:       t.frameOrStub(c.frameID()),
		Start:       c.start,
		End:         c.end,
		Line:        c.line,
		ExitLine:    c.exitLine,
		Unwound:     c.frame&pcallUnwound != 0,
		HasChildren: c.lo < a,
		Waiting:     true,
	}
	if c.end == math.MaxInt64 {
		n.End, n.Open = 0, true
	}
	return n
}

// foldPending folds runs of waiting calls of the same function.
func (p *pendingThread) fold(ids []NodeID, out []Group) []Group {
	for _, id := range ids {
		c := p.at(id.Index - pendingBase)
		f := c.frameID()
		if k := len(out) - 1; k >= 0 && out[k].Frame == f && out[k].First.Index >= pendingBase {
			out[k].Count++
			out[k].Total += c.dur()
			continue
		}
		out = append(out, Group{First: id, Count: 1, Frame: f, Total: c.dur()})
	}
	return out
}
