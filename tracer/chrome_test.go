package tracer_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got))
}

// goldenScript is the trace of the golden files: two threads, recursion, a
// C call, an exception and a call still open.
const goldenScript = `
	@101
	1000000 > main 1
	1002000 > fib 3
	1002500 > fib 4
	1003000 < fib 5
	1003600 < fib 6
	1004000 c> len
	1004100 c< len
	1015000 > parse 20
	1015200 > token 30
	1015900 ! token 31
	1016000 ! parse 22
	1057000 > wait 40
	@102
	1001500 > worker 50
	1001600 > fib 3
	1001750 < fib 5
	1209000 < worker 55`

func goldenTrace() *tracer.Trace {
	tr := tracer.NewTrace(0)
	tr.Process(tracer.ProcessInfo{PID: 4242, Command: []string{"python3", "demo.py"}, Interpreter: "/usr/bin/python3", Version: "3.12.3", Mode: "setprofile", StartNS: 999000})
	tr.Thread(tracer.Thread{TID: 101, Name: "MainThread"})
	script(goldenScript).apply(tr)
	return tr
}

func TestWriteFlowGolden(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, tracer.WriteFlow(&buf, goldenTrace()))
	golden(t, "flow.golden", buf.Bytes())
}

func TestWriteChromeGolden(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, tracer.WriteChrome(&buf, goldenTrace()))
	golden(t, "chrome.golden.json", buf.Bytes())
}

// funcStats is what a round trip must keep, by frame label.
type funcStats struct {
	calls, incl int64
}

func statsByLabel(g *tracer.Graph) map[string]funcStats {
	out := map[string]funcStats{}
	for _, n := range g.Nodes {
		out[n.Frame.Label()] = funcStats{calls: n.Calls, incl: n.Inclusive}
	}
	return out
}

func TestChromeRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		script string
		start  int64
	}{
		{"golden", goldenScript, 999000},
		{"tree", treeScript, 0},
	}
	for _, tt := range callgraphTests {
		tests = append(tests, struct {
			name   string
			script string
			start  int64
		}{tt.name, tt.script, tt.start})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := script(tt.script).trace(0, tracer.ProcessInfo{PID: 7, StartNS: tt.start})
			var buf bytes.Buffer
			require.NoError(t, tracer.WriteChrome(&buf, want))

			got := tracer.NewTrace(0)
			require.NoError(t, tracer.ReadChrome(bytes.NewReader(buf.Bytes()), got), buf.String())

			wantStats, gotStats := statsByLabel(want.Callgraph()), statsByLabel(got.Callgraph())
			require.Len(t, gotStats, len(wantStats))
			for label, w := range wantStats {
				g, ok := gotStats[label]
				require.True(t, ok, label)
				assert.Equal(t, w.calls, g.calls, "%s calls", label)
				assert.InDelta(t, w.incl, g.incl, 1000, "%s inclusive", label)
			}
			assert.Equal(t, want.StartNS(), got.StartNS())
			assert.Equal(t, 7, got.Info().PID)
			assert.Equal(t, len(want.Threads()), len(got.Threads()))

			// the flow keeps its shape and its lines: the same entries at
			// the same depths and times, each with its line, and the
			// returns with theirs (a call closed by the exit of its caller
			// comes back with an exit of its own: unwinds are not compared)
			flow := func(tr *tracer.Trace) (entries, exits []string) {
				tr.Walk(func(tid uint32, e tracer.Event, depth int) bool {
					f, _ := tr.Frame(e.Frame)
					ev := fmt.Sprintf("%d %s%s %s line %d at %d", tid, strings.Repeat(" ", depth), e.Kind, f.Label(), e.Line, e.TS)
					switch {
					case e.Kind.IsEntry():
						entries = append(entries, ev)
					case e.Kind != tracer.Unwind:
						exits = append(exits, ev)
					}
					return true
				})
				return entries, exits
			}
			wantEntries, wantExits := flow(want)
			gotEntries, gotExits := flow(got)
			assert.Equal(t, wantEntries, gotEntries)
			assert.Equal(t, wantExits, gotExits)
		})
	}
}

// Functions come back as they were whatever their names, though each
// event is named by its label alone where that says everything: a file
// with " (" in its path, a function without a file whose name looks like a
// label, C functions, functions with parentheses or colons in their names.
func TestChromeRoundTripFrames(t *testing.T) {
	frames := []tracer.Frame{
		{ID: 1, Func: "main", File: "/srv/app.py", Line: 1},
		{ID: 2, Func: "f", File: "/tmp/my (copy)/x.py", Line: 3},
		{ID: 3, Func: "weird (a.py:1)"},
		{ID: 4, Func: "g (inner)", File: "b.py", Line: 7},
		{ID: 5, Func: "len", File: "~", C: true},
		{ID: 6, Func: "from_collapsed_stacks"},
		{ID: 7, Func: "odd:name (x.py:2)", File: "c.py", Line: 5},
		{ID: 8, Func: "builtins.print", C: true},
		{ID: 9, Func: "h", File: "d.py:9", Line: 12},
		{ID: 10, Func: "<lambda>", File: "<string>", Line: 0},
	}
	want := tracer.NewTrace(0)
	want.Process(tracer.ProcessInfo{PID: 3})
	want.Frames(frames)
	evs := []tracer.Event{{TS: 1000, Frame: 1, Kind: tracer.Call}}
	for i, f := range frames[1:] {
		call, ret := tracer.Call, tracer.Return
		if f.C {
			call, ret = tracer.CCall, tracer.CReturn
		}
		ts := int64(2000 + 1000*i)
		evs = append(evs, tracer.Event{TS: ts, Frame: f.ID, Line: int32(i), Kind: call},
			tracer.Event{TS: ts + 500, Frame: f.ID, Line: int32(i + 1), Kind: ret})
	}
	evs = append(evs, tracer.Event{TS: 20000, Frame: 1, Kind: tracer.Return})
	want.Events(1, evs)

	var buf bytes.Buffer
	require.NoError(t, tracer.WriteChrome(&buf, want))
	got := tracer.NewTrace(0)
	require.NoError(t, tracer.ReadChrome(bytes.NewReader(buf.Bytes()), got))
	seen := func(tr *tracer.Trace) []tracer.Frame {
		var out []tracer.Frame
		tr.Walk(func(_ uint32, e tracer.Event, _ int) bool {
			if e.Kind.IsEntry() {
				f, _ := tr.Frame(e.Frame)
				f.ID = 0
				if f.File == "~" {
					f.File = "" // the agent's file for C functions is not kept
				}
				out = append(out, f)
			}
			return true
		})
		return out
	}
	assert.Equal(t, seen(want), seen(got), buf.String())

	// args only where the name is not enough: the file with " (" and the
	// name that looks like a label
	assert.Equal(t, 2, strings.Count(buf.String(), `"args":{"file"`), buf.String())
}

// readChromeTests seed FuzzReadChrome too.
var readChromeTests = []struct {
	name     string
	in       string
	calls    map[string]int64 // by label
	incl     map[string]int64 // by label, ns
	threads  []tracer.Thread
	ignored  map[string]int
	instants []tracer.Instant
	counters []tracer.CounterSample
	wantErr  string // substring; "" for none
	errEvent int    // FormatError.Event when wantErr is set
}{
	{
		name: "array of X events without args",
		in: `[{"ph":"X","name":"f (a.py:3)","ts":1.5,"dur":5,"pid":1,"tid":2},
			{"ph":"X","name":"g (a.py:9)","ts":2,"dur":1.25,"pid":1,"tid":2}]`,
		calls:   map[string]int64{"f (a.py:3)": 1, "g (a.py:9)": 1},
		incl:    map[string]int64{"f (a.py:3)": 5000, "g (a.py:9)": 1250},
		threads: []tracer.Thread{{TID: 2}},
	},
	{
		name: "children before parents in the file",
		in: `[{"ph":"X","name":"g (a.py:9)","ts":2,"dur":1,"tid":1},
			{"ph":"X","name":"g (a.py:9)","ts":4,"dur":1,"tid":1},
			{"ph":"X","name":"f (a.py:3)","ts":2,"dur":5,"tid":1}]`,
		calls:   map[string]int64{"f (a.py:3)": 1, "g (a.py:9)": 2},
		incl:    map[string]int64{"f (a.py:3)": 5000, "g (a.py:9)": 2000},
		threads: []tracer.Thread{{TID: 1}},
	},
	{
		name: "object with B/E, M and other phases",
		in: `{"displayTimeUnit":"ms","traceEvents":[
			{"ph":"M","name":"process_name","pid":9,"tid":9,"args":{"name":"demo"}},
			{"ph":"M","name":"thread_name","pid":9,"tid":7,"args":{"name":"worker"}},
			{"ph":"B","name":"f","ts":0,"pid":9,"tid":7},
			{"ph":"C","name":"mem","ts":1,"pid":9,"tid":7,"args":{"rss":5}},
			{"ph":"B","name":"h (b.py:1)","ts":1,"pid":9,"tid":7},
			{"ph":"E","ts":2,"pid":9,"tid":7},
			{"ph":"E","ts":3,"pid":9,"tid":7},
			{"ph":"i","name":"mark","ts":3,"pid":9,"tid":7}
		],"stackFrames":{}}`,
		calls:   map[string]int64{"f": 1, "h (b.py:1)": 1},
		incl:    map[string]int64{"f": 3000, "h (b.py:1)": 1000},
		threads: []tracer.Thread{{TID: 7, Name: "worker"}},
		// instants and counters are kept as marks, on the calls' clock
		instants: []tracer.Instant{{TS: 3000, TID: 7, Name: "mark", Scope: 't'}},
		counters: []tracer.CounterSample{{TS: 1000, Name: "mem", Series: "rss", Value: 5}},
	},
	{
		name:    "string tid and unparsable name",
		in:      `[{"ph":"X","name":"weird(","ts":10,"dur":1,"pid":"p","tid":"main"}]`,
		calls:   map[string]int64{"weird(": 1},
		threads: []tracer.Thread{{TID: 1 << 31, Name: "main"}},
	},
	{
		name:    "B without E stays open",
		in:      `[{"ph":"B","name":"f (a.py:1)","ts":1,"tid":3},{"ph":"X","name":"g (a.py:2)","ts":2,"dur":1,"tid":3}]`,
		calls:   map[string]int64{"f (a.py:1)": 1, "g (a.py:2)": 1},
		incl:    map[string]int64{"f (a.py:1)": 2000, "g (a.py:2)": 1000},
		threads: []tracer.Thread{{TID: 3}},
	},
	{
		// VizTracer names Python functions "func (file:line)" and C
		// functions "module.func", both in category FEE
		name: "VizTracer's C functions",
		in: `{"traceEvents":[{"ph":"X","name":"f (a.py:3)","cat":"FEE","ts":1,"dur":5,"pid":1,"tid":1},
			{"ph":"X","name":"builtins.len","cat":"FEE","ts":2,"dur":1,"pid":1,"tid":1},
			{"ph":"X","name":"time.sleep","cat":"fee","ts":3,"dur":1,"pid":1,"tid":1},
			{"ph":"X","name":"marker","ts":4,"dur":1,"pid":1,"tid":1}],
			"viztracer_metadata":{"version":"1.1.1"}}`,
		calls:   map[string]int64{"f (a.py:3)": 1, "builtins.len [C]": 1, "time.sleep [C]": 1, "marker": 1},
		threads: []tracer.Thread{{TID: 1}},
	},
	{
		// WriteChrome's own: category c for C functions, a call's lines
		// beside the standard fields, args only where the name is not
		// enough
		name: "categories, lines and args as WriteChrome writes them",
		in: `[{"ph":"X","name":"f (a.py:3)","cat":"python","pid":1,"tid":1,"ts":1.000,"dur":5.000,"line":4,"exit_line":6},
			{"ph":"X","name":"len","cat":"c","pid":1,"tid":1,"ts":2.000,"dur":1.000},
			{"ph":"X","name":"g (x.py:1)","cat":"python","pid":1,"tid":1,"ts":3.500,"dur":0.500,"open":true,"args":{"file":"","first_line":0}},
			{"ph":"X","name":"h (/tmp/a (1)/b.py:7)","cat":"python","pid":1,"tid":1,"ts":4.000,"dur":1.000,"args":{"file":"/tmp/a (1)/b.py","first_line":7}}]`,
		calls:   map[string]int64{"f (a.py:3)": 1, "len [C]": 1, "g (x.py:1)": 1, "h (/tmp/a (1)/b.py:7)": 1},
		incl:    map[string]int64{"f (a.py:3)": 5000, "len [C]": 1000},
		threads: []tracer.Thread{{TID: 1}},
	},
	{
		name: "lines and C functions in args, as WriteChrome wrote them before",
		in: `[{"ph":"X","name":"fib (prog.py:20)","cat":"python","pid":1,"tid":1,"ts":3.000,"dur":1.600,"args":{"file":"prog.py","first_line":20,"line":3,"exit_line":6}},
			{"ph":"X","name":"len","cat":"python","pid":1,"tid":1,"ts":3.500,"dur":0.100,"args":{"file":"~","first_line":0,"line":0,"exit_line":0,"c":true}}]`,
		calls:   map[string]int64{"fib (prog.py:20)": 1, "len [C]": 1},
		incl:    map[string]int64{"fib (prog.py:20)": 1600, "len [C]": 100},
		threads: []tracer.Thread{{TID: 1}},
	},
	{name: "empty", in: ``, wantErr: "empty input", errEvent: -1},
	{name: "not a trace", in: `5`, wantErr: "want an array or an object", errEvent: -1},
	{name: "object without events", in: `{"foo":[1,2]}`, wantErr: "no traceEvents", errEvent: -1},
	{
		name:     "truncated after one event",
		in:       `[{"ph":"X","name":"f (a.py:3)","ts":1,"dur":1,"tid":1},{"ph":"X","na`,
		calls:    map[string]int64{"f (a.py:3)": 1},
		threads:  []tracer.Thread{{TID: 1}},
		wantErr:  "event 1",
		errEvent: 1,
	},
	{
		name:     "bad timestamp type",
		in:       `[{"ph":"X","name":"f","ts":1,"dur":1,"tid":1},{"ph":"X","name":"f","ts":true,"tid":1}]`,
		calls:    map[string]int64{"f": 1},
		threads:  []tracer.Thread{{TID: 1}},
		wantErr:  "event 1",
		errEvent: 1,
	},
	{
		name:     "tid out of range",
		in:       `[{"ph":"X","name":"f","ts":1,"dur":1,"tid":-4}]`,
		wantErr:  "tid -4 out of range",
		errEvent: 0,
	},
	{
		name:     "timestamp out of range",
		in:       `[{"ph":"X","name":"f","ts":1e300,"dur":1,"tid":1}]`,
		wantErr:  "out of range",
		errEvent: 0,
	},
}

func TestReadChrome(t *testing.T) {
	for _, tt := range readChromeTests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tracer.NewTrace(0)
			report, err := tracer.ReadChromeReport(strings.NewReader(tt.in), tr)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				var fe *tracer.FormatError
				require.True(t, errors.As(err, &fe))
				assert.Equal(t, tt.errEvent, fe.Event)
				assert.LessOrEqual(t, fe.Offset, int64(len(tt.in)))
			} else {
				require.NoError(t, err)
			}

			g := tr.Callgraph()
			gotCalls := map[string]int64{}
			gotIncl := map[string]int64{}
			for _, n := range g.Nodes {
				label := n.Frame.Label()
				if n.Frame.C {
					label += " [C]"
				}
				gotCalls[label] = n.Calls
				gotIncl[label] = n.Inclusive
			}
			if tt.calls == nil {
				assert.Empty(t, gotCalls)
			} else {
				assert.Equal(t, tt.calls, gotCalls)
			}
			for label, want := range tt.incl {
				assert.Equal(t, want, gotIncl[label], label)
			}
			if tt.threads == nil {
				assert.Empty(t, tr.Threads())
			} else {
				assert.Equal(t, tt.threads, tr.Threads())
			}
			for ph, n := range tt.ignored {
				assert.Equal(t, n, report.Ignored[ph], "ignored %s", ph)
			}
			assert.Equal(t, tt.instants, tr.Instants())
			assert.Equal(t, tt.counters, tr.Counters())
		})
	}
}

func TestReadChromeProcess(t *testing.T) {
	tr := tracer.NewTrace(0)
	in := `{"traceEvents":[{"ph":"M","name":"process_name","pid":9,"args":{"name":"demo"}}]}`
	require.NoError(t, tracer.ReadChrome(strings.NewReader(in), tr))
	assert.Equal(t, tracer.ProcessInfo{PID: 9, Command: []string{"demo"}}, tr.Info())

	var buf bytes.Buffer
	require.NoError(t, tracer.WriteChrome(&buf, goldenTrace()))
	tr = tracer.NewTrace(0)
	require.NoError(t, tracer.ReadChrome(&buf, tr))
	assert.Equal(t, goldenTrace().Info(), tr.Info())
	assert.Equal(t, []tracer.Thread{{TID: 101, Name: "MainThread"}, {TID: 102, Name: "thread 102"}}, tr.Threads())
}

func FuzzReadChrome(f *testing.F) {
	for _, tt := range readChromeTests {
		f.Add([]byte(tt.in))
	}
	var buf bytes.Buffer
	if err := tracer.WriteChrome(&buf, goldenTrace()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := tracer.NewTrace(10_000)
		_, _ = tracer.ReadChromeReport(bytes.NewReader(in), tr)
		tr.Callgraph()
		for _, th := range tr.Threads() {
			for _, r := range tr.Roots(th.TID) {
				tr.Children(r)
				tr.Node(r)
			}
		}
		var out bytes.Buffer
		if err := tracer.WriteChrome(&out, tr); err != nil {
			t.Fatal(err)
		}
		// what we write, we read
		if err := tracer.ReadChrome(bytes.NewReader(out.Bytes()), tracer.NewTrace(10_000)); err != nil {
			t.Fatalf("reading our own output: %v\n%s", err, out.Bytes())
		}
	})
}
