package app

import (
	"bytes"
	"sync"
)

// LineBuffer is an io.Writer that keeps the last lines written to it, so a
// program printing megabytes cannot exhaust memory. Safe for concurrent use.
type LineBuffer struct {
	mu       sync.Mutex
	max      int
	lines    []string
	partial  []byte
	dropped  int
	version  uint64
	maxBytes int
}

// NewLineBuffer keeps at most maxLines lines of at most 4 KiB each.
func NewLineBuffer(maxLines int) *LineBuffer {
	return &LineBuffer{max: maxLines, maxBytes: 4096}
}

// Write splits p into lines.
func (b *LineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.partial = append(b.partial, p...)
			// A CR ending the line does not count: its LF may come next.
			if len(bytes.TrimSuffix(b.partial, []byte("\r"))) > b.maxBytes {
				b.push(string(b.partial[:b.maxBytes]) + " …")
				b.partial = b.partial[:0]
			}
			break
		}
		b.partial = append(b.partial, p[:i]...)
		// Drop the CR of a CRLF before measuring, so that a line of exactly
		// maxBytes is not marked as cut.
		line := bytes.TrimSuffix(b.partial, []byte("\r"))
		if len(line) > b.maxBytes {
			line = append(line[:b.maxBytes:b.maxBytes], " …"...)
		}
		b.push(string(line))
		b.partial = b.partial[:0]
		p = p[i+1:]
	}
	b.version++
	return n, nil
}

func (b *LineBuffer) push(s string) {
	if len(b.lines) >= b.max {
		k := len(b.lines) - b.max + 1
		b.dropped += k
		b.lines = append(b.lines[:0], b.lines[k:]...)
	}
	b.lines = append(b.lines, s)
}

// Snapshot returns a copy of the lines kept (with an unfinished last line),
// how many earlier lines were dropped, and a version that changes on every
// write.
func (b *LineBuffer) Snapshot() (lines []string, dropped int, version uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines = append([]string(nil), b.lines...)
	if len(b.partial) > 0 {
		lines = append(lines, string(b.partial))
	}
	return lines, b.dropped, b.version
}

// Version changes on every write.
func (b *LineBuffer) Version() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.version
}
