package gvlayout

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A go-graphviz cache another user created (root, then Flowscape run as
// someone else) must not stop the program: run this test binary as nobody
// with such a cache in its TMPDIR.
func TestStartsWithSomeoneElsesCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a cache owned by another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (util-linux)")
	}
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} { // nobody must reach it
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// root's cache: this process (root) compiled into it when it started
	rootCache := filepath.Join(os.TempDir(), "go-graphviz")
	if _, err := os.Stat(rootCache); err != nil {
		t.Skipf("no go-graphviz cache in %s to copy", rootCache)
	}
	err = filepath.WalkDir(rootCache, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(rootCache, p)
		dst := filepath.Join(tmp, "go-graphviz", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		copyFile(t, p, dst)
		return os.Chmod(dst, 0o600) // as wazero writes them: root's alone
	})
	if err != nil {
		t.Fatal(err)
	}
	// a copy of this test binary that nobody may run
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "gvlayout.test")
	copyFile(t, self, bin)
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "TMPDIR="+tmp, "HOME=/nonexistent", bin, "-test.run", "^TestRunPlacesNodesTopToBottom$", "-test.count=1")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody with root's cache: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
