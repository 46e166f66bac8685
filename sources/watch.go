package sources

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchSettle is how long WatchFile waits after the last change before it
// calls back, so that an editor's write-then-rename is seen once, whole.
const WatchSettle = 100 * time.Millisecond

// WatchFile calls changed at once, then again whenever the file at path is
// written, created, replaced (atomic saves included) or removed, once per
// burst of changes, until ctx ends. It watches the directory: an atomic
// save replaces the file's inode, and a watch on the file itself would end
// with the old one. Errors of the watch go to fail; WatchFile returns an
// error only when the watch cannot be set up.
func WatchFile(ctx context.Context, path string, changed func(), fail func(error)) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer fw.Close()
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch %s: %w", filepath.Dir(abs), err)
	}
	changed()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) != abs || ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(WatchSettle)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			fail(fmt.Errorf("watching %s: %w", path, err))
		case <-timer.C:
			changed()
		}
	}
}
