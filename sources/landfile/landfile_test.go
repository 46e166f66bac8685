package landfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flowscape/landscape"
	"flowscape/sources/landfile"
)

const (
	two   = `{"nodes": [{"id": "h", "layer": "physical"}, {"id": "v", "layer": "virtual"}], "edges": [{"source": "v", "target": "h", "label": "RUNS_ON"}]}`
	three = `{"nodes": [{"id": "h", "layer": "physical"}, {"id": "v", "layer": "virtual"}, {"id": "s", "layer": "service"}], "edges": []}`
	bad   = "{\"nodes\": [\n  {\"id\": \"h\"\n]}"
)

// events collects what the watcher reports.
type events struct {
	loads chan int
	errs  chan error
}

func watch(t *testing.T, path string) events {
	t.Helper()
	ev := events{make(chan int, 16), make(chan error, 16)}
	w := &landfile.Watcher{Path: path,
		OnLoad:  func(l *landscape.Landscape) { ev.loads <- len(l.Latest().Nodes) },
		OnError: func(err error) { ev.errs <- err },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ev
}

// The timeouts only keep a broken watcher from hanging the test.
const patience = 10 * time.Second

func (e events) wantLoad(t *testing.T, nodes int) {
	t.Helper()
	select {
	case n := <-e.loads:
		if n != nodes {
			t.Fatalf("loaded %d nodes, want %d", n, nodes)
		}
	case err := <-e.errs:
		t.Fatalf("error instead of a load: %v", err)
	case <-time.After(patience):
		t.Fatal("no reload")
	}
}

func (e events) wantError(t *testing.T, parts ...string) error {
	t.Helper()
	select {
	case n := <-e.loads:
		t.Fatalf("loaded %d nodes, want an error", n)
	case err := <-e.errs:
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not say %q", err, p)
			}
		}
		return err
	case <-time.After(patience):
		t.Fatal("no error reported")
	}
	return nil
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// atomicSave writes like editors do: a temporary file renamed over the old.
func atomicSave(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp~"
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherReloadsAndKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "land.json")
	write(t, path, two)
	ev := watch(t, path)
	ev.wantLoad(t, 2)

	write(t, path, three)
	ev.wantLoad(t, 3)

	write(t, path, bad)
	ev.wantError(t, path, "line 3")

	atomicSave(t, path, two)
	ev.wantLoad(t, 2)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := ev.wantError(t, path, "deleted"); !errors.Is(err, landfile.ErrDeleted) {
		t.Errorf("error %v is not ErrDeleted", err)
	}

	atomicSave(t, path, three)
	ev.wantLoad(t, 3)

	// The landscaper fixture is picked up as well.
	data, err := os.ReadFile("../../landscape/testdata/test_landscape.json")
	if err != nil {
		t.Fatal(err)
	}
	atomicSave(t, path, string(data))
	ev.wantLoad(t, 242)
}

func TestWatcherMissingFileAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.json")
	ev := watch(t, path)
	ev.wantError(t, "deleted")
	write(t, path, two)
	ev.wantLoad(t, 2)
}

func TestWatcherNoDirectory(t *testing.T) {
	w := &landfile.Watcher{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "x.json")}
	if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no such") {
		t.Errorf("Run = %v, want an error naming the missing directory", err)
	}
}
