package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"flowscape/sources/pyagent"
)

// testInterpreters lists the Pythons 3.8+ on this machine; the test is
// skipped where there are none.
func testInterpreters(t *testing.T) []pyagent.Interpreter {
	t.Helper()
	var out []pyagent.Interpreter
	for _, it := range pyagent.Discover(context.Background()) {
		if it.Supported() {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		t.Skip("no Python 3.8 or newer on this machine")
	}
	return out
}

type cgJSON struct {
	Nodes []struct {
		ID       int    `json:"id"`
		Function string `json:"function"`
		File     string `json:"file"`
		Line     int    `json:"line"`
		Calls    int64  `json:"calls"`
	} `json:"nodes"`
	Edges []struct {
		From, To int
		Calls    int64
	} `json:"edges"`
}

// TestCallCountsEqualCProfile is the oracle: for each program and each
// interpreter, the call counts `flowscape callgraph` reports for the
// program's own functions equal cProfile's ncalls for the same program.
func TestCallCountsEqualCProfile(t *testing.T) {
	interps := testInterpreters(t)
	progs, err := filepath.Glob("../sources/pyagent/testdata/oracle/*.py")
	if err != nil || len(progs) == 0 {
		t.Fatalf("no oracle programs: %v", err)
	}
	counter, _ := filepath.Abs("../sources/pyagent/testdata/cprofile_counts.py")
	for _, it := range interps {
		for _, prog := range progs {
			prog, _ := filepath.Abs(prog)
			for _, hook := range []string{"c", "python"} {
				t.Run(it.Version+"/"+hook+"/"+filepath.Base(prog), func(t *testing.T) {
					out, err := exec.Command(it.Path, counter, prog).Output()
					if err != nil {
						t.Fatalf("cProfile run: %v", err)
					}
					// The program's own output comes first; the counts are the last line.
					out = bytes.TrimSpace(out)
					out = out[bytes.LastIndexByte(out, '\n')+1:]
					var want map[string]int64
					if err := json.Unmarshal(out, &want); err != nil {
						t.Fatalf("cProfile output %q: %v", out, err)
					}
					got := tracedCounts(t, it.Path, prog, hook)
					for k, n := range want {
						if !strings.HasPrefix(k, prog+":") {
							continue
						}
						if got[k] != n {
							t.Errorf("%s: flowscape counted %d calls, cProfile %d", strings.TrimPrefix(k, prog+":"), got[k], n)
						}
					}
					for k, n := range got {
						if strings.HasPrefix(k, prog+":") {
							if _, ok := want[k]; !ok {
								t.Errorf("%s: flowscape counted %d calls, cProfile none", strings.TrimPrefix(k, prog+":"), n)
							}
						}
					}
				})
			}
		}
	}
}

// tracedCounts runs prog through `flowscape trace` and `flowscape
// callgraph --format json` and returns calls keyed like cProfile's
// file:line:name (name without its qualifying prefix, as cProfile
// prints it).
func tracedCounts(t *testing.T, py, prog, hook string) map[string]int64 {
	t.Helper()
	file := filepath.Join(t.TempDir(), "trace.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"trace", "-o", file, "--hook", hook, "--", py, prog}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("flowscape trace --hook %s exited %d: %s", hook, code, stderr.String())
	}
	wantMode := map[string]string{"c": "(C hook)", "python": "the Python hook was asked for"}[hook]
	if !strings.Contains(stderr.String(), wantMode) {
		t.Fatalf("flowscape trace --hook %s did not say %q: %s", hook, wantMode, stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"callgraph", "--format", "json", file}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("flowscape callgraph exited %d: %s", code, stderr.String())
	}
	var g cgJSON
	if err := json.Unmarshal(stdout.Bytes(), &g); err != nil {
		t.Fatalf("callgraph JSON: %v", err)
	}
	got := map[string]int64{}
	for _, n := range g.Nodes {
		name := n.Function
		if i := strings.LastIndexByte(name, '.'); i >= 0 && !strings.HasSuffix(name, ">") {
			name = name[i+1:]
		} else if i := strings.LastIndex(name, ".<"); i >= 0 {
			name = name[i+1:]
		}
		got[n.File+":"+strconv.Itoa(n.Line)+":"+name] += n.Calls
	}
	return got
}
