// Package pyusdt counts a running Python's calls per function from the
// interpreter's USDT probes (python:function__entry / function__return)
// with bpftrace: nothing is injected into the process. Counts are kept in
// kernel maps and printed once per interval, never one line per call.
//
// CPython 3.11 fires function__entry only on its slow tracing path
// (CPython gh-98894): Python-to-Python calls show returns without entries.
// Attaching the line probe too (LineMode) puts the interpreter on that path
// so entries fire, at a large cost. 3.12–3.14 have no function markers.
package pyusdt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"flowscape/sources"
)

// Name is the backend's registry name.
const Name = "python-usdt"

// LineModeCost is what the line-probe mode is measured to cost on
// call-heavy code.
const LineModeCost = "40–90× slower"

// Backend describes the USDT source.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info says whether bpftrace can run here (installed, root) and which
// interpreters have the probes.
func (Backend) Info(ctx context.Context) sources.Info {
	info := sources.Info{
		Name:    Name,
		Kind:    sources.KindCodeFlow,
		Summary: "count a running Python's calls per function from its USDT probes with bpftrace (no injection; interpreters built with --with-dtrace, such as Debian's python3.11)",
	}
	if _, err := exec.LookPath("bpftrace"); err != nil {
		info.Reason = "bpftrace is not installed (apt-get install bpftrace)"
		return info
	}
	if os.Geteuid() != 0 {
		info.Reason = "bpftrace needs root (or CAP_BPF and CAP_PERFMON)"
		return info
	}
	var with []string
	for _, p := range []string{"/usr/bin/python3.11", "/usr/bin/python3.12", "/usr/bin/python3.13"} {
		if ok, _ := HasProbes(ctx, p); ok {
			with = append(with, p)
		}
	}
	if len(with) == 0 {
		info.Reason = "no interpreter with USDT probes found in /usr/bin"
		return info
	}
	info.Available = true
	info.Detail = "interpreters with probes: " + strings.Join(with, ", ") +
		"; on 3.11 entries fire only in line-probe mode (CPython gh-98894, " + LineModeCost + ")"
	return info
}

// HasProbes reports whether the interpreter at exe has the function probes.
func HasProbes(ctx context.Context, exe string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bpftrace", "-l", "usdt:"+exe+":python:function__*").Output()
	if err != nil {
		return false, fmt.Errorf("bpftrace -l %s: %w", exe, err)
	}
	return bytes.Contains(out, []byte("function__return")), nil
}

// Config says what to count.
type Config struct {
	PID      int
	Interval time.Duration // between reports (0: 1 s)
	LineMode bool          // also attach the line probe so entries fire (slow)
	// Attached, when set, is called once bpftrace has attached its probes
	// (attaching takes a second or more on a loaded machine).
	Attached func()
}

// FuncCount is one function's counts in an interval.
type FuncCount struct {
	File    string `json:"file"`
	Func    string `json:"function"`
	Line    int    `json:"line"`
	Entries int64  `json:"entries"`
	Returns int64  `json:"returns"`
}

// Report is one interval's counts, by returns, most first.
type Report struct {
	At    time.Time   `json:"at"`
	Funcs []FuncCount `json:"functions"`
	// Warning explains a caveat seen in the data, e.g. returns without
	// entries (gh-98894).
	Warning string `json:"warning,omitempty"`
}

// Totals sums the entries and returns of every function.
func (r Report) Totals() (entries, returns int64) {
	for _, f := range r.Funcs {
		entries += f.Entries
		returns += f.Returns
	}
	return entries, returns
}

// GH98894 is the explanation given when returns come without entries.
const GH98894 = "returns without entries: this interpreter fires function__entry only on its slow tracing path (CPython gh-98894, Python 3.11), " +
	"so only returns are counted; the line-probe mode makes entries fire at a cost of " + LineModeCost

// Script is the bpftrace program for cfg and the target's executable.
func Script(exe string, cfg Config) string {
	iv := cfg.Interval
	if iv <= 0 {
		iv = time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "usdt:%s:python:function__entry /pid == %d/ { @entries[str(arg0), str(arg1), arg2] = count(); }\n", exe, cfg.PID)
	fmt.Fprintf(&b, "usdt:%s:python:function__return /pid == %d/ { @returns[str(arg0), str(arg1)] = count(); }\n", exe, cfg.PID)
	if cfg.LineMode {
		fmt.Fprintf(&b, "usdt:%s:python:line /pid == %d/ { @lines = count(); }\n", exe, cfg.PID)
	}
	fmt.Fprintf(&b, "interval:ms:%d { print(@entries); print(@returns); clear(@entries); clear(@returns); printf(\"--\\n\"); }\n", iv.Milliseconds())
	return b.String()
}

// Run counts until ctx ends or the process exits, calling report once per
// interval.
func Run(ctx context.Context, cfg Config, report func(Report)) error {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", cfg.PID))
	if err != nil {
		return fmt.Errorf("pid %d: no such process, or not readable: %w", cfg.PID, err)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if _, err := exec.LookPath("bpftrace"); err != nil {
		return errors.New("bpftrace is not installed (apt-get install bpftrace)")
	}
	if os.Geteuid() != 0 {
		return errors.New("bpftrace needs root (or CAP_BPF and CAP_PERFMON)")
	}
	if ok, err := HasProbes(ctx, exe); err != nil || !ok {
		return fmt.Errorf("pid %d runs %s, which has no python USDT function probes (it was not built --with-dtrace)", cfg.PID, exe)
	}
	cmd := exec.Command("bpftrace", "-f", "json", "-e", Script(exe, cfg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bpftrace: %w", err)
	}
	parsed := make(chan error, 1)
	go func() { parsed <- parse(out, report, cfg.Attached) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		t := time.AfterFunc(5*time.Second, func() { _ = cmd.Process.Kill() })
		defer t.Stop()
		_ = cmd.Wait()
	}
	// the process's exit ends the counting
	gone := make(chan struct{})
	go func() {
		for {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", cfg.PID)); err != nil {
				close(gone)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	select {
	case <-ctx.Done():
		stop()
		<-parsed
		return nil
	case <-gone:
		stop()
		<-parsed
		return fmt.Errorf("pid %d exited", cfg.PID)
	case err := <-parsed:
		werr := cmd.Wait()
		if err == nil && werr != nil {
			err = fmt.Errorf("bpftrace: %v: %s", werr, lastLine(stderr.String()))
		}
		return err
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.Contains(l, "RLIMIT_MEMLOCK") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

// Parse reads bpftrace -f json output of Script: per interval an @entries
// map keyed by file, function and first line, an @returns map keyed by file
// and function (a return's line is where it returned from), either absent
// when empty, and a "--" line; it calls report per interval. Blank lines and
// other records are skipped; maps printed again at exit after the last "--"
// make one more report.
func Parse(r io.Reader, report func(Report)) error { return parse(r, report, nil) }

func parse(r io.Reader, report func(Report), attached func()) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	cur := map[[2]string]*FuncCount{}
	pending := false
	flush := func() {
		rep := Report{At: time.Now()}
		for _, f := range cur {
			rep.Funcs = append(rep.Funcs, *f)
		}
		sort.Slice(rep.Funcs, func(i, j int) bool {
			a, b := rep.Funcs[i], rep.Funcs[j]
			if a.Returns != b.Returns {
				return a.Returns > b.Returns
			}
			return a.File+a.Func < b.File+b.Func
		})
		if e, r := rep.Totals(); e == 0 && r > 0 {
			rep.Warning = GH98894
		}
		report(rep)
		cur = map[[2]string]*FuncCount{}
		pending = false
	}
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("bpftrace output line %d: %v", n, err)
		}
		switch rec.Type {
		case "attached_probes":
			if attached != nil {
				attached()
				attached = nil
			}
		case "printf":
			var s string
			if json.Unmarshal(rec.Data, &s) == nil && strings.TrimSpace(s) == "--" {
				flush()
			}
		case "map":
			var maps map[string]json.RawMessage
			if err := json.Unmarshal(rec.Data, &maps); err != nil {
				return fmt.Errorf("bpftrace output line %d: map: %v", n, err)
			}
			for name, raw := range maps {
				if name != "@entries" && name != "@returns" {
					continue // @lines in line-probe mode, printed at exit
				}
				var m map[string]int64
				if err := json.Unmarshal(raw, &m); err != nil {
					return fmt.Errorf("bpftrace output line %d: %s: %v", n, name, err)
				}
				for key, v := range m {
					file, fn, ln, err := splitKey(key, name == "@entries")
					if err != nil {
						return fmt.Errorf("bpftrace output line %d: %v", n, err)
					}
					k := [2]string{file, fn}
					fc := cur[k]
					if fc == nil {
						fc = &FuncCount{File: file, Func: fn}
						cur[k] = fc
					}
					if ln > 0 && (fc.Line == 0 || ln < fc.Line) {
						fc.Line = ln
					}
					switch name {
					case "@entries":
						fc.Entries += v
					case "@returns":
						fc.Returns += v
					}
					pending = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bpftrace output: %w", err)
	}
	if pending {
		flush()
	}
	return nil
}

// splitKey splits "file,function" or, withLine, "file,function,line": a
// file name may hold commas, a function name and a line number do not.
func splitKey(key string, withLine bool) (file, fn string, line int, err error) {
	rest := key
	if withLine {
		j := strings.LastIndexByte(rest, ',')
		if j < 0 {
			return "", "", 0, fmt.Errorf("map key %q is not file,function,line", key)
		}
		line, err = strconv.Atoi(rest[j+1:])
		if err != nil {
			return "", "", 0, fmt.Errorf("map key %q: line %q is not a number", key, rest[j+1:])
		}
		rest = rest[:j]
	}
	i := strings.LastIndexByte(rest, ',')
	if i < 0 {
		return "", "", 0, fmt.Errorf("map key %q has no function name", key)
	}
	return rest[:i], rest[i+1:], line, nil
}
