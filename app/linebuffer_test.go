package app

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestLineBufferWrite(t *testing.T) {
	const limit = 4096
	x := strings.Repeat("x", limit)
	tests := []struct {
		name        string
		max         int
		writes      []string
		wantLines   []string
		wantDropped int
	}{
		{
			name:      "nothing written",
			max:       10,
			writes:    nil,
			wantLines: nil,
		},
		{
			name:      "one line per write",
			max:       10,
			writes:    []string{"a\n", "b\n"},
			wantLines: []string{"a", "b"},
		},
		{
			name:      "several lines in one write",
			max:       10,
			writes:    []string{"a\nb\nc\n"},
			wantLines: []string{"a", "b", "c"},
		},
		{
			name:      "lines split across writes",
			max:       10,
			writes:    []string{"hel", "lo\nwo", "r", "ld\n"},
			wantLines: []string{"hello", "world"},
		},
		{
			name:      "unfinished last line shown",
			max:       10,
			writes:    []string{"done\nwork", "ing"},
			wantLines: []string{"done", "working"},
		},
		{
			name:      "empty lines kept",
			max:       10,
			writes:    []string{"\n\na\n\n"},
			wantLines: []string{"", "", "a", ""},
		},
		{
			name:      "empty write",
			max:       10,
			writes:    []string{"a\n", ""},
			wantLines: []string{"a"},
		},
		{
			name:      "CRLF",
			max:       10,
			writes:    []string{"a\r\nb\r\n"},
			wantLines: []string{"a", "b"},
		},
		{
			name:      "CRLF split across writes",
			max:       10,
			writes:    []string{"a\r", "\nb\r", "\n"},
			wantLines: []string{"a", "b"},
		},
		{
			name:        "bounded to max lines",
			max:         3,
			writes:      []string{"1\n2\n3\n4\n5\n"},
			wantLines:   []string{"3", "4", "5"},
			wantDropped: 2,
		},
		{
			name:        "bounded over many writes",
			max:         2,
			writes:      []string{"1\n", "2\n", "3\n", "4\n", "5\n", "6\n", "7"},
			wantLines:   []string{"5", "6", "7"}, // the unfinished line is extra
			wantDropped: 4,
		},
		{
			name:      "line of exactly the limit kept whole",
			max:       10,
			writes:    []string{x + "\n"},
			wantLines: []string{x},
		},
		{
			name:      "line of exactly the limit with CRLF kept whole",
			max:       10,
			writes:    []string{x + "\r\n"},
			wantLines: []string{x},
		},
		{
			name:      "line of exactly the limit with CRLF split across writes kept whole",
			max:       10,
			writes:    []string{x + "\r", "\n"},
			wantLines: []string{x},
		},
		{
			name:      "line of the limit and a CR not followed by LF cut",
			max:       10,
			writes:    []string{x + "\r", "more\n"},
			wantLines: []string{x + " …"},
		},
		{
			name:      "over-long line cut",
			max:       10,
			writes:    []string{"a\n" + x + "yyy\nb\n"},
			wantLines: []string{"a", x + " …", "b"},
		},
		{
			name:      "over-long line without newline cut",
			max:       10,
			writes:    []string{x + "yyy"},
			wantLines: []string{x + " …"},
		},
		{
			name:      "over-long line without newline over several writes cut",
			max:       10,
			writes:    []string{x[:1000], x[1000:3000], x[3000:], "yyy"},
			wantLines: []string{x + " …"},
		},
		{
			name:      "unfinished line of exactly the limit not cut",
			max:       10,
			writes:    []string{x},
			wantLines: []string{x},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewLineBuffer(tt.max)
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v, want %d, nil", len(w), n, err, len(w))
				}
			}
			gotLines, gotDropped, _ := b.Snapshot()
			if !reflect.DeepEqual(gotLines, tt.wantLines) {
				t.Errorf("lines = %s, want %s", abbrev(gotLines), abbrev(tt.wantLines))
			}
			if gotDropped != tt.wantDropped {
				t.Errorf("dropped = %d, want %d", gotDropped, tt.wantDropped)
			}
		})
	}
}

func TestLineBufferSnapshotCopies(t *testing.T) {
	b := NewLineBuffer(10)
	b.Write([]byte("a\nb\npart"))
	got, _, _ := b.Snapshot()
	got[0], got[2] = "changed", "changed"
	_ = append(got[:1], "appended")
	b.Write([]byte("ial\n"))
	got, _, _ = b.Snapshot()
	if want := []string{"a", "b", "partial"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestLineBufferVersion(t *testing.T) {
	b := NewLineBuffer(2)
	seen := map[uint64]bool{b.Version(): true}
	for i, w := range []string{"a", "b\n", "", "c\nd\ne\n", "f"} {
		b.Write([]byte(w))
		got := b.Version()
		if seen[got] {
			t.Errorf("after write %d (%q): Version = %d, seen before", i, w, got)
		}
		seen[got] = true
		if _, _, gotSnap := b.Snapshot(); gotSnap != got {
			t.Errorf("after write %d: Snapshot version = %d, Version = %d", i, gotSnap, got)
		}
	}
	// Reading does not change it.
	want := b.Version()
	b.Snapshot()
	if got := b.Version(); got != want {
		t.Errorf("Version after Snapshot = %d, want %d", got, want)
	}
}

func TestLineBufferConcurrent(t *testing.T) {
	const writers, perWriter, keep = 8, 500, 1000
	b := NewLineBuffer(keep)
	var wg sync.WaitGroup
	done := make(chan struct{})
	// A reader taking snapshots while the writers write.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		var last uint64
		for {
			select {
			case <-done:
				return
			default:
			}
			lines, _, v := b.Snapshot()
			if v < last {
				t.Errorf("version went back from %d to %d", last, v)
			}
			last = v
			if len(lines) > keep+1 {
				t.Errorf("%d lines kept, want at most %d", len(lines), keep+1)
			}
			_ = b.Version()
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// Each line in one write, so lines never interleave.
				fmt.Fprintf(b, "w%d-%d\n", w, i)
			}
		}()
	}
	wg.Wait()
	close(done)
	<-readerDone

	gotLines, gotDropped, gotVersion := b.Snapshot()
	if len(gotLines) != keep || gotDropped != writers*perWriter-keep {
		t.Errorf("len(lines), dropped = %d, %d, want %d, %d", len(gotLines), gotDropped, keep, writers*perWriter-keep)
	}
	if gotVersion != writers*perWriter {
		t.Errorf("version = %d, want %d", gotVersion, writers*perWriter)
	}
	// Lines from one writer stay whole and in order.
	next := make([]int, writers)
	for i := range next {
		next[i] = -1
	}
	for _, l := range gotLines {
		var w, i int
		if _, err := fmt.Sscanf(l, "w%d-%d", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("mangled line %q", l)
		}
		if i <= next[w] {
			t.Errorf("writer %d: line %d after line %d", w, i, next[w])
		}
		next[w] = i
	}
}
