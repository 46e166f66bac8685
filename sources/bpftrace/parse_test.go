package bpftrace_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources/bpftrace"
	"flowscape/tracer/syscalls"
)

// parseAll feeds text to a parser and returns the intervals and errors.
func parseAll(text string) ([]syscalls.Interval, []error) {
	p := bpftrace.NewParser(bpftrace.Names())
	var ivs []syscalls.Interval
	var errs []error
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		iv, ok, err := p.Line(sc.Bytes())
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			ivs = append(ivs, iv)
		}
	}
	return ivs, errs
}

// TestRecordedTreeRun reads the output of bpftrace 0.17 running the tree script (testdata/tree.bt
// with the root pid 19939) recorded while ./work,er 200000 50000 1 ran: a
// process and its child, each with two threads calling getppid 200000 times
// and sched_yield 50000 times per thread.
func TestRecordedTreeRun(t *testing.T) {
	data, err := os.ReadFile("testdata/tree.jsonl")
	require.NoError(t, err)
	ivs, errs := parseAll(string(data))
	require.Empty(t, errs)
	require.Len(t, ivs, 7, "six ticks and the end (the first tick, for the empty interval before the first, is skipped)")
	assert.Equal(t, 501132948*time.Nanosecond, ivs[0].Length)
	assert.Equal(t, 4270752816957*time.Nanosecond, ivs[6].End)
	assert.Empty(t, ivs[0].Samples, "the command was still held")

	m := syscalls.New(syscalls.Options{})
	for _, iv := range ivs {
		m.Interval(iv)
	}
	tot := m.Totals()
	assert.Equal(t, uint64(800000), tot["getppid"])
	assert.Equal(t, uint64(200000), tot["sched_yield"])
	assert.Equal(t, uint64(1), tot["execve"], "the exec of the command")
	snap := m.Top(syscalls.ByProcess, 0)
	var labels []string
	for _, r := range snap.Rows {
		labels = append(labels, r.Label())
	}
	assert.Equal(t, []string{"work,er (19939)", "work,er (20001)"}, labels, "a comm with a comma")
}

var lineCases = []struct {
	name  string
	lines []string
	// want is the samples of the first interval, as "pid|comm|syscall|count".
	want []string
	err  string
}{
	{"comm with commas and spaces", []string{
		`{"type": "printf", "data": "flowscape ready 1000\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"12,a, b,c,0": 5, "13,x,1": 2}}}`,
		`{"type": "printf", "data": "flowscape tick 2000\n"}`,
	}, []string{"12|a, b,c|read|5", "13|x|write|2"}, ""},
	{"blank lines and other maps", []string{
		``, `{"type": "attached_probes", "data": {"probes": 3}}`,
		`{"type": "printf", "data": "flowscape ready 1000\n"}`, `   `,
		`{"type": "map", "data": {"@other": {"1": 9}}}`,
		`{"type": "map", "data": {"@flowscape_calls": {"7,sh,59": 1}}}`,
		`{"type": "printf", "data": "flowscape tick 1500\n"}`,
	}, []string{"7|sh|execve|1"}, ""},
	{"unknown and invalid numbers", []string{
		`{"type": "printf", "data": "flowscape ready 0\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"1,new,999": 1, "1,bad,-1": 2}}}`,
		`{"type": "printf", "data": "flowscape end 10\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"1,new,999": 1}}}`,
	}, []string{"1|bad|invalid|2", "1|new|syscall_999|1"}, ""},
	{"maps before ready are ignored", []string{
		`{"type": "map", "data": {"@flowscape_calls": {"1,x,0": 1}}}`,
		`{"type": "printf", "data": "flowscape ready 0\n"}`,
		`{"type": "printf", "data": "flowscape tick 10\n"}`,
	}, nil, ""},
	{"not json", []string{`Attaching 3 probes...`}, nil, "line 1"},
	{"bad key", []string{
		`{"type": "printf", "data": "flowscape ready 0\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"x,comm,0": 1}}}`,
	}, nil, `line 2: 1 bad keys, e.g. key "x,comm,0": bad pid`},
	{"key of two parts", []string{
		`{"type": "printf", "data": "flowscape ready 0\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"1,0": 1}}}`,
	}, nil, "want pid,comm,syscall"},
	{"tick before ready", []string{`{"type": "printf", "data": "flowscape tick 5\n"}`}, nil, "tick before ready"},
	{"bad count", []string{
		`{"type": "printf", "data": "flowscape ready 0\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"1,x,0": -4}}}`,
	}, nil, "line 2: map @flowscape_calls"},
}

func TestParserLines(t *testing.T) {
	for _, tc := range lineCases {
		t.Run(tc.name, func(t *testing.T) {
			ivs, errs := parseAll(strings.Join(tc.lines, "\n"))
			if tc.err != "" {
				require.NotEmpty(t, errs)
				assert.ErrorContains(t, errs[0], tc.err)
				return
			}
			require.Empty(t, errs)
			require.NotEmpty(t, ivs)
			var got []string
			for _, s := range ivs[0].Samples {
				got = append(got, strings.Join([]string{itoa(s.PID), s.Comm, s.Syscall, itoa(int(s.Count))}, "|"))
			}
			assert.ElementsMatch(t, tc.want, got)
		})
	}
}

func TestParserGoesOnAfterABadLine(t *testing.T) {
	ivs, errs := parseAll(strings.Join([]string{
		`{"type": "printf", "data": "flowscape ready 0\n"}`,
		`{"type": "map", "data": {"@flowscape_calls": {"1,x,0": 3}}}`,
		`{"type": "map", "da`,
		`{"type": "map", "data": {"@flowscape_calls": {"1,x,1": 4}}}`,
		`{"type": "printf", "data": "flowscape tick 1000000000\n"}`,
	}, "\n"))
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], "line 3")
	require.Len(t, ivs, 1)
	assert.Len(t, ivs[0].Samples, 2, "what came before and after is kept")
	assert.Equal(t, time.Second, ivs[0].Length)
}

func TestLostEventsAreCounted(t *testing.T) {
	p := bpftrace.NewParser(bpftrace.Names())
	_, _, err := p.Line([]byte(`{"type": "lost_events", "data": {"events": 12}}`))
	require.NoError(t, err)
	assert.Equal(t, uint64(12), p.Lost)
}

func itoa(n int) string { return strconv.Itoa(n) }

func FuzzParser(f *testing.F) {
	for _, tc := range lineCases {
		f.Add(strings.Join(tc.lines, "\n"))
	}
	if data, err := os.ReadFile("testdata/tree.jsonl"); err == nil {
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, text string) {
		ivs, _ := parseAll(text)
		m := syscalls.New(syscalls.Options{MaxProcs: 20})
		for _, iv := range ivs {
			if iv.Length < 0 {
				t.Fatalf("negative interval %v", iv.Length)
			}
			m.Interval(iv)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
