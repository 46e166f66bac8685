// Package syscalls is Flowscape's syscall aggregate model: per-interval
// counts of syscalls per process and per syscall, as sources report them,
// turned into deltas, rates, short histories for sparklines and top-N lists
// sorted by value. Memory is bounded: processes that stay small or go away
// are folded into one "other" row, so the grand totals stay exact.
package syscalls

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Sample is the number of calls of one syscall made by one process during
// one interval.
type Sample struct {
	PID     int
	Comm    string // process name as the kernel reports it (may contain spaces and commas)
	Syscall string // syscall name, e.g. "read"; a family for partial sources ("read-family")
	Count   uint64
}

// ProcStat is what a partial source knows about a process beside syscall
// counts (the /proc fallback): deltas over the interval.
type ProcStat struct {
	PID         int
	Comm        string
	CtxSwitches uint64        // voluntary + involuntary context switches
	CPU         time.Duration // user + system CPU time
}

// Interval is what a source reports once per interval.
type Interval struct {
	// End is when the interval ended (CLOCK_MONOTONIC ns where the source
	// has it, else any monotonic clock); Length is how long it lasted.
	End    time.Duration
	Length time.Duration
	// Samples are the counts of the interval (deltas, not running totals).
	Samples []Sample
	// Stats are extra per-process figures from partial sources.
	Stats []ProcStat
}

// Sink receives intervals from a source.
type Sink interface {
	Interval(iv Interval)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(iv Interval)

// Interval calls f.
func (f SinkFunc) Interval(iv Interval) { f(iv) }

// By says what a row of a snapshot stands for.
type By int

// Ways to group counts.
const (
	ByProcess By = iota
	BySyscall
)

// String is "process" or "syscall".
func (b By) String() string {
	if b == BySyscall {
		return "syscall"
	}
	return "process"
}

// ParseBy reads "process" or "syscall".
func ParseBy(s string) (By, error) {
	switch s {
	case "process", "proc", "pid":
		return ByProcess, nil
	case "syscall", "sys":
		return BySyscall, nil
	}
	return 0, fmt.Errorf("group by %q: want process or syscall", s)
}

// OtherPID is the PID of the "other" row: small and gone processes folded
// together.
const OtherPID = -1

// OtherName is the name of the "other" row.
const OtherName = "other"

// Options bound the model.
type Options struct {
	// History is how many intervals of rates are kept for sparklines.
	History int
	// MaxProcs is how many processes are kept apart; past it the smallest
	// (by recent calls) are folded into "other".
	MaxProcs int
	// Linger is how many intervals a process without calls is kept before
	// it is folded into "other" (it shows as gone meanwhile).
	Linger int
}

// DefaultOptions are the model's defaults.
var DefaultOptions = Options{History: 60, MaxProcs: 200, Linger: 3}

// counter is a count with its history of rates.
type counter struct {
	total uint64    // calls since the model started
	last  uint64    // calls in the last interval
	rate  float64   // calls per second in the last interval
	hist  []float64 // rates, oldest first, at most Options.History
}

func (c *counter) push(n uint64, secs float64, max int) {
	c.total += n
	c.last = n
	c.rate = 0
	if secs > 0 {
		c.rate = float64(n) / secs
	}
	c.hist = append(c.hist, c.rate)
	if len(c.hist) > max {
		c.hist = slices.Delete(c.hist, 0, len(c.hist)-max)
	}
}

// proc is one process's counts.
type proc struct {
	pid      int
	comm     string
	all      counter
	sys      map[string]*counter
	idle     int // intervals in a row without calls
	stat     ProcStat
	hasStat  bool
	recent   uint64 // calls over the last few intervals, for folding
	recentIv []uint64
}

// Model aggregates intervals. It is safe for one writer and concurrent
// readers.
type Model struct {
	mu        sync.Mutex
	opt       Options
	procs     map[int]*proc
	other     *proc
	sys       map[string]*counter // per syscall over all processes
	all       counter             // every call
	intervals int
	elapsed   time.Duration
	lastEnd   time.Duration
	folded    int // processes folded into other so far
}

// New returns an empty model; zero fields of opt take DefaultOptions'.
func New(opt Options) *Model {
	if opt.History <= 0 {
		opt.History = DefaultOptions.History
	}
	if opt.MaxProcs <= 0 {
		opt.MaxProcs = DefaultOptions.MaxProcs
	}
	if opt.Linger <= 0 {
		opt.Linger = DefaultOptions.Linger
	}
	return &Model{
		opt:   opt,
		procs: map[int]*proc{},
		other: newProc(OtherPID, OtherName),
		sys:   map[string]*counter{},
	}
}

func newProc(pid int, comm string) *proc {
	return &proc{pid: pid, comm: comm, sys: map[string]*counter{}}
}

// recentWindow is how many intervals "recent" covers when choosing which
// processes to fold.
const recentWindow = 5

// Interval adds one interval's counts (it implements Sink).
func (m *Model) Interval(iv Interval) {
	m.mu.Lock()
	defer m.mu.Unlock()
	secs := iv.Length.Seconds()
	m.intervals++
	m.elapsed += iv.Length
	m.lastEnd = iv.End

	// Sum the samples per process and syscall (a source may repeat a key).
	type key struct {
		pid int
		sys string
	}
	perSys := map[key]uint64{}
	perProc := map[int]uint64{}
	sysAll := map[string]uint64{}
	// A process that exec'd during the interval shows under two names: it
	// takes the one it made more calls under.
	type pc struct {
		pid  int
		comm string
	}
	byName := map[pc]uint64{}
	for _, s := range iv.Samples {
		if s.Count > 0 {
			byName[pc{s.PID, s.Comm}] += s.Count
		}
	}
	commOf := map[int]string{}
	for k, n := range byName {
		if old, ok := commOf[k.pid]; !ok || n > byName[pc{k.pid, old}] || (n == byName[pc{k.pid, old}] && k.comm > old) {
			commOf[k.pid] = k.comm
		}
	}
	for pid, comm := range commOf {
		p := m.procs[pid]
		if p != nil && p.comm != comm {
			if p.idle > 0 {
				// Idle, then back under another name: the pid was
				// reused; the old process's counts go to "other".
				m.foldLocked(p)
				p = nil
			} else {
				p.comm = comm // it exec'd another program
			}
		}
		if p == nil {
			m.procs[pid] = newProc(pid, comm)
		}
	}
	var total uint64
	for _, s := range iv.Samples {
		if s.Count == 0 {
			continue
		}
		perSys[key{s.PID, s.Syscall}] += s.Count
		perProc[s.PID] += s.Count
		sysAll[s.Syscall] += s.Count
		total += s.Count
	}
	for _, st := range iv.Stats {
		p := m.procs[st.PID]
		if p == nil {
			p = newProc(st.PID, st.Comm)
			m.procs[st.PID] = p
		}
		p.stat, p.hasStat = st, true
	}

	// Per-process and per-syscall counters: every known one gets this
	// interval's value, zero when it made no calls, so histories line up.
	for pid, p := range m.procs {
		n := perProc[pid]
		p.all.push(n, secs, m.opt.History)
		p.recentIv = append(p.recentIv, n)
		if len(p.recentIv) > recentWindow {
			p.recentIv = p.recentIv[1:]
		}
		p.recent = 0
		for _, r := range p.recentIv {
			p.recent += r
		}
		if n == 0 {
			p.idle++
		} else {
			p.idle = 0
		}
		for name, c := range p.sys {
			if _, ok := perSys[key{pid, name}]; !ok {
				c.push(0, secs, m.opt.History)
			}
		}
	}
	for k, n := range perSys {
		p := m.procs[k.pid]
		c := p.sys[k.sys]
		if c == nil {
			c = &counter{}
			p.sys[k.sys] = c
		}
		c.push(n, secs, m.opt.History)
	}
	for name, c := range m.sys {
		if _, ok := sysAll[name]; !ok {
			c.push(0, secs, m.opt.History)
		}
	}
	for name, n := range sysAll {
		c := m.sys[name]
		if c == nil {
			c = &counter{}
			m.sys[name] = c
		}
		c.push(n, secs, m.opt.History)
	}
	m.all.push(total, secs, m.opt.History)

	// "other" gets this interval's calls of processes folded earlier: none,
	// its counters only advance so that its history lines up.
	m.other.all.push(0, secs, m.opt.History)
	for _, c := range m.other.sys {
		c.push(0, secs, m.opt.History)
	}
	m.boundLocked()
}

// boundLocked folds processes gone for longer than Linger, then the
// smallest ones while there are more than MaxProcs.
func (m *Model) boundLocked() {
	for _, p := range m.procs {
		if p.idle > m.opt.Linger {
			m.foldLocked(p)
		}
	}
	if len(m.procs) <= m.opt.MaxProcs {
		return
	}
	ps := make([]*proc, 0, len(m.procs))
	for _, p := range m.procs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *proc) int {
		if c := cmp.Compare(a.recent, b.recent); c != 0 {
			return c
		}
		if c := cmp.Compare(a.all.total, b.all.total); c != 0 {
			return c
		}
		return cmp.Compare(b.pid, a.pid)
	})
	for _, p := range ps[:len(ps)-m.opt.MaxProcs] {
		m.foldLocked(p)
	}
}

// foldLocked moves p's counts into "other" and forgets p. The last
// interval's calls of p are added to other's last interval, so rates stay
// right for the interval in which it was folded.
func (m *Model) foldLocked(p *proc) {
	o := m.other
	o.all.total += p.all.total
	o.all.last += p.all.last
	o.all.rate += p.all.rate
	if n := len(o.all.hist); n > 0 {
		o.all.hist[n-1] += p.all.rate
	}
	for name, c := range p.sys {
		oc := o.sys[name]
		if oc == nil {
			oc = &counter{hist: make([]float64, len(o.all.hist))}
			o.sys[name] = oc
		}
		oc.total += c.total
		oc.last += c.last
		oc.rate += c.rate
		if n := len(oc.hist); n > 0 {
			oc.hist[n-1] += c.rate
		}
	}
	delete(m.procs, p.pid)
	m.folded++
}

// Row is one line of a snapshot: a process or a syscall.
type Row struct {
	// Key identifies the row across snapshots: "pid:comm", "sys:name" or
	// "other".
	Key     string
	PID     int    // the process (ByProcess); OtherPID for "other"
	Comm    string // the process name (ByProcess)
	Syscall string // the syscall name (BySyscall)
	Last    uint64 // calls in the last interval
	Rate    float64
	Total   uint64    // calls since the model started
	History []float64 // rates per interval, oldest first
	// Idle is how many intervals in a row the process made no calls
	// (it may have exited).
	Idle int
	// Stat are the partial source's extra figures, when it has them.
	Stat    ProcStat
	HasStat bool
}

// Label is the row's name for display: "comm (pid)", the syscall name or
// "other".
func (r Row) Label() string {
	switch {
	case r.Syscall != "":
		return r.Syscall
	case r.PID == OtherPID:
		return OtherName
	default:
		return fmt.Sprintf("%s (%d)", r.Comm, r.PID)
	}
}

// Snapshot is a copy of the model's state, safe to keep.
type Snapshot struct {
	By        By
	Rows      []Row // sorted by rate, then total, descending; "other" last
	All       Row   // every call
	Intervals int
	Elapsed   time.Duration
	End       time.Duration // end of the last interval
	Procs     int           // processes kept apart now
	Folded    int           // processes folded into "other" so far
}

// Top returns the model's rows grouped by, sorted by the last interval's
// rate (then total calls) descending, at most n of them (n ≤ 0: all) with
// the rest summed into an "other" row.
func (m *Model) Top(by By, n int) Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{By: by, Intervals: m.intervals, Elapsed: m.elapsed, End: m.lastEnd,
		Procs: len(m.procs), Folded: m.folded}
	s.All = rowOf(&m.all, Row{Key: "all"})
	var rows []Row
	var other *Row
	if by == BySyscall {
		for name, c := range m.sys {
			rows = append(rows, rowOf(c, Row{Key: "sys:" + name, Syscall: name}))
		}
	} else {
		for _, p := range m.procs {
			rows = append(rows, procRow(p))
		}
		if m.other.all.total > 0 {
			r := procRow(m.other)
			other = &r
		}
	}
	SortRows(rows)
	if n > 0 && len(rows) > n {
		rest := rows[n:]
		rows = rows[:n]
		if other == nil {
			other = &Row{Key: OtherName, PID: OtherPID, Comm: OtherName}
			if by == BySyscall {
				other.PID = 0
				other.Comm = ""
				other.Syscall = OtherName
			}
		}
		for _, r := range rest {
			addRow(other, r)
		}
	}
	if other != nil {
		rows = append(rows, *other)
	}
	s.Rows = rows
	return s
}

func addRow(dst *Row, r Row) {
	dst.Last += r.Last
	dst.Rate += r.Rate
	dst.Total += r.Total
	if len(dst.History) < len(r.History) {
		dst.History = append(make([]float64, len(r.History)-len(dst.History)), dst.History...)
	}
	off := len(dst.History) - len(r.History)
	for i, v := range r.History {
		dst.History[off+i] += v
	}
}

func rowOf(c *counter, r Row) Row {
	r.Last, r.Rate, r.Total = c.last, c.rate, c.total
	r.History = slices.Clone(c.hist)
	return r
}

func procRow(p *proc) Row {
	key := fmt.Sprintf("%d:%s", p.pid, p.comm)
	if p.pid == OtherPID {
		key = OtherName
	}
	r := rowOf(&p.all, Row{Key: key, PID: p.pid, Comm: p.comm, Idle: p.idle})
	r.Stat, r.HasStat = p.stat, p.hasStat
	return r
}

// SortRows sorts rows by rate, then total, descending, then by label.
func SortRows(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := cmp.Compare(b.Rate, a.Rate); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		if c := cmp.Compare(a.PID, b.PID); c != 0 {
			return c
		}
		return cmp.Compare(a.Label(), b.Label())
	})
}

// Breakdown returns the per-syscall rows of one process (OtherPID for
// "other"), sorted like Top; false when the model does not know the pid.
func (m *Model) Breakdown(pid int) ([]Row, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.procs[pid]
	if pid == OtherPID {
		p = m.other
	}
	if p == nil {
		return nil, false
	}
	rows := make([]Row, 0, len(p.sys))
	for name, c := range p.sys {
		rows = append(rows, rowOf(c, Row{Key: "sys:" + name, PID: p.pid, Comm: p.comm, Syscall: name}))
	}
	SortRows(rows)
	return rows, true
}

// Callers returns, for one syscall, a row per process that made it (the
// "other" row included), sorted like Top.
func (m *Model) Callers(syscall string) []Row {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rows []Row
	add := func(p *proc) {
		if c := p.sys[syscall]; c != nil && c.total > 0 {
			rows = append(rows, rowOf(c, procRow(p)))
		}
	}
	for _, p := range m.procs {
		add(p)
	}
	add(m.other)
	SortRows(rows)
	return rows
}

// Totals returns every syscall's total calls since the model started, over
// all processes.
func (m *Model) Totals() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.sys))
	for name, c := range m.sys {
		out[name] = c.total
	}
	return out
}

// Validate checks the model's invariants: per-process totals add up to the
// per-syscall totals and to the grand total, histories are bounded and the
// number of processes kept apart is within MaxProcs.
func (m *Model) Validate() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.procs) > m.opt.MaxProcs {
		return fmt.Errorf("%d processes kept, limit %d", len(m.procs), m.opt.MaxProcs)
	}
	var byProc, bySys uint64
	sysFromProcs := map[string]uint64{}
	check := func(p *proc) error {
		var sum uint64
		for name, c := range p.sys {
			sum += c.total
			sysFromProcs[name] += c.total
			if len(c.hist) > m.opt.History {
				return fmt.Errorf("pid %d %s: history of %d > %d", p.pid, name, len(c.hist), m.opt.History)
			}
		}
		if sum != p.all.total {
			return fmt.Errorf("pid %d (%s): syscalls add up to %d, total is %d", p.pid, p.comm, sum, p.all.total)
		}
		byProc += p.all.total
		return nil
	}
	for _, p := range m.procs {
		if err := check(p); err != nil {
			return err
		}
	}
	if err := check(m.other); err != nil {
		return err
	}
	for name, c := range m.sys {
		bySys += c.total
		if sysFromProcs[name] != c.total {
			return fmt.Errorf("syscall %s: processes add up to %d, total is %d", name, sysFromProcs[name], c.total)
		}
	}
	if byProc != m.all.total || bySys != m.all.total {
		return fmt.Errorf("totals disagree: by process %d, by syscall %d, all %d", byProc, bySys, m.all.total)
	}
	return nil
}

// ErrProcessExited is wrapped by sources when the process they were asked
// to watch (by pid) exits.
var ErrProcessExited = errors.New("process exited")
