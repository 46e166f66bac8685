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

// splitCollapsed splits a collapsed-stack line "a;b;c 42" into its frames
// and count.
func splitCollapsed(l string) ([]string, int64, bool) {
	sp := strings.LastIndexAny(l, " \t")
	if sp <= 0 {
		return nil, 0, false
	}
	num := l[sp+1:]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(num, 64)
		if ferr != nil || f < 0 || math.IsInf(f, 0) || f > 1<<62 {
			return nil, 0, false
		}
		n = int64(math.Round(f))
	}
	if n < 0 {
		return nil, 0, false
	}
	stack := strings.TrimRight(l[:sp], " \t")
	if stack == "" {
		return nil, 0, false
	}
	return strings.Split(stack, ";"), n, true
}

// ReadCollapsed reads collapsed stacks, one "root;caller;callee COUNT" per
// line as flamegraph.pl reads them, into rec as thread 1. Counts are read
// as ns: each line lasts its count, and a line keeps the calls it shares
// with the line before (as a flame graph's time order shows them). Frames
// named "func (file:line)" get their file and line back. It returns the
// number of calls given to rec. On a fault the error is a *FormatError with
// the line number, and the lines before it have been given to rec.
func ReadCollapsed(r io.Reader, rec Recorder) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var ft frameTable
	rec.Thread(Thread{TID: 1, Name: "stacks"})
	b := eventBatch{rec: rec, ft: &ft, tid: 1}
	tl := stackTimeline{b: &b}
	byName := make(map[string]FrameID)
	var ids []FrameID
	var offset int64
	line, samples := 0, 0
	finish := func() {
		tl.end()
		b.flush()
		ft.announce(rec)
	}
	for sc.Scan() {
		line++
		l := strings.TrimRight(sc.Text(), "\r")
		offset += int64(len(sc.Bytes())) + 1
		if strings.TrimSpace(l) == "" {
			continue
		}
		names, n, ok := splitCollapsed(l)
		if !ok {
			finish()
			short := l
			if len(short) > 80 {
				short = short[:80] + "…"
			}
			return tl.calls, &FormatError{Format: "collapsed stacks", Event: -1, Offset: offset,
				Err: fmt.Errorf("line %d: want \"frame;frame;... COUNT\", got %q", line, short)}
		}
		ids = ids[:0]
		for _, name := range names {
			id, ok := byName[name]
			if !ok {
				f := Frame{Func: name}
				if fn, file, ln, ok := parseLabel(name); ok {
					f = Frame{Func: fn, File: file, Line: ln}
				}
				id = ft.intern(f)
				byName[name] = id
			}
			ids = append(ids, id)
		}
		tl.sample(ids, n)
		samples++
	}
	err := sc.Err()
	finish()
	if err != nil {
		return tl.calls, &FormatError{Format: "collapsed stacks", Event: -1, Offset: offset, Err: fmt.Errorf("line %d: %w", line+1, err)}
	}
	if samples == 0 {
		return 0, &FormatError{Format: "collapsed stacks", Event: -1, Offset: offset, Err: errors.New("no stacks")}
	}
	return tl.calls, nil
}

// WriteCollapsed writes the stored calls of t as collapsed stacks for
// flamegraph.pl: one line per distinct stack (over all threads), frames
// named by Frame.Label ("func (file:line)", or the function alone for C
// functions and those without a file) root first, with the ns spent in
// the innermost frame itself, sorted by stack. Calls still open count up
// to their thread's latest event.
func WriteCollapsed(w io.Writer, t *Trace) error {
	fc := frameCache{t: t}
	self := make(map[string]int64)
	var names []string
	name := func(id FrameID) string {
		if int(id) < len(names) && names[id] != "" {
			return names[id]
		}
		n := fc.get(id).Label()
		n = strings.NewReplacer(";", ":", "\n", " ", "\r", " ").Replace(n)
		if strings.TrimSpace(n) == "" {
			n = "?"
		}
		for int(id) >= len(names) {
			names = append(names, "")
		}
		names[id] = n
		return n
	}
	type open struct {
		key      string
		start    int64
		end      int64
		children int64
	}
	for _, th := range t.storedThreads() {
		var stack []open
		pop := func(d int) {
			for len(stack) > d {
				o := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				dur := o.end - o.start
				self[o.key] += max(dur-o.children, 0)
				if len(stack) > 0 {
					stack[len(stack)-1].children += dur
				}
			}
		}
		err := t.spanWalk(th, func(r *record, end int64, path []FrameID) error {
			pop(len(path) - 1)
			key := name(r.frame)
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				key = parent.key + ";" + key
				end = min(end, parent.end)
			}
			stack = append(stack, open{key: key, start: r.ts, end: max(end, r.ts)})
			return nil
		})
		if err != nil {
			return err
		}
		pop(0)
	}
	keys := make([]string, 0, len(self))
	for k := range self {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, k := range keys {
		bw.WriteString(k)
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(self[k], 10))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
