package pydtrace

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"

	"flowscape/tracer"
)

func calls(tr *tracer.Trace) map[string]int64 {
	out := map[string]int64{}
	for _, n := range tr.Callgraph().Nodes {
		out[n.Frame.Func] = n.Calls
	}
	return out
}

// flow.txt is the flow script's output for a program with a recursive fib
// on its main thread and a worker thread (file names with spaces).
func TestParseFlow(t *testing.T) {
	f, err := os.Open("testdata/flow.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tracer.NewTrace(0)
	if err := Parse(f, tr); err != nil {
		t.Fatal(err)
	}
	got := calls(tr)
	want := map[string]int64{"<module>": 1, "main": 1, "fib": 2, "run": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d calls, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if st := tr.Stats(); st.Threads != 2 || st.Unmatched != 0 || st.Open != 1 {
		t.Errorf("stats %+v: want 2 threads, no unmatched return, <module> still open", st)
	}
	g := tr.Callgraph()
	for _, n := range g.Nodes {
		if n.Frame.Func == "fib" && (n.Frame.Line != 3 || n.Inclusive != 300) {
			t.Errorf("fib: line %d, inclusive %d; want 3 and 300 ns (recursion once)", n.Frame.Line, n.Inclusive)
		}
		if n.Frame.Func == "run" && n.Frame.File != "/Users/ann/my app/worker.py" {
			t.Errorf("run's file %q", n.Frame.File)
		}
	}
}

var badFlows = []struct{ in, want string }{
	{"1\t2\t>\ta.py\tf\n", "line 1: 5 tab-separated fields"},
	{"\n1\t2\t?\ta.py\tf\t3\n", `line 2: direction "?"`},
	{"x\t2\t>\ta.py\tf\t3\n", "line 1: bad number"},
	{"1\t2\t>\ta.py\tf\t3\n1\t2\t<\ta.py\tf\tnine\n", "line 2: bad number"},
}

func TestParseBadLines(t *testing.T) {
	for _, tt := range badFlows {
		tr := tracer.NewTrace(0)
		err := Parse(strings.NewReader(tt.in), tr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	// what came before a bad line is kept
	tr := tracer.NewTrace(0)
	_ = Parse(strings.NewReader(badFlows[3].in), tr)
	if calls(tr)["f"] != 1 {
		t.Error("the call before the bad line was lost")
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range badFlows {
		f.Add(tt.in)
	}
	b, _ := os.ReadFile("testdata/flow.txt")
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, in string) {
		tr := tracer.NewTrace(1000)
		_ = Parse(strings.NewReader(in), tr)
		_ = tr.Callgraph()
	})
}

func TestUnavailableOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	info := Backend{}.Info(context.Background())
	if info.Available || !strings.Contains(info.Reason, "not available on Linux") {
		t.Errorf("info %+v", info)
	}
	if err := Run(context.Background(), 1, tracer.NewTrace(0)); err == nil || !strings.Contains(err.Error(), "usdt") {
		t.Errorf("Run: %v", err)
	}
}
