package tracer

import "sync"

// embeddedSources are source files a trace file carried (VizTracer's
// file_info), by path.
type embeddedSources struct {
	mu sync.RWMutex
	m  map[string]string
}

var _ SourceRecorder = (*Trace)(nil)

// EmbeddedSource keeps the text of the source file at path, as a trace file
// carried it; a later text for the same path replaces it.
func (t *Trace) EmbeddedSource(path, text string) {
	t.sources.mu.Lock()
	if t.sources.m == nil {
		t.sources.m = make(map[string]string)
	}
	t.sources.m[path] = text
	t.sources.mu.Unlock()
	t.version.Add(1)
}

// Source returns the text of the source file at path that the trace file
// carried, and whether it carried one.
func (t *Trace) Source(path string) (string, bool) {
	t.sources.mu.RLock()
	defer t.sources.mu.RUnlock()
	s, ok := t.sources.m[path]
	return s, ok
}
