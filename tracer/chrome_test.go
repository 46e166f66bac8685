package tracer_test

import (
	"bytes"
	"errors"
	"flag"
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

			// the flow keeps its shape: same entries, same depths
			var wantFlow, gotFlow []string
			flow := func(out *[]string) func(uint32, tracer.Event, int) bool {
				return func(tid uint32, e tracer.Event, depth int) bool {
					if e.Kind.IsEntry() {
						*out = append(*out, strings.Repeat(" ", depth)+e.Kind.String())
					}
					return true
				}
			}
			want.Walk(flow(&wantFlow))
			got.Walk(flow(&gotFlow))
			assert.Equal(t, wantFlow, gotFlow)
		})
	}
}

// readChromeTests seed FuzzReadChrome too.
var readChromeTests = []struct {
	name     string
	in       string
	calls    map[string]int64 // by label
	incl     map[string]int64 // by label, ns
	threads  []tracer.Thread
	ignored  map[string]int
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
		calls:   map[string]int64{"f ( :0)": 1, "h (b.py:1)": 1},
		incl:    map[string]int64{"f ( :0)": 3000, "h (b.py:1)": 1000},
		threads: []tracer.Thread{{TID: 7, Name: "worker"}},
		ignored: map[string]int{"C": 1, "i": 1},
	},
	{
		name:    "string tid and unparsable name",
		in:      `[{"ph":"X","name":"weird(","ts":10,"dur":1,"pid":"p","tid":"main"}]`,
		calls:   map[string]int64{"weird( ( :0)": 1},
		threads: []tracer.Thread{{TID: 1 << 31, Name: "main"}},
	},
	{
		name:    "B without E stays open",
		in:      `[{"ph":"B","name":"f (a.py:1)","ts":1,"tid":3},{"ph":"X","name":"g (a.py:2)","ts":2,"dur":1,"tid":3}]`,
		calls:   map[string]int64{"f (a.py:1)": 1, "g (a.py:2)": 1},
		incl:    map[string]int64{"f (a.py:1)": 2000, "g (a.py:2)": 1000},
		threads: []tracer.Thread{{TID: 3}},
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
		calls:    map[string]int64{"f ( :0)": 1},
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
				if n.Frame.File == "" {
					label = n.Frame.Func + " ( :0)"
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
