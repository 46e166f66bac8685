package app

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// writeTrace writes a Chrome trace of events to a temporary file.
func writeTrace(t *testing.T, frames []tracer.Frame, evs []tracer.Event) string {
	t.Helper()
	tr := tracer.NewTrace(0)
	tr.Frames(frames)
	tr.Events(1, evs)
	path := filepath.Join(t.TempDir(), "trace.json")
	var buf bytes.Buffer
	require.NoError(t, tracer.WriteChrome(&buf, tr))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

// oddNames is a trace whose functions have names that need escaping in
// DOT and SVG, and one call left open.
func oddNames(t *testing.T) string {
	frames := []tracer.Frame{
		{ID: 1, Func: "<module>", File: "/tmp/a b/prog.py", Line: 1},
		{ID: 2, Func: `say "hi" \N`, File: "/tmp/a b/prog.py", Line: 3},
		{ID: 3, Func: "Größe<T>&函数", File: "/tmp/a b/prog.py", Line: 9},
	}
	evs := []tracer.Event{
		{TS: 1000, Frame: 1, Kind: tracer.Call},
		{TS: 2000, Frame: 2, Kind: tracer.Call},
		{TS: 5000, Frame: 2, Kind: tracer.Return},
		{TS: 6000, Frame: 3, Kind: tracer.Call},
	}
	return writeTrace(t, frames, evs)
}

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, nil, &out, &errb)
	return out.String(), errb.String(), code
}

func TestCallgraphCommandFormats(t *testing.T) {
	path := oddNames(t)

	out, stderr, code := runCmd(t, "callgraph", "--format", "json", path)
	require.Equal(t, 0, code, stderr)
	var js struct {
		Nodes []struct {
			Function string `json:"function"`
			Open     bool   `json:"open"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &js))
	require.Len(t, js.Nodes, 3)

	out, stderr, code = runCmd(t, "callgraph", "--format", "dot", path)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `label="say \"hi\" \\N\n`)
	assert.Contains(t, out, "Größe<T>&函数")
	assert.Contains(t, out, "dashed", "the open call is drawn dashed")

	svgPath := filepath.Join(t.TempDir(), "out.svg")
	_, stderr, code = runCmd(t, "callgraph", "--format", "svg", "-o", svgPath, path)
	require.Equal(t, 0, code, stderr)
	svg, err := os.ReadFile(svgPath)
	require.NoError(t, err)
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	for {
		tok, err := dec.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF", "the SVG is not well-formed")
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(cd))
		}
	}
	all := strings.Join(texts, "|")
	assert.Contains(t, all, `say "hi" \N`, "the name reads back as written")
	assert.Contains(t, all, "Größe<T>&函数")

	pngPath := filepath.Join(t.TempDir(), "out.png")
	_, stderr, code = runCmd(t, "callgraph", "--format", "png", "-o", pngPath, path)
	require.Equal(t, 0, code, stderr)
	f, err := os.Open(pngPath)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 100)
	// the boxes are drawn: the image has the heat colours, not just paper
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	assert.Greater(t, len(colours), 20, "the PNG looks blank")
}

func TestCallgraphCommandTrimsAndFocuses(t *testing.T) {
	path := filepath.Join("..", "tracer", "testdata", "viztracer", "multithread.json")
	out, stderr, code := runCmd(t, "callgraph", "--format", "dot", "--top", "5", path)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 5, strings.Count(out, "tooltip="), "five function boxes")
	assert.Contains(t, out, "showing 5 of 52 functions")
	assert.Contains(t, stderr, "hidden by top 5")

	out, stderr, code = runCmd(t, "callgraph", "--format", "dot", "--focus", "fib", "--depth", "1", path)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 3, strings.Count(out, "tooltip="), "fib, its caller and its callee")
	assert.Contains(t, out, `label="fib\n`)
	assert.Contains(t, out, `label="MyThread.run\n`)
	assert.Contains(t, out, `label="time.sleep\n`)

	out, stderr, code = runCmd(t, "callgraph", "--format", "json", path)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 52, strings.Count(out, `"function":`), "json keeps every function unless asked")
}

func TestCallgraphCommandBadInput(t *testing.T) {
	path := oddNames(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--format", "gif", path}, 1, `unknown format "gif"`},
		{[]string{"--by", "both", path}, 1, `--by "both"`},
		{[]string{"--node-fraction", "2", path}, 1, "want a fraction"},
		{[]string{"--focus", "nosuch", path}, 1, `no function "nosuch"`},
		{[]string{"--format", "dot", filepath.Join(t.TempDir(), "missing.json")}, 1, "missing.json"},
		{[]string{"-o", filepath.Join(t.TempDir(), "no", "dir", "x.svg"), "--format", "svg", path}, 1, "x.svg"},
		{[]string{}, 2, "want one trace file"},
	}
	for _, tt := range tests {
		_, stderr, code := runCmd(t, append([]string{"callgraph"}, tt.args...)...)
		assert.Equal(t, tt.code, code, "%v: %s", tt.args, stderr)
		assert.Contains(t, stderr, tt.want, "%v", tt.args)
	}
}

// An empty trace and a trace of one function give valid drawings.
func TestCallgraphCommandEmptyAndSingle(t *testing.T) {
	single := writeTrace(t, []tracer.Frame{{ID: 1, Func: "only", File: "p.py", Line: 1}},
		[]tracer.Event{{TS: 10, Frame: 1, Kind: tracer.Call}, {TS: 20, Frame: 1, Kind: tracer.Return}})
	empty := filepath.Join(t.TempDir(), "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"traceEvents": []}`), 0o600))
	for _, path := range []string{single, empty} {
		for _, format := range []string{"dot", "svg", "png", "json"} {
			out, stderr, code := runCmd(t, "callgraph", "--format", format, path)
			assert.Equal(t, 0, code, "%s %s: %s", format, path, stderr)
			assert.NotEmpty(t, out)
		}
	}
}
