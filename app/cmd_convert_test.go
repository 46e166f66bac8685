package app

import (
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

const interop = "../tracer/testdata/interop"

// callsByFunc loads a file as the headless commands do and counts calls per
// function name.
func callsByFunc(t *testing.T, path string) map[string]int64 {
	t.Helper()
	tr := tracer.NewTrace(0)
	require.NoError(t, replay.Load(t.Context(), path, tr))
	out := map[string]int64{}
	for _, n := range tr.Callgraph().Nodes {
		out[n.Frame.Func] += n.Calls
	}
	return out
}

// A VizTracer file converted to every format, and each back to Chrome JSON,
// keeps its calls (callgrind and speedscope: per function; collapsed
// stacks: the functions).
func TestConvertEveryFormat(t *testing.T) {
	in := filepath.Join(interop, "viztracer_multithread.json")
	want := callsByFunc(t, in)
	dir := t.TempDir()
	outs := map[tracer.FileFormat]string{
		tracer.Chrome:     "out.json",
		tracer.Speedscope: "out.speedscope.json",
		tracer.Callgrind:  "callgrind.out.42",
		tracer.Collapsed:  "out.folded",
	}
	for f, name := range outs {
		t.Run(string(f), func(t *testing.T) {
			out := filepath.Join(dir, name)
			_, stderr, code := runCmd(t, "convert", in, out)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stderr, "(chrome) → "+out+" ("+string(f)+")")
			back := filepath.Join(dir, name+".back.json")
			_, stderr, code = runCmd(t, "convert", out, back, "--to", "chrome")
			require.Equal(t, 0, code, stderr)
			got := callsByFunc(t, back)
			if f == tracer.Collapsed {
				assert.Len(t, got, len(want))
				return
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestConvertFlagsAndErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(interop, "stackcollapse_simple.txt")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no arguments", []string{"convert"}, 2, "want IN and OUT, got 0"},
		{"unknown format", []string{"convert", "--to", "pprof", in, filepath.Join(dir, "x")}, 1, `unknown format "pprof"`},
		{"unguessable name", []string{"convert", in, filepath.Join(dir, "x.out")}, 1, "give it with --to"},
		{"missing input", []string{"convert", filepath.Join(dir, "none.json"), filepath.Join(dir, "y.json")}, 1, "no such file"},
		{"wrong --from", []string{"convert", "--from", "speedscope", in, filepath.Join(dir, "z.json")}, 1, "speedscope: byte"},
		{"invalid file keeps what came before", []string{"convert", filepath.Join(interop, "speedscope_invalid_out-of-order-events.json"), filepath.Join(dir, "partial.json")}, 1, "event 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
	// the calls before the fault were written
	assert.Equal(t, map[string]int64{"A": 3, "B": 1}, callsByFunc(t, filepath.Join(dir, "partial.json")))

	// flags after the files, output to stdout
	stdout, stderr, code := runCmd(t, "convert", in, "-", "--to", "collapsed")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "a 0\na;b 5\na;b;c 5\na;b;d 4\n", stdout)
}

// flow and callgraph read every importable format.
func TestFlowAndCallgraphEveryFormat(t *testing.T) {
	for _, name := range []string{"callgrind_callgrind.example.log", "stackcollapse_simple.txt", "speedscope_0.0.1_simple.speedscope.json", "viztracer_fib.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(interop, name)
			stdout, stderr, code := runCmd(t, "flow", path)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stdout, "-> ")
			stdout, stderr, code = runCmd(t, "callgraph", "--format", "json", path)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stdout, `"calls":`)
		})
	}
	_, stderr, code := runCmd(t, "flow", filepath.Join(interop, "NOTICE"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "unknown trace format")
}

// callgrind_annotate (valgrind's own reader) reads the callgrind files
// convert writes, with the same total and self times.
func TestConvertCallgrindAnnotate(t *testing.T) {
	annotate, err := exec.LookPath("callgrind_annotate")
	if err != nil {
		t.Skip("callgrind_annotate (Debian package valgrind) is not installed")
	}
	in := filepath.Join(interop, "viztracer_multithread.json")
	out := filepath.Join(t.TempDir(), "callgrind.out.1")
	_, stderr, code := runCmd(t, "convert", in, out)
	require.Equal(t, 0, code, stderr)
	text, err := exec.Command(annotate, out).CombinedOutput()
	require.NoError(t, err, string(text))

	tr := tracer.NewTrace(0)
	require.NoError(t, replay.Load(t.Context(), in, tr))
	var total int64
	var top tracer.GraphNode
	for _, n := range tr.Callgraph().Nodes {
		total += n.Exclusive
		if n.Exclusive > top.Exclusive {
			top = n
		}
	}
	num := func(s string) int64 {
		v, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		require.NoError(t, err, s)
		return v
	}
	m := regexp.MustCompile(`(?m)^([\d,]+) .*PROGRAM TOTALS`).FindSubmatch(text)
	require.NotNil(t, m, string(text))
	assert.Equal(t, total, num(string(m[1])))
	// the function with the most self time comes first, with its time
	m = regexp.MustCompile(`(?m)^([\d,]+) \([ \d.]+%\)\s+(\S+):(\S+)`).FindSubmatch(text)
	require.NotNil(t, m, string(text))
	assert.Equal(t, top.Exclusive, num(string(m[1])))
	assert.Equal(t, top.Frame.Func, string(m[3]))
	_ = os.Remove(out)
}
