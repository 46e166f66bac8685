// Package gvtmp keeps go-graphviz's start-up from failing on a compilation
// cache this user cannot write.
//
// go-graphviz compiles its WebAssembly in its package initialisation, with
// a cache in $TMPDIR/go-graphviz, and panics when that cache cannot be
// written: a cache another user created (root, say) stops every program
// that imports it before main runs. This package is initialised before
// go-graphviz (it has the lexically smaller import path and no
// dependencies in common), checks the cache, and when it is not writable
// points TMPDIR at a private directory; Restore, called once go-graphviz is
// initialised, puts TMPDIR back.
package gvtmp

import (
	"os"
	"path/filepath"
)

var (
	changed bool
	old     string
	hadOld  bool
)

func init() {
	dir := filepath.Join(os.TempDir(), "go-graphviz")
	if writable(dir) {
		return
	}
	private := ""
	if base, err := os.UserCacheDir(); err == nil {
		private = filepath.Join(base, "flowscape", "tmp")
		if os.MkdirAll(private, 0o700) != nil || !writable(filepath.Join(private, "go-graphviz")) {
			private = ""
		}
	}
	for _, parent := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if private != "" {
			break
		}
		// no usable cache directory (a HOME that is not ours): a fresh
		// private directory, compiled into again at each start
		if d, err := os.MkdirTemp(parent, "flowscape-graphviz-"); err == nil {
			private = d
		}
	}
	if private == "" {
		return
	}
	old, hadOld = os.LookupEnv("TMPDIR")
	if os.Setenv("TMPDIR", private) == nil {
		changed = true
	}
}

// writable reports whether dir can hold go-graphviz's cache: it does not
// exist yet (it will be created), or a file can be created in it and in
// its sub-directories.
func writable(dir string) bool {
	if _, err := os.Stat(dir); err != nil {
		return true
	}
	ok := true
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !ok {
			ok = false
			return filepath.SkipAll
		}
		if d.IsDir() {
			f, err := os.CreateTemp(p, ".flowscape-probe-*")
			if err != nil {
				ok = false
				return filepath.SkipAll
			}
			f.Close()
			os.Remove(f.Name())
		}
		return nil
	})
	return ok
}

// Changed reports whether TMPDIR was pointed elsewhere during start-up.
func Changed() bool { return changed }

// Restore puts TMPDIR back as it was, once go-graphviz is initialised.
func Restore() {
	if !changed {
		return
	}
	if hadOld {
		os.Setenv("TMPDIR", old)
	} else {
		os.Unsetenv("TMPDIR")
	}
	changed = false
}
