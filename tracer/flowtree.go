package tracer

import (
	"fmt"
	"strconv"
	"strings"
)

// NodeID names a call in the flow tree: the index of its entry record in its
// thread's store.
type NodeID struct {
	TID   uint32
	Index int32
}

// String returns the id as "tid:index", the form ParseNodeID reads.
func (id NodeID) String() string {
	return strconv.FormatUint(uint64(id.TID), 10) + ":" + strconv.FormatInt(int64(id.Index), 10)
}

// ParseNodeID parses the "tid:index" form NodeID.String returns.
func ParseNodeID(s string) (NodeID, error) {
	tid, idx, ok := strings.Cut(s, ":")
	if !ok {
		return NodeID{}, fmt.Errorf("node id %q: want tid:index", s)
	}
	t, err := strconv.ParseUint(tid, 10, 32)
	if err != nil {
		return NodeID{}, fmt.Errorf("node id %q: thread: %w", s, err)
	}
	i, err := strconv.ParseInt(idx, 10, 32)
	if err != nil {
		return NodeID{}, fmt.Errorf("node id %q: index: %w", s, err)
	}
	if i < 0 {
		return NodeID{}, fmt.Errorf("node id %q: negative index", s)
	}
	return NodeID{TID: uint32(t), Index: int32(i)}, nil
}

// Node is one call in the flow tree.
type Node struct {
	ID       NodeID
	Frame    Frame
	Start    int64 // entry timestamp in ns
	End      int64 // exit timestamp in ns, 0 while open or when Truncated
	Line     int32 // current line at entry
	ExitLine int32 // current line at exit, 0 if unknown
	Depth    int   // 0 for a root
	Open     bool  // the call has not returned yet
	// Unwound is set when the call was left by an exception, or closed
	// because a frame below it returned.
	Unwound bool
	// Truncated is set when the call returned after the store was full, so
	// its exit (and End) is unknown.
	Truncated   bool
	HasChildren bool
	// Waiting is set on a call of a thread given in end order (as
	// VizTracer writes calls, each when it returns) while its callers are
	// still being read: it shows under the calls known to contain it, at
	// the thread's top level when none is known yet. Once the thread's
	// calls are all read they are placed in time order, with new ids.
	Waiting bool
}

// Duration returns End − Start, or 0 when the end is not known.
func (n Node) Duration() int64 {
	if n.Open || n.Truncated {
		return 0
	}
	return n.End - n.Start
}

// Group is a run of consecutive sibling calls of the same function, shown
// folded as one "×N" row.
type Group struct {
	First NodeID // the first call of the run
	Count int
	Frame FrameID
	Total int64 // summed Duration of the calls, ns
}

// entryEnd returns the index just past the subtree of entry i (its exit, or
// the end of the store while it is open). Call with t.mu held.
func (th *threadStore) entryEnd(r *record) int32 {
	if r.match >= 0 {
		return r.match
	}
	return th.n
}

// siblings lists the entries in [from, end) that are not nested in another
// entry of that range.
func (th *threadStore) siblings(from, end int32) []NodeID {
	var out []NodeID
	for i := from; i < end; {
		r := th.rec(i)
		if !r.entry() {
			i++
			continue
		}
		out = append(out, NodeID{TID: th.tid, Index: i})
		if r.match <= i {
			break // open or truncated: the rest is inside it
		}
		i = r.match + 1
	}
	return out
}

// entryAt returns thread and record of a node id, or nils when the id does
// not name a stored entry. Call with t.mu held.
func (t *Trace) entryAt(id NodeID) (*threadStore, *record) {
	th := t.byTID[id.TID]
	if th == nil || id.Index < 0 || id.Index >= th.n {
		return nil, nil
	}
	r := th.rec(id.Index)
	if !r.entry() {
		return nil, nil
	}
	return th, r
}

// Roots returns the top-level calls of a thread: those stored, then those
// waiting whose callers are not read yet (see Node.Waiting).
func (t *Trace) Roots(tid uint32) []NodeID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	th := t.byTID[tid]
	if th == nil {
		return nil
	}
	out := th.siblings(0, th.n)
	if p := th.waiting(); p != nil {
		out = append(out, p.roots(tid)...)
	}
	return out
}

// Children returns the calls made directly by a call.
func (t *Trace) Children(id NodeID) []NodeID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p, a := t.pendingAt(id); p != nil {
		return p.children(id.TID, a)
	}
	th, r := t.entryAt(id)
	if r == nil {
		return nil
	}
	return th.siblings(id.Index+1, th.entryEnd(r))
}

// Node returns a call, and whether id names one.
func (t *Trace) Node(id NodeID) (Node, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p, a := t.pendingAt(id); p != nil {
		return t.pendingNode(id, p, a), true
	}
	th, r := t.entryAt(id)
	if r == nil {
		return Node{}, false
	}
	return t.node(th, id, r), true
}

func (t *Trace) node(th *threadStore, id NodeID, r *record) Node {
	n := Node{
		ID:      id,
		Frame:   t.frameOrStub(r.frame),
		Start:   r.ts,
		Line:    r.line,
		Depth:   int(r.depth),
		Unwound: r.kind&flagUnwound != 0,
	}
	switch r.match {
	case matchOpen:
		n.Open = true
	case matchTrunc:
		n.Truncated = true
	default:
		x := th.rec(r.match)
		n.End = x.ts
		if !n.Unwound {
			n.ExitLine = x.line
			n.Unwound = x.kind == Unwind
		}
	}
	if next := id.Index + 1; next < th.entryEnd(r) {
		n.HasChildren = th.rec(next).entry()
	}
	return n
}

// RootsFolded returns a thread's top-level calls with runs of the same
// function folded.
func (t *Trace) RootsFolded(tid uint32) []Group {
	t.mu.RLock()
	defer t.mu.RUnlock()
	th := t.byTID[tid]
	if th == nil {
		return nil
	}
	out := t.fold(th, th.siblings(0, th.n))
	if p := th.waiting(); p != nil {
		out = p.fold(p.roots(tid), out)
	}
	return out
}

// ChildrenFolded returns the calls made directly by a call with runs of the
// same function folded.
func (t *Trace) ChildrenFolded(id NodeID) []Group {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p, a := t.pendingAt(id); p != nil {
		return p.fold(p.children(id.TID, a), nil)
	}
	th, r := t.entryAt(id)
	if r == nil {
		return nil
	}
	return t.fold(th, th.siblings(id.Index+1, th.entryEnd(r)))
}

func (t *Trace) fold(th *threadStore, ids []NodeID) []Group {
	var out []Group
	for _, id := range ids {
		r := th.rec(id.Index)
		var dur int64
		if r.match >= 0 {
			dur = th.rec(r.match).ts - r.ts
		}
		if k := len(out) - 1; k >= 0 && out[k].Frame == r.frame {
			out[k].Count++
			out[k].Total += dur
			continue
		}
		out = append(out, Group{First: id, Count: 1, Frame: r.frame, Total: dur})
	}
	return out
}

// Visible is the result of a filter: the calls that match it and their
// ancestors. A nil *Visible contains every call.
type Visible struct {
	query   string
	bits    map[uint32][]uint64 // per thread, by entry index
	waiting map[uint32][]uint64 // per thread, the waiting calls by arrival (see Node.Waiting)
	matches int
}

// Filter returns the calls whose function name or file contains query
// (case-insensitive), with their ancestors; nil when query is empty. Calls
// stored after the filter was built are not in it.
func (t *Trace) Filter(query string) *Visible {
	if query == "" {
		return nil
	}
	q := strings.ToLower(query)
	t.mu.RLock()
	hit := make([]bool, len(t.frames))
	for id, ok := range t.known {
		if ok {
			f := &t.frames[id]
			hit[id] = strings.Contains(strings.ToLower(f.Func), q) || strings.Contains(strings.ToLower(f.File), q)
		}
	}
	threads := append([]*threadStore(nil), t.threads...)
	t.mu.RUnlock()

	v := &Visible{query: query, bits: make(map[uint32][]uint64, len(threads)), waiting: make(map[uint32][]uint64)}
	type open struct {
		idx     int32
		visible bool
	}
	var stack []open
	buf := make([]span, 4096)
	for _, th := range threads {
		stack = stack[:0]
		var bits []uint64
		mark := func(o open) {
			if !o.visible {
				return
			}
			for int(o.idx>>6) >= len(bits) {
				bits = append(bits, 0)
			}
			bits[o.idx>>6] |= 1 << (o.idx & 63)
			if n := len(stack); n > 0 {
				stack[n-1].visible = true
			}
		}
		t.eachRecord(th, buf, func(i int32, r *record) bool {
			if r.entry() {
				m := int(r.frame) < len(hit) && hit[r.frame]
				if m {
					v.matches++
				}
				stack = append(stack, open{idx: i, visible: m})
				return true
			}
			// an exit closes its entry and everything above it
			for len(stack) > 0 {
				o := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				mark(o)
				if o.idx == r.match {
					break
				}
			}
			return true
		})
		for len(stack) > 0 {
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			mark(o)
		}
		v.bits[th.tid] = bits
		t.filterWaiting(th, hit, v)
	}
	return v
}

// filterWaiting adds th's waiting calls to v: a call is visible when it
// matches or a call inside it does. Its subtree is the arrivals lo…itself,
// so that is when the last match before it is not before lo.
func (t *Trace) filterWaiting(th *threadStore, hit []bool, v *Visible) {
	var bits []uint64
	last := int32(-1) // the latest matching call
	for ci := 0; ; ci++ {
		t.mu.RLock()
		p := th.waiting()
		if p == nil || ci >= len(p.chunks) {
			t.mu.RUnlock()
			break
		}
		for k, c := range p.chunks[ci] {
			a := int32(ci<<pendChunkBits + k)
			f := c.frameID()
			m := int(f) < len(hit) && hit[f]
			if m || last >= c.lo {
				for int(a>>6) >= len(bits) {
					bits = append(bits, 0)
				}
				bits[a>>6] |= 1 << (a & 63)
			}
			if m {
				v.matches++
				last = a
			}
		}
		t.mu.RUnlock()
	}
	if bits != nil {
		v.waiting[th.tid] = bits
	}
}

// Contains reports whether a call is visible under the filter.
func (v *Visible) Contains(id NodeID) bool {
	if v == nil {
		return true
	}
	bits := v.bits[id.TID]
	if id.Index >= pendingBase {
		bits, id.Index = v.waiting[id.TID], id.Index-pendingBase
	}
	w := int(id.Index >> 6)
	return id.Index >= 0 && w < len(bits) && bits[w]&(1<<(id.Index&63)) != 0
}

// Matches returns how many calls match the query themselves (0 for nil).
func (v *Visible) Matches() int {
	if v == nil {
		return 0
	}
	return v.matches
}

// Query returns the filter's query ("" for nil).
func (v *Visible) Query() string {
	if v == nil {
		return ""
	}
	return v.query
}

// span is a copied record; for an entry, exit is its closing record when it
// has one (exitOK).
type span struct {
	rec    record
	exit   record
	exitOK bool
}

// readSpans copies up to len(buf) records of th from index from, resolving
// entries' exits when resolve is set, and returns how many it copied and the
// thread's latest timestamp. The lock is held only for the copy, so callers
// can do slow work (I/O, callbacks) between blocks.
func (t *Trace) readSpans(th *threadStore, from int32, buf []span, resolve bool) (int, int64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for i := from; i < th.n && n < len(buf); i++ {
		s := &buf[n]
		s.rec = *th.rec(i)
		s.exitOK = false
		if resolve && s.rec.match >= 0 && s.rec.entry() {
			s.exit, s.exitOK = *th.rec(s.rec.match), true
		}
		n++
	}
	return n, th.lastTS
}

// Walk calls fn for every stored event, thread by thread in order of first
// appearance and in time order within a thread, with the event's stack depth
// (an exit has its entry's depth), until fn returns false. fn may call the
// trace's other methods.
func (t *Trace) Walk(fn func(tid uint32, e Event, depth int) bool) {
	t.mu.RLock()
	threads := append([]*threadStore(nil), t.threads...)
	t.mu.RUnlock()
	buf := make([]span, 1024)
	for _, th := range threads {
		more := t.eachRecord(th, buf, func(_ int32, r *record) bool {
			return fn(th.tid, Event{TS: r.ts, Frame: r.frame, Line: r.line, Kind: r.kind & kindMask}, int(r.depth))
		})
		if !more {
			return
		}
	}
}

// eachRecord calls fn with every stored record of th and its index, reading
// them in blocks of len(buf) under the read lock (so fn may call the trace's
// methods), until fn returns false; it reports whether fn always returned
// true.
func (t *Trace) eachRecord(th *threadStore, buf []span, fn func(i int32, r *record) bool) bool {
	for from := int32(0); ; {
		n, _ := t.readSpans(th, from, buf, false)
		if n == 0 {
			return true
		}
		for k := range buf[:n] {
			if !fn(from+int32(k), &buf[k].rec) {
				return false
			}
		}
		from += int32(n)
	}
}
