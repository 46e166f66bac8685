package tracer

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxSynthCalls bounds the calls ReadCallgrind makes up from a profile's
// call counts; a profile claiming more is laid out with its counts scaled
// down, and says so.
var MaxSynthCalls = 5_000_000

// cgFunc is a function of a callgrind profile.
type cgFunc struct {
	frame FrameID
	self  int64 // self cost
	in    int64 // calls of it from profiled callers
	out   []int // indexes into edges, in file order
	// layout state
	left     int64 // invocations still to lay out
	leftSelf int64 // self cost still to hand out
	order    int
}

type cgEdge struct {
	from, to  int
	calls     int64
	cost      int64 // inclusive cost of the calls
	leftCalls int64
}

// callgrindReader holds the state of one ReadCallgrind.
type callgrindReader struct {
	ft     frameTable
	funcs  []cgFunc
	byKey  map[[2]string]int
	edges  []cgEdge
	byEdge map[[2]int]int
	names  map[string]map[string]string // "fl", "fn", "ob": compressed id → name
	line   int
	offset int64
	events []string
}

// ReadCallgrind reads a callgrind profile (as valgrind --tool=callgrind
// writes it, with or without name compression: fl=, fi=, fe=, fn=, cfi=,
// cfl=, cfn=, calls= and cost lines with relative positions) into rec.
// The first event type is read as ns. A profile has no timeline, so one is
// made up for thread 1: every root function is called once, a function's
// calls of a callee (the calls= counts) are spread over its invocations,
// each invocation runs its callees one after the other and then its own
// share of the function's self cost. Per-function self cost and per-edge
// call counts are kept exactly (up to MaxSynthCalls calls). It returns the
// number of calls given to rec. On a fault the error is a *FormatError with
// the line number; nothing is given to rec then.
func ReadCallgrind(r io.Reader, rec Recorder) (int, error) {
	cr := &callgrindReader{
		byKey:  make(map[[2]string]int),
		byEdge: make(map[[2]int]int),
		names:  map[string]map[string]string{"fl": {}, "fn": {}, "ob": {}},
	}
	if err := cr.parse(r); err != nil {
		return 0, err
	}
	if len(cr.funcs) == 0 {
		return 0, &FormatError{Format: "callgrind", Event: -1, Offset: cr.offset, Err: errors.New("no functions (no fn= line)")}
	}
	return cr.layout(rec), nil
}

func (cr *callgrindReader) fail(err error) error {
	return &FormatError{Format: "callgrind", Event: -1, Offset: cr.offset, Err: fmt.Errorf("line %d: %w", cr.line, err)}
}

// name resolves a possibly compressed name "(id) name" or "(id)".
func (cr *callgrindReader) name(kind, v string) (string, error) {
	if !strings.HasPrefix(v, "(") {
		return v, nil
	}
	end := strings.IndexByte(v, ')')
	if end < 0 {
		return "", fmt.Errorf("bad compressed name %q", v)
	}
	id := v[1:end]
	rest := strings.TrimSpace(v[end+1:])
	if rest != "" {
		cr.names[kind][id] = rest
		return rest, nil
	}
	n, ok := cr.names[kind][id]
	if !ok {
		return "", fmt.Errorf("compressed name (%s) used before it was defined", id)
	}
	return n, nil
}

func (cr *callgrindReader) fn(file, name string, line int) int {
	if file == "???" {
		file = ""
	}
	k := [2]string{file, name}
	if i, ok := cr.byKey[k]; ok {
		if line > 0 {
			f := cr.ft.frame(cr.funcs[i].frame)
			if f.Line == 0 || line < f.Line {
				f.Line = line
			}
		}
		return i
	}
	i := len(cr.funcs)
	cr.byKey[k] = i
	id := cr.ft.intern(Frame{Func: name, File: file, Line: max(line, 0)})
	cr.funcs = append(cr.funcs, cgFunc{frame: id, order: i})
	return i
}

func (cr *callgrindReader) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var file, cfile string
	cur := -1
	callee := -1
	var callCount int64
	inCall := false
	var lastPos int64
	npos := 1
	for sc.Scan() {
		cr.line++
		raw := sc.Bytes()
		cr.offset += int64(len(raw)) + 1
		l := strings.TrimSpace(string(raw))
		if l == "" || l[0] == '#' {
			continue
		}
		if key, val, ok := strings.Cut(l, "="); ok && isCallgrindKey(key) {
			val = strings.TrimSpace(val)
			var err error
			switch key {
			case "fl":
				file, err = cr.name("fl", val)
				cfile = ""
			case "fi", "fe":
				_, err = cr.name("fl", val) // inlined code: cost stays with the function
			case "fn":
				var n string
				if n, err = cr.name("fn", val); err == nil {
					cur = cr.fn(file, n, 0)
				}
			case "cfl", "cfi":
				cfile, err = cr.name("fl", val)
			case "cfn":
				var n string
				if n, err = cr.name("fn", val); err == nil {
					f := cfile
					if f == "" {
						f = file
					}
					callee = cr.fn(f, n, 0)
				}
			case "ob", "cob":
				_, err = cr.name("ob", val)
			case "calls":
				if cur < 0 || callee < 0 {
					return cr.fail(errors.New("calls= without fn= and cfn= before it"))
				}
				fs := strings.Fields(val)
				if len(fs) == 0 {
					return cr.fail(errors.New("calls= without a count"))
				}
				callCount, err = strconv.ParseInt(fs[0], 10, 64)
				if err == nil && callCount < 0 {
					err = fmt.Errorf("negative call count %d", callCount)
				}
				inCall = true
			case "jump", "jcnd":
			}
			if err != nil {
				return cr.fail(err)
			}
			continue
		}
		if k, v, ok := strings.Cut(l, ":"); ok && !startsCostLine(l) {
			if strings.TrimSpace(k) == "events" {
				cr.events = strings.Fields(v)
			}
			if strings.TrimSpace(k) == "positions" {
				npos = max(1, len(strings.Fields(v)))
			}
			continue
		}
		// a cost line: positions then costs
		fs := strings.Fields(l)
		if len(fs) < npos {
			return cr.fail(fmt.Errorf("cost line %q has fewer than %d positions", l, npos))
		}
		if cur < 0 {
			return cr.fail(errors.New("cost line before any fn="))
		}
		pos, err := cr.position(fs[0], lastPos)
		if err != nil {
			return cr.fail(err)
		}
		lastPos = pos
		var cost int64
		if len(fs) > npos {
			c, err := parseCost(fs[npos])
			if err != nil {
				return cr.fail(err)
			}
			cost = c
		}
		if inCall {
			inCall = false
			e := cr.edge(cur, callee)
			e.calls += callCount
			e.cost += cost
			cr.funcs[callee].in += callCount
			callee, cfile = -1, ""
			continue
		}
		f := &cr.funcs[cur]
		f.self += cost
		if pos > 0 && pos < math.MaxInt32 {
			fr := cr.ft.frame(f.frame)
			if fr.Line == 0 || int(pos) < fr.Line {
				fr.Line = int(pos)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return cr.fail(err)
	}
	if inCall {
		return cr.fail(errors.New("calls= line without the cost line after it"))
	}
	return nil
}

func isCallgrindKey(k string) bool {
	switch k {
	case "fl", "fi", "fe", "fn", "cfl", "cfi", "cfn", "ob", "cob", "calls", "jump", "jcnd":
		return true
	}
	return false
}

// startsCostLine reports whether l begins like a cost line (a number, a
// relative position or "*").
func startsCostLine(l string) bool {
	c := l[0]
	return c >= '0' && c <= '9' || c == '+' || c == '-' || c == '*'
}

func (cr *callgrindReader) position(s string, last int64) (int64, error) {
	switch {
	case s == "*":
		return last, nil
	case strings.HasPrefix(s, "+"), strings.HasPrefix(s, "-"):
		d, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("bad position %q", s)
		}
		return last + d, nil
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("bad position %q", s)
	}
	return v, nil
}

func parseCost(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad cost %q", s)
	}
	return v, nil
}

func (cr *callgrindReader) edge(from, to int) *cgEdge {
	k := [2]int{from, to}
	i, ok := cr.byEdge[k]
	if !ok {
		i = len(cr.edges)
		cr.byEdge[k] = i
		cr.edges = append(cr.edges, cgEdge{from: from, to: to})
		cr.funcs[from].out = append(cr.funcs[from].out, i)
	}
	return &cr.edges[i]
}

// layout makes up a timeline from the profile and gives it to rec.
func (cr *callgrindReader) layout(rec Recorder) int {
	var total int64
	for i := range cr.edges {
		total += cr.edges[i].calls
	}
	scale := 1.0
	if total > int64(MaxSynthCalls) {
		scale = float64(MaxSynthCalls) / float64(total)
	}
	for i := range cr.edges {
		e := &cr.edges[i]
		e.leftCalls = e.calls
		if scale < 1 {
			e.leftCalls = int64(math.Ceil(float64(e.calls) * scale))
		}
		cr.funcs[e.to].left += e.leftCalls
	}
	var roots []int
	for i := range cr.funcs {
		f := &cr.funcs[i]
		f.leftSelf = f.self
		if f.in == 0 {
			f.left = 1
			roots = append(roots, i)
		}
	}
	rec.Thread(Thread{TID: 1, Name: "callgrind"})
	b := eventBatch{rec: rec, ft: &cr.ft, tid: 1}
	var t int64
	calls := 0
	type frame struct {
		fn   int
		next int // next out edge to lay out
		n    int64
	}
	var stack []frame
	// WriteCallgrind writes the calls made at the top of a thread as calls
	// from "(root)": they are roots again, and (root) is not a call
	virtual := -1
	if i, ok := cr.byKey[[2]string{"", callgrindRoot}]; ok && cr.funcs[i].in == 0 {
		virtual = i
	}
	run := func(root int) {
		if root != virtual {
			calls++
			b.add(Event{TS: t, Frame: cr.funcs[root].frame, Kind: Call})
		}
		stack = append(stack[:0], frame{fn: root})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			f := &cr.funcs[top.fn]
			if top.next < len(f.out) {
				e := &cr.edges[f.out[top.next]]
				if top.n == 0 {
					// this invocation's share of the edge's calls
					inv := max(f.left, 1)
					top.n = (e.leftCalls + inv - 1) / inv
				}
				if top.n == 0 || e.leftCalls == 0 {
					top.next, top.n = top.next+1, 0
					continue
				}
				top.n--
				e.leftCalls--
				if top.n == 0 {
					top.next++
				}
				calls++
				b.add(Event{TS: t, Frame: cr.funcs[e.to].frame, Kind: Call})
				stack = append(stack, frame{fn: e.to})
				continue
			}
			// callees done: this invocation's self cost, then return
			inv := max(f.left, 1)
			self := f.leftSelf / inv
			f.leftSelf -= self
			f.left = max(f.left-1, 0)
			t += self
			if top.fn != virtual {
				b.add(Event{TS: t, Frame: f.frame, Kind: Return})
			}
			stack = stack[:len(stack)-1]
		}
	}
	for _, r := range roots {
		run(r)
	}
	// functions only reached through cycles with no root
	order := make([]int, len(cr.funcs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(cr.funcs[b].self, cr.funcs[a].self) })
	for _, i := range order {
		for cr.funcs[i].left > 0 && calls < MaxSynthCalls*2 {
			run(i)
		}
	}
	b.flush()
	cr.ft.announce(rec)
	return calls
}

// callgrindRoot names the caller of the calls made at the top of a thread
// in the callgrind files WriteCallgrind writes.
const callgrindRoot = "(root)"

// WriteCallgrind writes t's callgraph over all threads as a callgrind
// profile KCachegrind opens: per function its self time in ns at its first
// line, per caller → callee edge its calls and the time spent under it.
// Names are compressed.
func WriteCallgrind(w io.Writer, t *Trace) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	g := t.Callgraph()
	info := t.Info()
	fmt.Fprintf(bw, "# callgrind format\nversion: 1\ncreator: flowscape\n")
	if len(info.Command) > 0 {
		fmt.Fprintf(bw, "cmd: %s\n", oneLine(joinCommand(info.Command)))
	}
	if info.PID != 0 {
		fmt.Fprintf(bw, "pid: %d\n", info.PID)
	}
	var total int64
	for _, n := range g.Nodes {
		total += n.Exclusive
	}
	fmt.Fprintf(bw, "positions: line\nevents: ns\nsummary: %d\n", total)
	nodes := slices.Clone(g.Nodes)
	slices.SortFunc(nodes, func(a, b GraphNode) int { return cmp.Compare(a.ID, b.ID) })
	out := make(map[FrameID][]GraphEdge)
	for _, e := range g.Edges {
		out[e.From] = append(out[e.From], e)
	}
	files := map[string]int{}
	fns := map[FrameID]bool{}
	fileRef := func(f string) string {
		f = oneLine(f)
		if f == "" {
			f = "???"
		}
		if id, ok := files[f]; ok {
			return "(" + strconv.Itoa(id) + ")"
		}
		id := len(files) + 1
		files[f] = id
		return "(" + strconv.Itoa(id) + ") " + f
	}
	fnRef := func(fr Frame) string {
		if fns[fr.ID] {
			return "(" + strconv.Itoa(int(fr.ID)) + ")"
		}
		fns[fr.ID] = true
		name := strings.TrimSpace(oneLine(fr.Func))
		if name == "" {
			name = "???"
		}
		return "(" + strconv.Itoa(int(fr.ID)) + ") " + name
	}
	frames := make(map[FrameID]Frame, len(nodes))
	for _, n := range nodes {
		frames[n.ID] = n.Frame
	}
	// calls made at the top of a thread: from (root), so their counts stay
	called := make(map[FrameID]int64)
	for _, e := range g.Edges {
		called[e.To] += e.Calls
	}
	rootID := FrameID(0)
	for _, n := range nodes {
		rootID = max(rootID, n.ID+1)
	}
	var rootEdges []GraphEdge
	for _, n := range nodes {
		if top := n.Calls - called[n.ID]; top > 0 {
			rootEdges = append(rootEdges, GraphEdge{From: rootID, To: n.ID, Calls: top, Time: n.Inclusive * top / n.Calls})
		}
	}
	if len(rootEdges) > 0 {
		nodes = append([]GraphNode{{ID: rootID, Frame: Frame{ID: rootID, Func: callgrindRoot}}}, nodes...)
		out[rootID] = rootEdges
	}
	for _, n := range nodes {
		fmt.Fprintf(bw, "\nfl=%s\nfn=%s\n%d %d\n", fileRef(n.Frame.File), fnRef(n.Frame), n.Frame.Line, n.Exclusive)
		es := out[n.ID]
		slices.SortFunc(es, func(a, b GraphEdge) int { return cmp.Compare(a.To, b.To) })
		for _, e := range es {
			to := frames[e.To]
			if to.File != n.Frame.File {
				fmt.Fprintf(bw, "cfl=%s\n", fileRef(to.File))
			}
			fmt.Fprintf(bw, "cfn=%s\ncalls=%d %d\n%d %d\n", fnRef(to), e.Calls, to.Line, n.Frame.Line, e.Time)
		}
	}
	fmt.Fprintf(bw, "\ntotals: %d\n", total)
	return bw.Flush()
}

// oneLine replaces line breaks, which line-based formats cannot carry.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}
