package tracer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// key names a function the way every format can keep it: functions
// without a source file by name only.
func key(f tracer.Frame) string {
	if f.File == "" || f.File == "~" || f.C {
		return f.Func
	}
	return f.Label()
}

type fnStats struct {
	Calls, Incl, Excl int64
}

func byKey(g *tracer.Graph) map[string]fnStats {
	out := map[string]fnStats{}
	for _, n := range g.Nodes {
		s := out[key(n.Frame)]
		s.Calls += n.Calls
		s.Incl += n.Inclusive
		s.Excl += n.Exclusive
		out[key(n.Frame)] = s
	}
	return out
}

func importFile(t *testing.T, path string) (*tracer.Trace, tracer.ImportReport, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	tr := tracer.NewTrace(0)
	head := make([]byte, 4096)
	n, _ := f.Read(head)
	format := tracer.GuessFormat(path, head[:n])
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	rep, err := tracer.Import(f, format, tr)
	return tr, rep, err
}

// Every file another tool wrote imports, in the format its content says.
func TestImportInteropFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/interop/*")
	require.NoError(t, err)
	want := map[string]tracer.FileFormat{
		"Chrome_69_simple.json":                           tracer.Chrome,
		"callgrind_callgrind.example.log":                 tracer.Callgrind,
		"callgrind_callgrind.name-compression.log":        tracer.Callgrind,
		"speedscope_0.0.1_simple.speedscope.json":         tracer.Speedscope,
		"speedscope_0.1.2_simple-sampled.speedscope.json": tracer.Speedscope,
		"speedscope_0.6.0_two-sampled.speedscope.json":    tracer.Speedscope,
		"speedscope_invalid_incomplete-trace.json":        tracer.Speedscope,
		"speedscope_invalid_out-of-order-events.json":     tracer.Speedscope,
		"stackcollapse_recursion.txt":                     tracer.Collapsed,
		"stackcollapse_simple.txt":                        tracer.Collapsed,
		"viztracer_fib.json":                              tracer.Chrome,
		"viztracer_function_args_return.json":             tracer.Chrome,
		"viztracer_logging_integration.json":              tracer.Chrome,
		"viztracer_multithread-tests.json":                tracer.Chrome,
		"viztracer_multithread.json":                      tracer.Chrome,
	}
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		if name == "NOTICE" {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			tr, rep, err := importFile(t, path)
			assert.Equal(t, want[name], rep.Format)
			if strings.Contains(name, "invalid") {
				var fe *tracer.FormatError
				require.ErrorAs(t, err, &fe)
				assert.GreaterOrEqual(t, fe.Event, 0, "the message names the event: %v", err)
				// what came before the fault stays
				assert.NotEmpty(t, tr.Callgraph().Nodes)
				return
			}
			require.NoError(t, err)
			assert.Positive(t, rep.Calls)
			assert.NotEmpty(t, tr.Callgraph().Nodes)
			assert.NotEmpty(t, tr.Threads())
		})
	}
	assert.Equal(t, len(want), seen, "every fixture is listed")
}

// The speedscope samples, the collapsed-stack sample and the callgrind
// samples describe small programs whose numbers can be read off the files.
func TestImportKnownProfiles(t *testing.T) {
	simple := map[string]fnStats{
		"a": {1, 14, 0}, "b": {1, 14, 5}, "c": {2, 5, 5}, "d": {1, 4, 4},
	}
	scaled := func(m map[string]fnStats, k int64) map[string]fnStats {
		out := map[string]fnStats{}
		for n, s := range m {
			out[n] = fnStats{s.Calls, s.Incl * k, s.Excl * k}
		}
		return out
	}
	tests := []struct {
		file    string
		want    map[string]fnStats
		threads int
	}{
		{"speedscope_0.0.1_simple.speedscope.json", simple, 1},
		{"speedscope_0.1.2_simple-sampled.speedscope.json", scaled(simple, 1e9), 1},
		{"speedscope_0.6.0_two-sampled.speedscope.json", scaled(map[string]fnStats{
			"a": {2, 14, 0}, "b": {2, 14, 5}, "c": {4, 5, 5}, "d": {2, 4, 4},
		}, 2e9), 2},
		{"stackcollapse_simple.txt", simple, 1},
		// main calls func1 once and func2 3 times, func1 calls func2 twice;
		// self costs 20, 100, 700
		{"callgrind_callgrind.example.log", map[string]fnStats{
			"main (file1.c:16)": {1, 820, 20}, "func1 (file1.c:51)": {1, 380, 100}, "func2 (file2.c:20)": {5, 700, 700},
		}, 1},
		{"callgrind_callgrind.name-compression.log", map[string]fnStats{
			"main (file1.c:16)": {1, 820, 20}, "func1 (file1.c:51)": {1, 380, 100}, "func2 (file2.c:20)": {5, 700, 700},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tr, _, err := importFile(t, filepath.Join("testdata/interop", tt.file))
			require.NoError(t, err)
			got := byKey(tr.Callgraph())
			if strings.HasPrefix(tt.file, "speedscope_0.6") {
				// two profiles, one thread each: the inclusive and exclusive
				// times add up over the threads, the ones per thread are simple's
				for _, th := range tr.Threads() {
					assert.Equal(t, scaled(simple, 1e9), byKey(tr.CallgraphThread(th.TID)))
				}
				assert.Equal(t, []string{"one", "two"}, []string{tr.Threads()[0].Name, tr.Threads()[1].Name})
				return
			}
			assert.Equal(t, tt.want, got)
			assert.Len(t, tr.Threads(), tt.threads)
		})
	}
}

// The flow of stackcollapse_recursion.txt: consecutive lines share the
// calls of their common prefix.
func TestImportCollapsedRecursion(t *testing.T) {
	tr, _, err := importFile(t, "testdata/interop/stackcollapse_recursion.txt")
	require.NoError(t, err)
	got := byKey(tr.Callgraph())
	// lines: a;a  b;b  a;b  a;b;a;b  a;b;a;c  a;b;a;b;a;b  a;b;a;b;c  a;b;a;b  a;b;a;c  a;b;a;b;c
	// roots a(0-1) b(1-2) a(2-10): a is entered 2 (roots) + 1 (a;a) + 2 (a;b;a at 3, then a;b;a;b;a at 5)
	assert.Equal(t, int64(10), got["a"].Excl+got["b"].Excl+got["c"].Excl, "each line lasts its count")
	var flow bytes.Buffer
	require.NoError(t, tracer.WriteFlow(&flow, tr))
	assert.Contains(t, flow.String(), "a")
	assert.Equal(t, 3, len(tr.Roots(1)), "a, b, then a again")
}

// Per-function call counts of VizTracer's files equal those counted
// directly from their X events.
func TestVizTracerCallCounts(t *testing.T) {
	files, err := filepath.Glob("testdata/interop/viztracer_*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			var doc struct {
				TraceEvents []struct {
					Ph   string `json:"ph"`
					Name string `json:"name"`
				} `json:"traceEvents"`
				FileInfo struct {
					Files map[string][]any `json:"files"`
				} `json:"file_info"`
			}
			require.NoError(t, json.Unmarshal(raw, &doc))
			want := map[string]int64{}
			for _, e := range doc.TraceEvents {
				if e.Ph == "X" {
					want[e.Name]++
				}
			}
			tr, rep, err := importFile(t, path)
			require.NoError(t, err)
			got := map[string]int64{}
			for _, n := range tr.Callgraph().Nodes {
				name := n.Frame.Func
				if n.Frame.File != "" {
					name = n.Frame.Label()
				}
				got[name] += n.Calls
			}
			assert.Equal(t, want, got)
			assert.Contains(t, tr.Info().Mode, "VizTracer")

			// the sources it carried are kept, so they show without the files
			assert.Len(t, doc.FileInfo.Files, max(0, len(doc.FileInfo.Files)))
			for p, entry := range doc.FileInfo.Files {
				src, ok := tr.Source(p)
				require.True(t, ok, p)
				assert.Equal(t, entry[0], src)
			}
			if strings.Contains(path, "logging") {
				assert.Contains(t, strings.Join(rep.Notes, "\n"), "41 instant events")
			}
		})
	}
}

// Round trips: Flowscape → format → Flowscape keep calls and times within
// what the format can say.
func TestRoundTrips(t *testing.T) {
	want := goldenTrace()
	wantStats := byKey(want.Callgraph())
	for _, f := range tracer.FileFormats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, tracer.Export(&buf, f, want))
			assert.Equal(t, f, tracer.DetectFormat(buf.Bytes()), "the content says what it is")
			got := tracer.NewTrace(0)
			rep, err := tracer.Import(bytes.NewReader(buf.Bytes()), "", got)
			require.NoError(t, err, buf.String())
			assert.Equal(t, f, rep.Format)
			gotStats := byKey(got.Callgraph())
			require.Len(t, gotStats, len(wantStats), buf.String())
			for k, w := range wantStats {
				g, ok := gotStats[k]
				require.True(t, ok, "%s in %s", k, buf.String())
				switch f {
				case tracer.Chrome, tracer.Speedscope:
					assert.Equal(t, w, g, k) // ns precision, each call kept
				case tracer.Callgrind:
					// calls per edge and self time are what callgrind keeps
					assert.Equal(t, w.Calls, g.Calls, "%s calls", k)
					assert.Equal(t, w.Excl, g.Excl, "%s exclusive", k)
				case tracer.Collapsed:
					// only time per stack: consecutive calls merge
					assert.Equal(t, w.Excl, g.Excl, "%s exclusive", k)
					assert.Positive(t, g.Calls)
				}
			}
		})
	}
}

// Importers report bad input with where it is, and keep what came before.
func TestImportBadInput(t *testing.T) {
	tests := []struct {
		name    string
		format  tracer.FileFormat
		in      string
		wantErr string
		calls   int // at least this many calls survive
	}{
		{"speedscope truncated", tracer.Speedscope, `{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"evented","unit":"none","events":[{"type":"O","frame":0,"at":0},{"ty`, "speedscope: ", 0},
		{"speedscope unknown frame", tracer.Speedscope, `{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"evented","unit":"none","events":[{"type":"O","frame":0,"at":0},{"type":"O","frame":5,"at":1}]}]}`, "event 1", 1},
		{"speedscope unknown unit", tracer.Speedscope, `{"shared":{"frames":[]},"profiles":[{"type":"evented","unit":"parsecs","events":[]}]}`, `unknown unit "parsecs"`, 0},
		{"speedscope weights", tracer.Speedscope, `{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"sampled","unit":"none","samples":[[0]],"weights":[1,2]}]}`, "1 samples but 2 weights", 0},
		{"callgrind compressed name unknown", tracer.Callgrind, "events: x\nfn=(4)\n1 2\n", "line 2: compressed name (4) used before it was defined", 0},
		{"callgrind calls without cost", tracer.Callgrind, "events: x\nfn=a\ncfn=b\ncalls=1 2\n", "calls= line without the cost line", 0},
		{"callgrind cost line", tracer.Callgrind, "events: x\nfn=a\n1 zz\n", "line 3: bad cost", 0},
		{"collapsed bad line", tracer.Collapsed, "a;b 3\nc;d\n", "line 2", 2},
		{"binary as chrome", tracer.Chrome, "\x00\x01\x02\xff\xfe", "chrome trace: byte", 0},
		{"binary as collapsed", tracer.Collapsed, "\x00\x01\x02\xff\xfe", "line 1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tracer.NewTrace(0)
			_, err := tracer.Import(strings.NewReader(tt.in), tt.format, tr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			var fe *tracer.FormatError
			assert.True(t, errors.As(err, &fe))
			var calls int64
			for _, n := range tr.Callgraph().Nodes {
				calls += n.Calls
			}
			assert.GreaterOrEqual(t, calls, int64(tt.calls))
		})
	}
	_, err := tracer.Import(strings.NewReader("hello world\nthis is not a trace\n"), "", tracer.NewTrace(0))
	assert.ErrorIs(t, err, tracer.ErrUnknownFormat)
}

func TestParseFileFormat(t *testing.T) {
	for in, want := range map[string]tracer.FileFormat{"chrome": tracer.Chrome, "Perfetto": tracer.Chrome, "speedscope": tracer.Speedscope, "callgrind": tracer.Callgrind, "folded": tracer.Collapsed} {
		got, err := tracer.ParseFileFormat(in)
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
	_, err := tracer.ParseFileFormat("pprof")
	assert.ErrorContains(t, err, `unknown format "pprof"`)
	for name, want := range map[string]tracer.FileFormat{
		"a.speedscope.json": tracer.Speedscope, "t.json": tracer.Chrome, "callgrind.out.123": tracer.Callgrind,
		"x.folded": tracer.Collapsed, "x.txt": "",
	} {
		assert.Equal(t, want, tracer.FormatFromName(name), name)
	}
	// content decides, the name breaks ties
	assert.Equal(t, tracer.Speedscope, tracer.GuessFormat("p.speedscope.json", []byte(`{"profiles":[]}`)))
	assert.Equal(t, tracer.Collapsed, tracer.GuessFormat("p.json", []byte("a;b 1\n")))
}

func fuzzImport(f *testing.F, format tracer.FileFormat, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// collapsed stacks write the whole stack of every call: a deep
		// recursion of n calls is n²/2 frames, so keep n small here
		tr := tracer.NewTrace(2_000)
		_, _ = tracer.Import(bytes.NewReader(in), format, tr)
		tr.Callgraph()
		for _, th := range tr.Threads() {
			for _, r := range tr.Roots(th.TID) {
				tr.Children(r)
			}
		}
		// what we read, we write, and read back
		for _, out := range tracer.FileFormats {
			var buf bytes.Buffer
			if err := tracer.Export(&buf, out, tr); err != nil {
				t.Fatal(err)
			}
			if tr.Stats().Events == 0 {
				continue
			}
			if _, err := tracer.Import(bytes.NewReader(buf.Bytes()), out, tracer.NewTrace(2_000)); err != nil {
				t.Fatalf("reading our own %s output: %v\n%s", out, err, buf.Bytes())
			}
		}
	})
}

func interopSeeds(f *testing.F, glob string) []string {
	files, err := filepath.Glob(filepath.Join("testdata/interop", glob))
	if err != nil {
		f.Fatal(err)
	}
	var out []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 16<<10 {
			out = append(out, string(b))
		}
	}
	return out
}

func FuzzReadSpeedscope(f *testing.F) {
	seeds := append(interopSeeds(f, "speedscope_*"), importBadSeeds(tracer.Speedscope)...)
	fuzzImport(f, tracer.Speedscope, seeds...)
}

func FuzzReadCallgrind(f *testing.F) {
	seeds := append(interopSeeds(f, "callgrind_*"), importBadSeeds(tracer.Callgrind)...)
	fuzzImport(f, tracer.Callgrind, seeds...)
}

func FuzzReadCollapsed(f *testing.F) {
	seeds := append(interopSeeds(f, "stackcollapse_*"), importBadSeeds(tracer.Collapsed)...)
	fuzzImport(f, tracer.Collapsed, seeds...)
}

// FuzzImport guesses the format, as `flowscape convert` does.
func FuzzImport(f *testing.F) {
	seeds := interopSeeds(f, "*")
	for _, tt := range readChromeTests {
		seeds = append(seeds, tt.in)
	}
	fuzzImport(f, "", seeds...)
}

// importBadSeeds returns the inputs of TestImportBadInput for a format.
func importBadSeeds(format tracer.FileFormat) []string {
	seeds := map[tracer.FileFormat][]string{
		tracer.Speedscope: {
			`{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"evented","unit":"none","events":[{"type":"O","frame":0,"at":0},{"type":"O","frame":5,"at":1}]}]}`,
			`{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"sampled","unit":"none","samples":[[0]],"weights":[1,2]}]}`,
		},
		tracer.Callgrind: {"events: x\nfn=(4)\n1 2\n", "events: x\nfn=a\ncfn=b\ncalls=1 2\n", "fl=(1) a.c\nfn=(1) f\n+3 5\n-1 2\n* 4\ncfn=(1)\ncalls=3 0\n* 9\n"},
		tracer.Collapsed: {"a;b 3\nc;d\n", "a;b;c 1.5\n"},
	}
	return seeds[format]
}

// checkSpeedscope checks what speedscope's importer requires of an evented
// profile: frames that exist, values within [startValue, endValue] in
// order, and every open closed by the matching close.
func checkSpeedscope(t *testing.T, out []byte) {
	t.Helper()
	var doc struct {
		Schema string `json:"$schema"`
		Shared struct {
			Frames []struct {
				Name string `json:"name"`
			} `json:"frames"`
		} `json:"shared"`
		Profiles []struct {
			Type       string  `json:"type"`
			Unit       string  `json:"unit"`
			StartValue float64 `json:"startValue"`
			EndValue   float64 `json:"endValue"`
			Events     []struct {
				Type  string  `json:"type"`
				Frame int     `json:"frame"`
				At    float64 `json:"at"`
			} `json:"events"`
		} `json:"profiles"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	assert.Equal(t, "https://www.speedscope.app/file-format-schema.json", doc.Schema)
	require.NotEmpty(t, doc.Profiles)
	for pi, p := range doc.Profiles {
		assert.Equal(t, "evented", p.Type)
		assert.Equal(t, "nanoseconds", p.Unit)
		var stack []int
		last := p.StartValue
		for i, e := range p.Events {
			require.Less(t, e.Frame, len(doc.Shared.Frames), "profile %d event %d", pi, i)
			require.GreaterOrEqual(t, e.At, last, "profile %d event %d goes back in time", pi, i)
			require.LessOrEqual(t, e.At, p.EndValue, "profile %d event %d after endValue", pi, i)
			last = e.At
			switch e.Type {
			case "O":
				stack = append(stack, e.Frame)
			case "C":
				require.NotEmpty(t, stack, "profile %d event %d closes nothing", pi, i)
				require.Equal(t, stack[len(stack)-1], e.Frame, "profile %d event %d closes another frame", pi, i)
				stack = stack[:len(stack)-1]
			default:
				t.Fatalf("profile %d event %d: type %q", pi, i, e.Type)
			}
		}
		assert.Empty(t, stack, "profile %d leaves frames open", pi)
	}
}

// What WriteSpeedscope writes is what speedscope's importer accepts, for
// the golden trace (a call still open, an exception, a C call) and for
// every fixture.
func TestWriteSpeedscopeValid(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, tracer.WriteSpeedscope(&buf, goldenTrace()))
	checkSpeedscope(t, buf.Bytes())
	files, err := filepath.Glob("testdata/interop/*")
	require.NoError(t, err)
	for _, path := range files {
		if filepath.Base(path) == "NOTICE" {
			continue
		}
		tr, _, _ := importFile(t, path)
		buf.Reset()
		require.NoError(t, tracer.WriteSpeedscope(&buf, tr))
		t.Run(filepath.Base(path), func(t *testing.T) { checkSpeedscope(t, buf.Bytes()) })
	}
}

// A speedscope file opens on the process's main thread, whatever order its
// threads came in: VizTracer's multithread example lists its four workers
// first.
func TestWriteSpeedscopeOpensOnMainThread(t *testing.T) {
	opened := func(t *testing.T, tr *tracer.Trace) string {
		t.Helper()
		var buf bytes.Buffer
		require.NoError(t, tracer.WriteSpeedscope(&buf, tr))
		var doc struct {
			Active   *int `json:"activeProfileIndex"`
			Profiles []struct {
				Name string `json:"name"`
			} `json:"profiles"`
		}
		require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
		require.NotNil(t, doc.Active, "activeProfileIndex")
		require.Less(t, *doc.Active, len(doc.Profiles))
		return doc.Profiles[*doc.Active].Name
	}

	tr, _, err := importFile(t, "testdata/interop/viztracer_multithread.json")
	require.NoError(t, err)
	require.NotEqual(t, "MainThread", tr.Threads()[0].Name, "the fixture lists a worker first")
	assert.Equal(t, "MainThread", opened(t, tr))

	// three threads, each running 1 µs; one ran longer
	traceOf := func(pid int, threads ...tracer.Thread) *tracer.Trace {
		tr := tracer.NewTrace(0)
		tr.Process(tracer.ProcessInfo{PID: pid})
		tr.Frames([]tracer.Frame{{ID: 1, Func: "f", File: "a.py", Line: 1}})
		for i, th := range threads {
			tr.Thread(th)
			end := int64(2000)
			if i == 1 {
				end = 9000
			}
			tr.Events(th.TID, []tracer.Event{{TS: 1000, Frame: 1, Kind: tracer.Call}, {TS: end, Frame: 1, Kind: tracer.Return}})
		}
		return tr
	}
	tests := []struct {
		name    string
		pid     int
		threads []tracer.Thread
		want    string
	}{
		{"the thread whose tid is the pid", 30, []tracer.Thread{{TID: 31, Name: "MainThread"}, {TID: 32, Name: "w"}, {TID: 30, Name: "renamed"}}, "renamed"},
		{"else the one Python names MainThread", 30, []tracer.Thread{{TID: 1, Name: "w1"}, {TID: 2, Name: "w2"}, {TID: 3, Name: "MainThread"}}, "MainThread"},
		{"else the one that ran longest", 0, []tracer.Thread{{TID: 1, Name: "w1"}, {TID: 2, Name: "w2"}, {TID: 3, Name: "w3"}}, "w2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, opened(t, traceOf(tt.pid, tt.threads...)))
		})
	}
}
