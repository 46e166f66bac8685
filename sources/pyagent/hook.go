package pyagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"flowscape/assets"
)

// HookBuildTimeout bounds one compilation of the C hook.
var HookBuildTimeout = 60 * time.Second

// hookConfigCode prints what building the C hook needs to know about an
// interpreter, as JSON.
const hookConfigCode = `import json, sys, sysconfig
v = sysconfig.get_config_var
print(json.dumps({"include": sysconfig.get_paths().get("include", ""), "ext_suffix": v("EXT_SUFFIX") or "",
  "cc": v("CC") or "", "soabi": v("SOABI") or "", "gil_disabled": bool(v("Py_GIL_DISABLED")),
  "version": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable}))`

// hookConfig is an interpreter's build configuration.
type hookConfig struct {
	Include     string `json:"include"`
	ExtSuffix   string `json:"ext_suffix"`
	CC          string `json:"cc"`
	SOABI       string `json:"soabi"`
	GILDisabled bool   `json:"gil_disabled"`
	Version     string `json:"version"`
	Executable  string `json:"executable"`
}

// HookError says why the C hook cannot be used with an interpreter; the
// agent then uses its Python hook.
type HookError struct {
	Interpreter string
	Reason      string
}

func (e *HookError) Error() string {
	return fmt.Sprintf("no C hook for %s: %s", e.Interpreter, e.Reason)
}

var hookMu sync.Mutex // one build at a time in this process

// HookDir returns a directory holding the C hook compiled for the
// interpreter at python, building it on first use into the user's cache
// (keyed by the hook's source and the interpreter's ABI). The error is a
// *HookError saying why when there is no compiler, no headers, or the
// build fails.
func HookDir(ctx context.Context, python string) (string, error) {
	cfg, err := interpreterConfig(ctx, python)
	if err != nil {
		return "", &HookError{python, err.Error()}
	}
	if cfg.GILDisabled {
		return "", &HookError{python, "a free-threaded build (the hook needs the GIL)"}
	}
	if cfg.ExtSuffix == "" {
		return "", &HookError{python, "the interpreter reports no extension suffix (EXT_SUFFIX)"}
	}
	if _, err := os.Stat(filepath.Join(cfg.Include, "Python.h")); err != nil {
		return "", &HookError{python, fmt.Sprintf("no Python.h in %q: install the headers (on Debian: apt-get install python%s-dev)", cfg.Include, majorMinor(cfg.Version))}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.New()
	sum.Write(assets.HookC)
	fmt.Fprintf(sum, "\x00%s\x00%s\x00%s\x00%s", cfg.Executable, cfg.Version, cfg.SOABI, cfg.Include)
	dir := filepath.Join(cache, "flowscape", "hook", hex.EncodeToString(sum.Sum(nil))[:16])
	lib := filepath.Join(dir, assets.HookModule+cfg.ExtSuffix)

	hookMu.Lock()
	defer hookMu.Unlock()
	if st, err := os.Stat(lib); err == nil && st.Mode().IsRegular() {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", &HookError{python, fmt.Sprintf("cache directory: %v", err)}
	}
	cc, err := compiler(cfg.CC)
	if err != nil {
		return "", &HookError{python, err.Error()}
	}
	src := filepath.Join(dir, assets.HookModule+".c")
	if err := os.WriteFile(src, assets.HookC, 0o600); err != nil {
		return "", &HookError{python, fmt.Sprintf("write the hook's source: %v", err)}
	}
	tmp := lib + fmt.Sprintf(".%d.tmp", os.Getpid())
	bctx, cancel := context.WithTimeout(ctx, HookBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, cc[0], append(cc[1:], "-O2", "-shared", "-fPIC", "-I", cfg.Include, "-o", tmp, src)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		msg := strings.TrimSpace(string(out))
		if len(msg) > 400 {
			msg = msg[:400] + "…"
		}
		return "", &HookError{python, fmt.Sprintf("%s failed: %v: %s", strings.Join(cc, " "), err, msg)}
	}
	if err := os.Rename(tmp, lib); err != nil {
		os.Remove(tmp)
		return "", &HookError{python, fmt.Sprintf("install the built hook: %v", err)}
	}
	return dir, nil
}

// interpreterConfig asks python for its build configuration.
func interpreterConfig(ctx context.Context, python string) (hookConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", hookConfigCode).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return hookConfig{}, fmt.Errorf("sysconfig: %v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return hookConfig{}, fmt.Errorf("sysconfig: %v", err)
	}
	var cfg hookConfig
	if err := json.Unmarshal(out, &cfg); err != nil {
		return hookConfig{}, fmt.Errorf("sysconfig output %.80q: %v", out, err)
	}
	return cfg, nil
}

// compiler picks the C compiler: the interpreter's CC when it exists here,
// else cc or gcc.
func compiler(cc string) ([]string, error) {
	if f := strings.Fields(cc); len(f) > 0 {
		if _, err := exec.LookPath(f[0]); err == nil {
			return f, nil
		}
	}
	for _, c := range []string{"cc", "gcc"} {
		if p, err := exec.LookPath(c); err == nil {
			return []string{p}, nil
		}
	}
	return nil, errors.New("no C compiler (cc or gcc) on PATH: install gcc")
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return v
}
