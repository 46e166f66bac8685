package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources/replay"
	"flowscape/tracer"
)

// The exports open in the real speedscope (its npm package, in headless
// Chromium, driven by scripts/viewer-check): speedscope files through its
// speedscope importer, Chrome JSON through its Trace Event importer, collapsed
// stacks through its collapsed-stack importer. Each shows our threads as its
// profiles and, in its Sandwich table, one row per function, named as
// Flowscape names it, with our self and total times (within the 2 decimals
// it prints). A speedscope file opens on the main thread.

const viewerCheckDir = "../scripts/viewer-check"

// viewerReport is what scripts/viewer-check/check.js prints.
type viewerReport struct {
	Viewer  string       `json:"viewer"`
	Browser string       `json:"browser"`
	Files   []viewerFile `json:"files"`
}

type viewerFile struct {
	File         string          `json:"file"`
	Loaded       bool            `json:"loaded"`
	Error        string          `json:"error"`
	Importer     string          `json:"importer"`
	Title        string          `json:"title"`
	ProfileCount int             `json:"profileCount"`
	Opened       *viewerOpened   `json:"opened"` // the profile shown first
	Profiles     []viewerProfile `json:"profiles"`
	Console      []string        `json:"console"`
}

// viewerOpened is the profile speedscope shows when the file opens.
type viewerOpened struct {
	Index int    `json:"index"` // from 1
	Name  string `json:"name"`
}

type viewerProfile struct {
	Name      string      `json:"name"`
	Total     string      `json:"total"`
	Functions []viewerRow `json:"functions"`
}

// viewerRow is one row of speedscope's Sandwich table.
type viewerRow struct {
	Name  string `json:"name"`
	File  string `json:"file"` // the row's tooltip
	Total string `json:"total"`
	Self  string `json:"self"`
}

// viewerCheck runs the checker on files and returns its report and exit
// status (0 all loaded, 1 speedscope showed an error). It skips the test
// when node, Chromium or the checker's npm packages are missing.
func viewerCheck(t *testing.T, files ...string) (viewerReport, int) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the speedscope check runs speedscope in Chromium through Node.js")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		if chromium, err = exec.LookPath("chromium"); err != nil {
			t.Skip("chromium (Debian package chromium, installed by make deps) is not installed")
		}
	}
	for _, pkg := range []string{"speedscope", "playwright-core"} {
		if _, err := os.Stat(filepath.Join(viewerCheckDir, "node_modules", pkg, "package.json")); err != nil {
			t.Skipf("scripts/viewer-check/node_modules/%s is missing: run `npm ci` in scripts/viewer-check (make test does)", pkg)
		}
	}
	args := []string{"check.js", "--chromium", chromium}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		require.NoError(t, err)
		args = append(args, abs)
	}
	cmd := exec.CommandContext(t.Context(), node, args...)
	cmd.Dir = viewerCheckDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err, stderr.String())
	}
	require.NotEqual(t, 2, code, "the checker could not run: %s", stderr.String())
	var rep viewerReport
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), "checker output %q, stderr %s", stdout.String(), stderr.String())
	require.Len(t, rep.Files, len(files))
	t.Logf("%s in Chromium %s", rep.Viewer, rep.Browser)
	return rep, code
}

// speedscopeValue parses a time or weight as speedscope prints it
// ("1.39ms (96%)", "800.00ns", "1:05", "6,772,605 (71%)") into ns or
// units, and returns how far the printed value may be from the true one.
func speedscopeValue(s string) (v, tol float64, err error) {
	s, _, _ = strings.Cut(s, " (")
	if m := regexp.MustCompile(`^(\d+):(\d\d)$`).FindStringSubmatch(s); m != nil {
		mins, _ := strconv.ParseFloat(m[1], 64)
		secs, _ := strconv.ParseFloat(m[2], 64)
		return (mins*60 + secs) * 1e9, 1e9, nil
	}
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"ns", 1}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			return f * u.scale, 0.005 * u.scale, err
		}
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("speedscope value %q: %w", s, err)
	}
	return f, 0.5, nil
}

// shown is what speedscope shows for one function: self and total summed
// over its rows, with the rounding of each.
type shown struct {
	self, selfTol, total, totalTol float64
	rows                           int
}

// sandwich sums a profile's rows by name (key gives the name a row stands
// for).
func sandwich(t *testing.T, rows []viewerRow, key func(viewerRow) string) map[string]*shown {
	t.Helper()
	out := map[string]*shown{}
	for _, r := range rows {
		k := key(r)
		s := out[k]
		if s == nil {
			s = &shown{}
			out[k] = s
		}
		v, tol, err := speedscopeValue(r.Self)
		require.NoError(t, err)
		s.self, s.selfTol = s.self+v, s.selfTol+tol
		v, tol, err = speedscopeValue(r.Total)
		require.NoError(t, err)
		s.total, s.totalTol = s.total+v, s.totalTol+tol
		s.rows++
	}
	return out
}

// assertSandwich checks that speedscope shows the functions of g, named by
// name, one row each (as many rows for a name as functions have it), with
// their self time, and their total time where one row stands for one
// function.
func assertSandwich(t *testing.T, what string, got map[string]*shown, g *tracer.Graph, name func(tracer.Frame) string) {
	t.Helper()
	want := map[string]*shown{}
	for _, n := range g.Nodes {
		k := name(n.Frame)
		if want[k] == nil {
			want[k] = &shown{}
		}
		want[k].self += float64(n.Exclusive)
		want[k].total += float64(n.Inclusive)
		want[k].rows++
	}
	assert.ElementsMatch(t, keys(want), keys(got), "%s: the functions speedscope shows", what)
	for k, w := range want {
		s := got[k]
		if s == nil {
			continue
		}
		assert.Equal(t, w.rows, s.rows, "%s: the rows of %s", what, k)
		assert.InDelta(t, w.self, s.self, s.selfTol+1, "%s: self time of %s", what, k)
		if s.rows == 1 && w.rows == 1 {
			assert.InDelta(t, w.total, s.total, s.totalTol+1, "%s: total time of %s", what, k)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// threadName is the name Flowscape gives a thread in its exports.
func threadName(th tracer.Thread) string {
	if th.Name != "" {
		return th.Name
	}
	return "thread " + strconv.FormatUint(uint64(th.TID), 10)
}

// assertShowsTrace checks one exported file of the trace in path as
// speedscope shows it.
func assertShowsTrace(t *testing.T, path string, format tracer.FileFormat, got viewerFile) {
	t.Helper()
	tr := tracer.NewTrace(0)
	require.NoError(t, replay.Load(t.Context(), path, tr))
	require.True(t, got.Loaded, "speedscope did not open %s: %s %v", got.File, got.Error, got.Console)
	assert.Empty(t, got.Error)
	assert.Len(t, got.Profiles, got.ProfileCount)
	// no function is named with an empty place, "func (:0)"
	for _, p := range got.Profiles {
		for _, r := range p.Functions {
			assert.NotContains(t, r.Name, "(:0)", "%s: a row of %s", got.File, p.Name)
		}
	}
	threads := tr.Threads()
	switch format {
	case tracer.Speedscope:
		// one profile per thread, named after it; rows are frame names
		// with their file as tooltip
		assert.Equal(t, "speedscope json file", got.Importer)
		byName := map[string]tracer.Thread{}
		for _, th := range threads {
			byName[threadName(th)] = th
		}
		var names []string
		for _, p := range got.Profiles {
			names = append(names, p.Name)
			th, ok := byName[p.Name]
			if !ok {
				continue
			}
			rows := sandwich(t, p.Functions, func(r viewerRow) string { return r.Name + " " + r.File })
			assertSandwich(t, p.Name, rows, tr.CallgraphThread(th.TID), func(f tracer.Frame) string {
				if f.C {
					return f.Func + " "
				}
				return f.Func + " " + f.File
			})
		}
		assert.ElementsMatch(t, keys(byName), names, "profiles")
		// it opens on the main thread, however the threads are ordered
		require.NotNil(t, got.Opened)
		for _, th := range threads {
			if th.Name == "MainThread" {
				assert.Equal(t, "MainThread", got.Opened.Name, "the profile speedscope opens on")
			}
		}
	case tracer.Chrome:
		// one profile per thread, "PROCESS (pid P), THREAD (tid T)";
		// speedscope's Trace Event importer names a frame
		// "NAME {ARGS as JSON}": a function's calls share one row when
		// what differs from call to call is not in args, and the row is
		// named "func (file:line)" alone when args are not needed
		assert.Equal(t, "Trace Event Format profile", got.Importer)
		require.Len(t, got.Profiles, len(threads))
		tidRE := regexp.MustCompile(`^.* \(pid \d+\), (.*) \(tid (\d+)\)$`)
		for _, p := range got.Profiles {
			m := tidRE.FindStringSubmatch(p.Name)
			require.NotNil(t, m, "profile name %q", p.Name)
			tid, _ := strconv.ParseUint(m[2], 10, 32)
			i := -1
			for j, th := range threads {
				if uint64(th.TID) == tid {
					i = j
				}
			}
			require.GreaterOrEqual(t, i, 0, "profile %q is no thread of the trace", p.Name)
			assert.Equal(t, threadName(threads[i]), m[1])
			rows := sandwich(t, p.Functions, func(r viewerRow) string { return r.Name })
			assertSandwich(t, p.Name, rows, tr.CallgraphThread(uint32(tid)), tracer.Frame.Label)
		}
	case tracer.Collapsed:
		// every thread in one profile, named after the file; weights are
		// our ns as sample counts
		assert.Equal(t, "collapsed stack format", got.Importer)
		require.Len(t, got.Profiles, 1)
		assert.Equal(t, filepath.Base(got.File), got.Profiles[0].Name)
		rows := sandwich(t, got.Profiles[0].Functions, func(r viewerRow) string { return r.Name })
		assertSandwich(t, "collapsed", rows, tr.Callgraph(), tracer.Frame.Label)
	}
}

// exportsOf converts in to speedscope, Chrome JSON and collapsed stacks as
// `flowscape convert` does, into dir.
func exportsOf(t *testing.T, in, dir string) map[tracer.FileFormat]string {
	t.Helper()
	outs := map[tracer.FileFormat]string{
		tracer.Speedscope: filepath.Join(dir, "out.speedscope.json"),
		tracer.Chrome:     filepath.Join(dir, "out.json"),
		tracer.Collapsed:  filepath.Join(dir, "out.folded"),
	}
	for f, out := range outs {
		_, stderr, code := runCmd(t, "convert", in, out, "--to", string(f))
		require.Equal(t, 0, code, stderr)
	}
	return outs
}

// checkExports converts in to each format and checks what speedscope shows
// for each.
func checkExports(t *testing.T, in string) {
	t.Helper()
	outs := exportsOf(t, in, t.TempDir())
	order := []tracer.FileFormat{tracer.Speedscope, tracer.Chrome, tracer.Collapsed}
	var files []string
	for _, f := range order {
		files = append(files, outs[f])
	}
	rep, code := viewerCheck(t, files...)
	for i, f := range order {
		t.Run(string(f), func(t *testing.T) {
			got := rep.Files[i]
			var rows int
			for _, p := range got.Profiles {
				rows += len(p.Functions)
			}
			t.Logf("%s: %s importer, %d profiles, %d rows", filepath.Base(got.File), got.Importer, len(got.Profiles), rows)
			assertShowsTrace(t, in, f, got)
		})
	}
	assert.Equal(t, 0, code, "checker exit status")
}

// A VizTracer trace (5 threads, 52 functions) exported to each format.
func TestViewerCheckVizTracerExports(t *testing.T) {
	checkExports(t, filepath.Join(interop, "viztracer_multithread.json"))
}

const viewerCheckProgram = `import threading


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


class Square:
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side


def squares():
    return sum(Square(i).area() for i in range(50))


def worker():
    fib(12)


t = threading.Thread(target=worker, name="worker")
t.start()
print(fib(10), squares())
t.join()
`

// A trace Flowscape takes of a Python program (two threads, recursion,
// methods, a generator) exported to each format.
func TestViewerCheckTracedProgramExports(t *testing.T) {
	py := testInterpreters(t)[0]
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog.py")
	require.NoError(t, os.WriteFile(prog, []byte(viewerCheckProgram), 0o644))
	trace := filepath.Join(dir, "trace.json")
	_, stderr, code := runCmd(t, "trace", "-o", trace, "--", py.Path, prog)
	require.Equal(t, 0, code, stderr)
	checkExports(t, trace)
}

// The checker reports speedscope's errors: a file speedscope cannot read
// is not taken for one it opened.
func TestViewerCheckReportsBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	good := exportsOf(t, filepath.Join(interop, "viztracer_multithread.json"), dir)[tracer.Speedscope]
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	truncated := filepath.Join(dir, "truncated.speedscope.json")
	require.NoError(t, os.WriteFile(truncated, data[:len(data)/2], 0o644))

	// the first close event names another frame than the one open
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	nframes := len(doc["shared"].(map[string]any)["frames"].([]any))
	for _, ev := range doc["profiles"].([]any)[0].(map[string]any)["events"].([]any) {
		e := ev.(map[string]any)
		if e["type"] == "C" {
			e["frame"] = math.Mod(e["frame"].(float64)+1, float64(nframes))
			break
		}
	}
	mismatched := filepath.Join(dir, "mismatched.speedscope.json")
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mismatched, b, 0o644))

	rep, code := viewerCheck(t, truncated, mismatched)
	assert.Equal(t, 1, code, "checker exit status")
	for i, want := range []string{"JSON", "Tried to leave frame"} {
		got := rep.Files[i]
		assert.False(t, got.Loaded, got.File)
		assert.Contains(t, got.Error, `speedscope shows "Something went wrong."`, got.File)
		assert.Contains(t, got.Error, want, got.File)
		assert.Empty(t, got.Profiles, got.File)
	}
}
