package pyusdt

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func parseFile(t *testing.T, name string) []Report {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reps []Report
	if err := Parse(f, func(r Report) { reps = append(reps, r) }); err != nil {
		t.Fatal(err)
	}
	return reps
}

func find(r Report, fn string) (FuncCount, bool) {
	for _, f := range r.Funcs {
		if f.Func == fn {
			return f, true
		}
	}
	return FuncCount{}, false
}

// Recorded from Debian's python3.11 running a loop of g() calling f() 2000
// times, 20 times a second.
func TestParseRecorded311(t *testing.T) {
	reps := parseFile(t, "bpftrace-3.11.jsonl")
	if len(reps) < 2 {
		t.Fatalf("%d reports, want at least 2", len(reps))
	}
	r := reps[0]
	f, ok := find(r, "f")
	if !ok || f.Returns == 0 || f.Entries != 0 {
		t.Fatalf("f: %+v (want returns and no entries)", f)
	}
	g, _ := find(r, "g")
	if f.Returns != 2000*g.Returns {
		t.Errorf("f returned %d times for %d returns of g, want 2000 each", f.Returns, g.Returns)
	}
	if r.Warning != GH98894 || !strings.Contains(r.Warning, "gh-98894") {
		t.Errorf("warning %q", r.Warning)
	}
	if r.Funcs[0].Func != "f" {
		t.Errorf("most returns first: %+v", r.Funcs)
	}

	reps = parseFile(t, "bpftrace-3.11-lines.jsonl")
	f, _ = find(reps[0], "f")
	if f.Entries == 0 || f.Line != 2 || reps[0].Warning != "" {
		t.Errorf("line mode: f %+v, warning %q; want entries, def line 2, no warning", f, reps[0].Warning)
	}
}

func TestParseCommasBlanksAndExitReprint(t *testing.T) {
	reps := parseFile(t, "commas.jsonl")
	if len(reps) != 2 {
		t.Fatalf("%d reports, want 2 (one per interval, one for the maps printed at exit)", len(reps))
	}
	h, ok := find(reps[0], "handle")
	if !ok || h.File != "/srv/a,b/app.py" || h.Line != 10 || h.Entries != 5 || h.Returns != 5 {
		t.Errorf("handle: %+v", h)
	}
	if h2, _ := find(reps[1], "handle"); h2.Returns != 2 {
		t.Errorf("exit reprint: %+v", reps[1])
	}
}

var badOutputs = []struct{ in, want string }{
	{"{\"type\": \"map\", \"data\": {\"@entries\": {\"nocomma\": 1}}}\n", "not file,function,line"},
	{"{\"type\": \"map\", \"data\": {\"@entries\": {\"a.py,f,x\": 1}}}\n", `line "x" is not a number`},
	{"{\"type\": \"map\", \"data\": {\"@returns\": {\"nocomma\": 1}}}\n", "no function name"},
	{"{\"type\": \"map\", \"data\": {\"@returns\": [1, 2]}}\n", "@returns"},
	{"\n\nnot json\n", "line 3"},
}

func TestParseBadOutput(t *testing.T) {
	for _, tt := range badOutputs {
		err := Parse(strings.NewReader(tt.in), func(Report) {})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want it to say %q", tt.in, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range badOutputs {
		f.Add(tt.in)
	}
	for _, name := range []string{"bpftrace-3.11.jsonl", "bpftrace-3.11-lines.jsonl", "commas.jsonl"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		_ = Parse(strings.NewReader(in), func(r Report) {
			for _, fc := range r.Funcs {
				if fc.Func == "" && fc.File == "" {
					t.Fatalf("empty function in %+v", r)
				}
			}
		})
	})
}

// canUSDT skips unless bpftrace can run here against Debian's python3.11.
func canUSDT(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("bpftrace"); err != nil {
		t.Skip("bpftrace is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("bpftrace needs root")
	}
	const py = "/usr/bin/python3.11"
	if ok, _ := HasProbes(context.Background(), py); !ok {
		t.Skip(py + " is missing or has no USDT probes")
	}
	return py
}

// On a real target: returns are counted, entries are not (and the report
// says why); in line mode entries are counted too.
func TestRunOnDebianPython(t *testing.T) {
	py := canUSDT(t)
	src := "import time\ndef f(n):\n    return n + 1\ndef g():\n    for i in range(500):\n        f(i)\nwhile True:\n    g()\n    time.sleep(0.02)\n"
	prog := t.TempDir() + "/target.py"
	if err := os.WriteFile(prog, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, lineMode := range []bool{false, true} {
		cmd := exec.Command(py, prog)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var reps []Report
		err := Run(ctx, Config{PID: cmd.Process.Pid, Interval: 500 * time.Millisecond, LineMode: lineMode}, func(r Report) { reps = append(reps, r) })
		cancel()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if err != nil {
			t.Fatalf("line mode %v: %v", lineMode, err)
		}
		var entries, returns int64
		for _, r := range reps {
			if f, ok := find(r, "f"); ok {
				entries += f.Entries
				returns += f.Returns
			}
		}
		if returns == 0 {
			t.Fatalf("line mode %v: no returns of f in %d reports", lineMode, len(reps))
		}
		if lineMode && entries == 0 {
			t.Errorf("line mode: no entries of f")
		}
		if !lineMode && (entries != 0 || reps[0].Warning != GH98894) {
			t.Errorf("entries %d, warning %q: want gh-98894's returns without entries", entries, reps[0].Warning)
		}
	}
}

func TestRunBadTargets(t *testing.T) {
	canUSDT(t)
	err := Run(context.Background(), Config{PID: 999999999}, func(Report) {})
	if err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("missing pid: %v", err)
	}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	err = Run(context.Background(), Config{PID: sleeper.Process.Pid}, func(Report) {})
	if err == nil || !strings.Contains(err.Error(), "no python USDT function probes") {
		t.Errorf("not Python: %v", err)
	}
}
