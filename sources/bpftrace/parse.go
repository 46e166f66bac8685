package bpftrace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"flowscape/tracer/syscalls"
)

// mapPrefix starts the names of the script's maps of counts
// (@flowscape_calls0, 1 and 2 take turns).
const mapPrefix = "@flowscape_calls"

// Parser reads the script's `bpftrace -f json` output one line at a time
// and assembles intervals. Lines it does not need (other maps, probes
// attached, blank lines, maps printed again at exit) are skipped; a
// malformed line is an error naming it, and parsing goes on with the next.
type Parser struct {
	names   syscalls.Names
	line    int
	started bool  // "flowscape ready" seen
	ended   bool  // "flowscape end" seen: the rest is bpftrace's exit output
	lastNS  int64 // time of the previous tick (or of ready)
	pending []syscalls.Sample
	// Lost counts events bpftrace reported lost.
	Lost uint64
}

// NewParser returns a parser mapping syscall numbers with names.
func NewParser(names syscalls.Names) *Parser { return &Parser{names: names} }

// Started reports whether the script has attached its probes and begun.
func (p *Parser) Started() bool { return p.started }

// Ended reports whether the script's END output has been read.
func (p *Parser) Ended() bool { return p.ended }

type message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Line parses one line of output. It returns an interval and true when the
// line closes one (a tick, or the end).
func (p *Parser) Line(b []byte) (syscalls.Interval, bool, error) {
	p.line++
	b = bytes.TrimSpace(b)
	if len(b) == 0 || p.ended {
		return syscalls.Interval{}, false, nil
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return syscalls.Interval{}, false, fmt.Errorf("bpftrace output line %d: %v: %.80q", p.line, err, b)
	}
	switch m.Type {
	case "printf":
		var text string
		if err := json.Unmarshal(m.Data, &text); err != nil {
			return syscalls.Interval{}, false, fmt.Errorf("bpftrace output line %d: printf data: %v", p.line, err)
		}
		return p.printf(text)
	case "map":
		if !p.started {
			return syscalls.Interval{}, false, nil
		}
		return syscalls.Interval{}, false, p.mapData(m.Data)
	case "lost_events":
		var d struct {
			Events uint64 `json:"events"`
		}
		if err := json.Unmarshal(m.Data, &d); err == nil {
			p.Lost += d.Events
		}
	}
	return syscalls.Interval{}, false, nil
}

func (p *Parser) printf(text string) (syscalls.Interval, bool, error) {
	for _, ln := range strings.Split(text, "\n") {
		f := strings.Fields(ln)
		if len(f) != 3 || f[0] != "flowscape" {
			continue
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || ns < 0 {
			return syscalls.Interval{}, false, fmt.Errorf("bpftrace output line %d: bad time %q", p.line, f[2])
		}
		switch f[1] {
		case "ready":
			p.started, p.lastNS, p.pending = true, ns, nil
		case "tick", "end":
			if !p.started {
				return syscalls.Interval{}, false, fmt.Errorf("bpftrace output line %d: %s before ready", p.line, f[1])
			}
			length := ns - p.lastNS
			p.ended = f[1] == "end"
			if length <= 0 && len(p.pending) == 0 {
				// The script's first tick reports the empty interval
				// before the first one.
				return syscalls.Interval{}, false, nil
			}
			iv := syscalls.Interval{End: time.Duration(ns), Length: time.Duration(max(length, 0)), Samples: p.pending}
			p.lastNS, p.pending = ns, nil
			return iv, true, nil
		}
	}
	return syscalls.Interval{}, false, nil
}

func (p *Parser) mapData(data json.RawMessage) error {
	var maps map[string]json.RawMessage
	if err := json.Unmarshal(data, &maps); err != nil {
		return fmt.Errorf("bpftrace output line %d: map: %v", p.line, err)
	}
	var bad []string
	for name, raw := range maps {
		if !strings.HasPrefix(name, mapPrefix) {
			continue
		}
		var counts map[string]uint64
		if err := json.Unmarshal(raw, &counts); err != nil {
			return fmt.Errorf("bpftrace output line %d: map %s: %v", p.line, name, err)
		}
		bad = append(bad, p.addCounts(counts)...)
	}
	if len(bad) > 0 {
		return fmt.Errorf("bpftrace output line %d: %d bad keys, e.g. %s", p.line, len(bad), bad[0])
	}
	return nil
}

func (p *Parser) addCounts(counts map[string]uint64) []string {
	var bad []string
	for key, n := range counts {
		s, err := p.sample(key, n)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		p.pending = append(p.pending, s)
	}
	return bad
}

// sample reads a key "pid,comm,nr": a comm may itself contain commas, so the
// pid is the first field and the syscall number the last.
func (p *Parser) sample(key string, n uint64) (syscalls.Sample, error) {
	first := strings.IndexByte(key, ',')
	last := strings.LastIndexByte(key, ',')
	if first < 0 || last == first {
		return syscalls.Sample{}, fmt.Errorf("key %q: want pid,comm,syscall", key)
	}
	pid, err := strconv.Atoi(key[:first])
	if err != nil || pid < 0 {
		return syscalls.Sample{}, fmt.Errorf("key %q: bad pid", key)
	}
	nr, err := strconv.Atoi(key[last+1:])
	if err != nil {
		return syscalls.Sample{}, fmt.Errorf("key %q: bad syscall number", key)
	}
	name := p.names.Name(nr)
	if nr < 0 {
		// raw_syscalls reports -1 for a syscall that was not one
		// (e.g. a seccomp-rejected number).
		name = "invalid"
	}
	return syscalls.Sample{PID: pid, Comm: key[first+1 : last], Syscall: name, Count: n}, nil
}
