// Package landfile is the landscape source for a file (landscaper node-link
// JSON, hwloc XML or Flowscape JSON), watched with fsnotify and read again
// when it changes, saves by atomic rename included. When the new content is
// not a valid landscape the last good one stays and the error says what is
// wrong and where.
package landfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/fsnotify/fsnotify"

	"flowscape/landscape"
	"flowscape/sources"
)

// Name is the source's name in the registry; on the command line it is
// written file:PATH.
const Name = "file"

// Watcher reads a landscape file and reads it again whenever it changes.
type Watcher struct {
	Path    string
	OnLoad  func(*landscape.Landscape) // a new, valid landscape was read
	OnError func(error)                // the file could not be read; the last good landscape stays
}

// Run reads the file, then watches it until ctx ends. It returns an error
// only when the watch cannot be set up; read errors go to OnError.
func (w *Watcher) Run(ctx context.Context) error {
	return sources.WatchFile(ctx, w.Path, w.load, w.fail)
}

func (w *Watcher) fail(err error) {
	if w.OnError != nil {
		w.OnError(err)
	}
}

// ErrDeleted says the watched file is gone.
var ErrDeleted = errors.New("file deleted; showing the last landscape read from it until it is back")

func (w *Watcher) load() {
	l, err := landscape.Load(w.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		w.fail(fmt.Errorf("%s: %w", w.Path, ErrDeleted))
	case err != nil:
		w.fail(err)
	case w.OnLoad != nil:
		w.OnLoad(l)
	}
}

// Backend describes the source for the registry.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info: reading files needs nothing but the file.
func (Backend) Info(context.Context) sources.Info {
	in := sources.Info{Name: Name, Kind: sources.KindLandscape, Available: true,
		Summary: "a landscape file (landscaper node-link JSON, hwloc XML, Flowscape JSON), read again when it changes",
		Detail:  "flowscape landscape --source file:PATH, or Open… in the Landscape tab"}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		in.Reason = "files are read once, not watched: " + err.Error()
		return in
	}
	fw.Close()
	return in
}
