package pyagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MinVersion is the oldest Python the agent supports.
var MinVersion = [2]int{3, 8}

// Interpreter is a Python interpreter found on this machine.
type Interpreter struct {
	Path    string // as found (e.g. /usr/bin/python3.11)
	Version string // e.g. "3.11.2"
	Major   int
	Minor   int
}

// Supported reports whether the agent can trace with this interpreter.
func (i Interpreter) Supported() bool {
	return i.Major > MinVersion[0] || (i.Major == MinVersion[0] && i.Minor >= MinVersion[1])
}

// Label is a short description for lists: "3.11.2  /usr/bin/python3.11".
func (i Interpreter) Label() string { return i.Version + "  " + i.Path }

// ErrNotPython is returned by Probe for a program that is not a Python
// interpreter.
var ErrNotPython = errors.New("not a Python interpreter")

const probeCode = "import sys; v=sys.version_info; print('flowscape-python %d.%d.%d' % (v[0], v[1], v[2]))"

// Probe runs path to learn its Python version.
func Probe(ctx context.Context, path string) (Interpreter, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !strings.ContainsRune(path, os.PathSeparator) {
		found, err := exec.LookPath(path)
		if err != nil {
			return Interpreter{}, fmt.Errorf("interpreter %s: %w", path, err)
		}
		path = found
	}
	st, err := os.Stat(path)
	if err != nil {
		return Interpreter{}, fmt.Errorf("interpreter %s: %w", path, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return Interpreter{}, fmt.Errorf("interpreter %s: not an executable file", path)
	}
	out, err := exec.CommandContext(ctx, path, "-c", probeCode).Output()
	if err != nil {
		return Interpreter{}, fmt.Errorf("interpreter %s: %w (%v)", path, ErrNotPython, err)
	}
	line := strings.TrimSpace(string(out))
	v, ok := strings.CutPrefix(line, "flowscape-python ")
	if !ok {
		return Interpreter{}, fmt.Errorf("interpreter %s: %w (it printed %.60q)", path, ErrNotPython, line)
	}
	parts := strings.Split(v, ".")
	it := Interpreter{Path: path, Version: v}
	if len(parts) >= 2 {
		it.Major, _ = strconv.Atoi(parts[0])
		it.Minor, _ = strconv.Atoi(parts[1])
	}
	return it, nil
}

// candidates lists interpreter paths worth probing: python3 and python3.N on
// PATH, /usr/bin and /usr/local/bin, and pyenv's versions.
func candidates() []string {
	var out []string
	dirs := filepath.SplitList(os.Getenv("PATH"))
	dirs = append(dirs, "/usr/bin", "/usr/local/bin")
	for _, d := range dirs {
		if strings.Contains(d, ".pyenv/shims") {
			continue // shims resolve to the versions listed below
		}
		ms, _ := filepath.Glob(filepath.Join(d, "python3*"))
		for _, m := range ms {
			b := filepath.Base(m)
			rest := strings.TrimPrefix(b, "python3")
			if rest == "" || (strings.HasPrefix(rest, ".") && isDigits(rest[1:])) {
				out = append(out, m)
			}
		}
	}
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if home, err := os.UserHomeDir(); err == nil {
			root = filepath.Join(home, ".pyenv")
		}
	}
	if root != "" {
		ms, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
		out = append(out, ms...)
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Discover probes the candidate interpreters concurrently and returns the
// distinct ones (by resolved path), newest version first.
func Discover(ctx context.Context) []Interpreter {
	seen := map[string]bool{}
	var paths []string
	for _, c := range candidates() {
		real, err := filepath.EvalSymlinks(c)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		paths = append(paths, c)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out []Interpreter
		sem = make(chan struct{}, 4)
	)
	for _, p := range paths {
		wg.Add(1)
		go func(p string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			it, err := Probe(ctx, p)
			if err != nil {
				return
			}
			mu.Lock()
			out = append(out, it)
			mu.Unlock()
		}(p)
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Major != b.Major {
			return a.Major > b.Major
		}
		if a.Minor != b.Minor {
			return a.Minor > b.Minor
		}
		if a.Version != b.Version {
			return a.Version > b.Version
		}
		return a.Path < b.Path
	})
	return out
}
