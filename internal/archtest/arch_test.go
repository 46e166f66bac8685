package archtest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// modelPatterns are the packages that must stay free of UI code: they are
// used headless, in tests and by the command-line tools.
var modelPatterns = []string{
	"flowscape/tracer/...",
	"flowscape/landscape/...",
	"flowscape/sources/...",
}

// forbidden reports whether an import path is one model packages must not
// depend on.
func forbidden(path string) bool {
	return path == "fyne.io" || strings.HasPrefix(path, "fyne.io/")
}

// pkg is one line of `go list` output.
type pkg struct {
	path        string
	root        bool     // matched by a pattern, not only a dependency
	imports     []string // direct imports of the package's non-test files
	testImports []string // direct imports of its _test.go files
	err         string
}

// listFormat prints one tab-separated line per package.
const listFormat = `{{.ImportPath}}	{{not .DepOnly}}	{{join .Imports " "}}	` +
	`{{join .TestImports " "}} {{join .XTestImports " "}}	` +
	`{{if .Error}}{{.Error.Err}}{{end}}`

// goList runs `go list -e -deps` with flags (such as -overlay) over
// patterns and returns every package, roots and dependencies, by import path.
func goList(t *testing.T, flags []string, patterns ...string) map[string]*pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found in PATH: %v", err)
	}
	args := append([]string{"list", "-e", "-deps", "-f", listFormat}, flags...)
	args = append(args, patterns...)
	cmd := exec.Command(goBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	// Patterns for directories that have no packages yet only warn
	// ("matched no packages") on stderr; that is fine.
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("go list: %s", s)
	}
	return parseList(t, out)
}

func parseList(t *testing.T, out []byte) map[string]*pkg {
	t.Helper()
	pkgs := map[string]*pkg{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 5)
		if len(f) != 5 {
			t.Fatalf("unexpected go list line %q", line)
		}
		pkgs[f[0]] = &pkg{
			path:        f[0],
			root:        f[1] == "true",
			imports:     strings.Fields(f[2]),
			testImports: strings.Fields(f[3]),
			err:         f[4],
		}
	}
	return pkgs
}

// importChain returns the shortest chain of imports from the package from
// to a forbidden package, or nil if there is none.
func importChain(pkgs map[string]*pkg, from string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if forbidden(cur) {
			var chain []string
			for p := cur; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		p := pkgs[cur]
		if p == nil {
			continue
		}
		for _, next := range p.imports {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return nil
}

// harmless lists go list errors that only say a directory has no package
// (yet) for this build.
var harmless = []string{"no Go files", "no non-test Go files", "build constraints exclude all Go files"}

// violations returns one message per rule broken by the root packages.
func violations(pkgs map[string]*pkg) (msgs, roots []string) {
	for path, p := range pkgs {
		if p.root {
			roots = append(roots, path)
		}
	}
	sort.Strings(roots)
	for _, path := range roots {
		p := pkgs[path]
		if p.err != "" && !containsAny(p.err, harmless) {
			msgs = append(msgs, path+": "+p.err)
		}
		if chain := importChain(pkgs, path); chain != nil {
			msgs = append(msgs, path+" depends on "+chain[len(chain)-1]+": "+strings.Join(chain, " -> "))
		}
		for _, imp := range p.testImports {
			if forbidden(imp) {
				msgs = append(msgs, "tests of "+path+" import "+imp)
			}
		}
	}
	return msgs, roots
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestModelPackagesDoNotImportFyne keeps tracer/, landscape/ and sources/
// free of Fyne, directly or through other packages, in their code and in
// the direct imports of their tests.
func TestModelPackagesDoNotImportFyne(t *testing.T) {
	msgs, roots := violations(goList(t, nil, modelPatterns...))
	if len(roots) == 0 {
		t.Skip("no model packages yet")
	}
	for _, msg := range msgs {
		t.Error(msg)
	}
	t.Logf("checked %d packages: %s", len(roots), strings.Join(roots, ", "))
}

// TestDetectsFyne runs the same check on a package that exists only in a
// go list overlay and imports Fyne through a second one, so a change in
// go list's output cannot make the test above pass silently.
func TestDetectsFyne(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	files := map[string]string{
		"fakemodel/model.go": "package fakemodel\n\nimport _ \"flowscape/internal/archtest/fakeui\"\n",
		"fakeui/ui.go":       "package fakeui\n\nimport _ \"fyne.io/fyne/v2\"\n",
	}
	replace := map[string]string{}
	for name, src := range files {
		onDisk := filepath.Join(tmp, filepath.Base(name))
		if err := os.WriteFile(onDisk, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		replace[filepath.Join(wd, name)] = onDisk
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}

	msgs, _ := violations(goList(t, []string{"-overlay", overlayFile}, "flowscape/internal/archtest/fakemodel"))
	want := "flowscape/internal/archtest/fakemodel depends on fyne.io/fyne/v2: " +
		"flowscape/internal/archtest/fakemodel -> flowscape/internal/archtest/fakeui -> fyne.io/fyne/v2"
	if len(msgs) != 1 || msgs[0] != want {
		t.Errorf("got %q, want [%q]", msgs, want)
	}
}

// TestImportChain checks the search on a small graph, so a broken search
// cannot pass the test above silently.
func TestImportChain(t *testing.T) {
	pkgs := map[string]*pkg{
		"flowscape/tracer":        {imports: []string{"fmt", "flowscape/tracer/format"}},
		"flowscape/tracer/format": {imports: []string{"flowscape/internal/ui"}},
		"flowscape/internal/ui":   {imports: []string{"fyne.io/fyne/v2/widget", "fmt"}},
		"flowscape/sources":       {imports: []string{"fmt", "flowscape/tracer/format2"}},
		"fmt":                     {},
	}
	tests := []struct {
		from string
		want string
	}{
		{"flowscape/tracer", "flowscape/tracer -> flowscape/tracer/format -> flowscape/internal/ui -> fyne.io/fyne/v2/widget"},
		{"flowscape/sources", ""},
		{"fmt", ""},
	}
	for _, tt := range tests {
		got := strings.Join(importChain(pkgs, tt.from), " -> ")
		if got != tt.want {
			t.Errorf("importChain(%s) = %q, want %q", tt.from, got, tt.want)
		}
	}
}

// TestParseList checks the parsing of go list's output, including a
// package with an error and one without imports.
func TestParseList(t *testing.T) {
	out := "flowscape/tracer\ttrue\tfmt sort\t testing\t\n" +
		"fmt\tfalse\t\t \t\n" +
		"flowscape/sources/x\ttrue\t\t \tno Go files in /x\n"
	pkgs := parseList(t, []byte(out))
	if got := len(pkgs); got != 3 {
		t.Fatalf("got %d packages, want 3", got)
	}
	if p := pkgs["flowscape/tracer"]; !p.root || strings.Join(p.imports, ",") != "fmt,sort" || strings.Join(p.testImports, ",") != "testing" {
		t.Errorf("flowscape/tracer = %+v", *p)
	}
	if p := pkgs["fmt"]; p.root || len(p.imports) != 0 {
		t.Errorf("fmt = %+v", *p)
	}
	if p := pkgs["flowscape/sources/x"]; p.err != "no Go files in /x" {
		t.Errorf("flowscape/sources/x err = %q", p.err)
	}
}
