package hostland_test

import (
	"bytes"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"flowscape/landscape"
	"flowscape/sources/hostland"
)

// recordFS reads the real file system and keeps what was read: file
// contents as they were read, directories with their entries, links with
// their targets. Its result is a MapFS that holds exactly what a scan saw.
type recordFS struct {
	fs.FS
	mu      sync.Mutex
	got     map[string]*fstest.MapFile
	checked map[string]bool // files only checked for with Stat
}

func (r *recordFS) keep(name string, f *fstest.MapFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got[name] == nil {
		r.got[name] = f
	}
}

func (r *recordFS) ReadFile(name string) ([]byte, error) {
	b, err := fs.ReadFile(r.FS, name)
	if err == nil {
		r.keep(name, &fstest.MapFile{Data: b, Mode: 0o444})
	}
	return b, err
}

func (r *recordFS) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := fs.ReadDir(r.FS, name)
	if err == nil {
		r.keep(name, &fstest.MapFile{Mode: fs.ModeDir | 0o555})
		for _, e := range es {
			// Entries are kept as what they are; their content only if read.
			p := name + "/" + e.Name()
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				// A link to a directory (sysfs's class entries) is kept as
				// the directory it is read as; others as links.
				if fi, err := fs.Stat(r.FS, p); err == nil && fi.IsDir() {
					r.keep(p, &fstest.MapFile{Mode: fs.ModeDir | 0o555})
				} else if t, err := fs.ReadLink(r.FS, p); err == nil {
					r.keep(p, &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(private(t))})
				}
			case e.IsDir():
				r.keep(p, &fstest.MapFile{Mode: fs.ModeDir | 0o555})
			}
		}
	}
	return es, err
}

// Stat keeps directories; a file only checked for keeps its content if the
// scan reads it, else it is kept empty.
func (r *recordFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(r.FS, name)
	if err == nil {
		if fi.IsDir() {
			r.keep(name, &fstest.MapFile{Mode: fs.ModeDir | 0o555})
		} else {
			r.mu.Lock()
			r.checked[name] = true
			r.mu.Unlock()
		}
	}
	return fi, err
}

// tree is what was recorded.
func (r *recordFS) tree() fstest.MapFS {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := fstest.MapFS{}
	for k := range r.checked {
		m[k] = &fstest.MapFile{Mode: 0o444}
	}
	for k, f := range r.got {
		m[k] = f
	}
	return m
}

func (r *recordFS) ReadLink(name string) (string, error) {
	t, err := fs.ReadLink(r.FS, name)
	if err == nil {
		r.keep(name, &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(private(t))})
	}
	return t, err
}

// private keeps the links the scan reads for what they are (sockets) and
// hides where the others (open files) point.
func private(target string) string {
	if strings.HasPrefix(target, "socket:[") || strings.HasPrefix(target, "../") {
		return target
	}
	return "/dev/null"
}

func (r *recordFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(r.FS, name) }

// Open is only used for what the helpers above do not cover.
func (r *recordFS) Open(name string) (fs.File, error) { return r.FS.Open(name) }

func graphJSON(t *testing.T, g *landscape.Graph) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := landscape.WriteFlowscape(&buf, landscape.FromGraph(g, 0)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRecordedMachine: a scan of a MapFS holding exactly the files that a
// scan of this machine's /sys and /proc read, as it read them, gives the
// same graph: the scan reads nothing around the fs.FS, and MapFS trees
// like the ones the other tests build behave as the real ones.
func TestRecordedMachine(t *testing.T) {
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		t.Skip("no /sys here")
	}
	rec := &recordFS{FS: os.DirFS("/"), got: map[string]*fstest.MapFile{}, checked: map[string]bool{}}
	real, _ := hostland.Scan(rec)
	tree := rec.tree()
	replay, rep := hostland.Scan(tree)
	if a, b := graphJSON(t, real), graphJSON(t, replay); !bytes.Equal(a, b) {
		t.Errorf("scan of the recorded files differs from the scan of the real ones:\n%s\n---\n%s", a, b)
	}
	if rep.Skipped != 0 {
		t.Errorf("recorded tree: %s", rep)
	}
	types := replay.CountByType()
	for _, typ := range []string{"machine", "package", "core", "thread", "memory"} {
		if types[typ] == 0 {
			t.Errorf("the recorded machine has no %s (%v)", typ, types)
		}
	}
	t.Logf("%d files and directories recorded, %d nodes", len(tree), len(replay.Nodes))
}
