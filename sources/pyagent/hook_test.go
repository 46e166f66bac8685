package pyagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flowscape/assets"
	"flowscape/sources"
	"flowscape/tracer"
)

// hasCompiler skips the test where no C compiler is installed.
func hasCompiler(t *testing.T) {
	t.Helper()
	if _, err := compiler(""); err != nil {
		t.Skip("no C compiler here: " + err.Error())
	}
}

// The hook builds for every interpreter with headers, into a cache keyed by
// interpreter, and the second call reuses it.
func TestHookDirBuildsAndCaches(t *testing.T) {
	hasCompiler(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, it := range allPythons(t) {
		t.Run(it.Version, func(t *testing.T) {
			dir, err := HookDir(context.Background(), it.Path)
			var he *HookError
			if errors.As(err, &he) && strings.Contains(he.Reason, "Python.h") {
				t.Skipf("no headers for %s: %v", it.Path, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			libs, _ := filepath.Glob(filepath.Join(dir, assets.HookModule+".*.so"))
			if len(libs) != 1 {
				t.Fatalf("want one built module in %s, got %v", dir, libs)
			}
			st1, _ := os.Stat(libs[0])
			start := time.Now()
			dir2, err := HookDir(context.Background(), it.Path)
			if err != nil || dir2 != dir {
				t.Fatalf("second call: %s, %v; want %s", dir2, err, dir)
			}
			st2, _ := os.Stat(libs[0])
			if !st2.ModTime().Equal(st1.ModTime()) {
				t.Errorf("the cached module was rebuilt (%v)", time.Since(start))
			}
			// the module imports and records
			code := fmt.Sprintf(`import os, sys; sys.path.insert(0, %q); import %s as h
def flush():
    # what the agent's flusher does: take, then write the "E" record
    codes, cfuncs, tids, n = h.take()
    r, w = os.pipe()
    h.write(w)
    os.close(w)
    record = os.read(r, 1 << 20)
    os.close(r)
    assert len(record) == (10 + 21 * n if n else 0), (n, len(record))
    return codes, tids, n
h.configure("/x", False)
def f(): pass
h.install(); f(); h.uninstall()
codes, tids, n = flush()
print([c.co_name for _, c in codes], len(tids), n)
# a program that saves and restores its profile function keeps recording
h.install(); saved = sys.getprofile(); sys.setprofile(None); f(); sys.setprofile(saved); f(); sys.setprofile(None)
print(saved is h.profile, flush()[2])`, dir, assets.HookModule)
			out, err := exec.Command(it.Path, "-c", code).CombinedOutput()
			if err != nil {
				t.Fatalf("import the hook: %v: %s", err, out)
			}
			// f's call and return, and uninstall's C call (not recorded: no
			// C calls); then the second f only
			if got := strings.TrimSpace(string(out)); got != "['f'] 1 2\nTrue 2" {
				t.Errorf("hook recorded %q, want ['f'] 1 2 / True 2", got)
			}
		})
	}
}

// fakePython writes a shell script that answers the sysconfig query with
// include as the header directory.
func fakePython(t *testing.T, include string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python3")
	js := fmt.Sprintf(`{"include": %q, "ext_suffix": ".cpython-311-x86_64-linux-gnu.so", "cc": "", "soabi": "cpython-311", "gil_disabled": false, "version": "3.11.2", "executable": %q}`, include, p)
	// echo is a shell builtin: the script works with an empty PATH
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+js+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHookDirSaysWhyNot(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	_, err := HookDir(context.Background(), fakePython(t, t.TempDir()))
	var he *HookError
	if !errors.As(err, &he) || !strings.Contains(he.Reason, "no Python.h") || !strings.Contains(he.Reason, "python3.11-dev") {
		t.Errorf("no headers: got %v", err)
	}

	inc := t.TempDir()
	if err := os.WriteFile(filepath.Join(inc, "Python.h"), []byte("#error not really\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = HookDir(context.Background(), fakePython(t, inc))
	if !errors.As(err, &he) || !strings.Contains(he.Reason, "no C compiler") {
		t.Errorf("no compiler: got %v", err)
	}

	_, err = HookDir(context.Background(), filepath.Join(t.TempDir(), "missing"))
	if !errors.As(err, &he) || !strings.Contains(he.Reason, "sysconfig") {
		t.Errorf("missing interpreter: got %v", err)
	}
}

// Without a compiler the program is still traced, with the Python hook,
// and the trace says why.
func TestFallbackToPythonHook(t *testing.T) {
	it := anyPython(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir()) // no cc, no gcc
	prog := script(t, "def f():\n    pass\nfor _ in range(3):\n    f()\n")
	src, err := Backend{}.NewFlow(sources.FlowConfig{Interpreter: it.Path, Script: prog})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracer.NewTrace(0)
	if err := src.Run(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	info := tr.Info()
	if strings.Contains(info.Mode, "C hook") || !strings.Contains(info.Note, "no C compiler") {
		t.Errorf("mode %q, note %q: want the Python hook and why", info.Mode, info.Note)
	}
	var calls int64
	for _, n := range tr.Callgraph().Nodes {
		if n.Frame.Func == "f" {
			calls = n.Calls
		}
	}
	if calls != 3 {
		t.Errorf("f was called %d times, want 3", calls)
	}
}
