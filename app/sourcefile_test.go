package app

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSourceSmall(t *testing.T) {
	long := strings.Repeat("x", sourceMaxLine+100)
	veryLong := strings.Repeat("y", 100_000) // longer than the 64 KiB read buffer
	exact := strings.Repeat("z", sourceMaxLine)
	tests := []struct {
		name      string
		content   string
		line      int
		wantLines []string
		wantNote  string // substring of the note; "" means no note
	}{
		{
			name:      "whole file",
			content:   "a\nb\nc\n",
			line:      2,
			wantLines: []string{"a", "b", "c"},
		},
		{
			name:      "no trailing newline",
			content:   "a\nb",
			line:      2,
			wantLines: []string{"a", "b"},
		},
		{
			name:      "empty lines kept",
			content:   "a\n\n\nb\n",
			line:      1,
			wantLines: []string{"a", "", "", "b"},
		},
		{
			name:      "CRLF",
			content:   "one\r\ntwo\r\nthree\r\n",
			line:      3,
			wantLines: []string{"one", "two", "three"},
		},
		{
			name:      "tabs expanded",
			content:   "def f():\n\treturn 1\n\t\tx\ty\n",
			line:      2,
			wantLines: []string{"def f():", "    return 1", "        x    y"},
		},
		{
			name:      "line of exactly the limit is not cut",
			content:   exact + "\nnext\n",
			line:      1,
			wantLines: []string{exact, "next"},
		},
		{
			name:      "long line cut",
			content:   "a\n" + long + "\nb\n",
			line:      2,
			wantLines: []string{"a", long[:sourceMaxLine], "b"},
			wantNote:  "lines longer than 4096 characters are cut",
		},
		{
			name:      "line longer than the read buffer cut",
			content:   "a\n" + veryLong + "\nb\n",
			line:      3,
			wantLines: []string{"a", veryLong[:sourceMaxLine], "b"},
			wantNote:  "lines longer than 4096 characters are cut",
		},
		{
			name:      "line longer than the read buffer at the end",
			content:   "a\n" + veryLong,
			line:      1,
			wantLines: []string{"a", veryLong[:sourceMaxLine]},
			wantNote:  "cut",
		},
		{
			name:      "target past the end",
			content:   "a\nb\n",
			line:      7,
			wantLines: []string{"a", "b"},
			wantNote:  "line 7 is past the end of the file (2 lines)",
		},
		{
			name:      "target on the last line",
			content:   "a\nb\n",
			line:      2,
			wantLines: []string{"a", "b"},
		},
		{
			name:      "cut and past the end",
			content:   long + "\n",
			line:      5,
			wantLines: []string{long[:sourceMaxLine]},
			wantNote:  "cut; line 5 is past the end of the file (1 lines)",
		},
		{
			name:      "empty file",
			content:   "",
			line:      1,
			wantLines: nil,
			wantNote:  "line 1 is past the end of the file (0 lines)",
		},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, fmt.Sprintf("f%d.py", i), tt.content)
			got, err := LoadSource(p, tt.line)
			if err != nil {
				t.Fatalf("LoadSource: %v", err)
			}
			if got.First != 1 {
				t.Errorf("First = %d, want 1", got.First)
			}
			if len(got.Lines) != len(tt.wantLines) || len(got.Lines) > 0 && !reflect.DeepEqual(got.Lines, tt.wantLines) {
				t.Errorf("Lines = %s, want %s", abbrev(got.Lines), abbrev(tt.wantLines))
			}
			if tt.wantNote == "" && got.Note != "" {
				t.Errorf("Note = %q, want none", got.Note)
			}
			if !strings.Contains(got.Note, tt.wantNote) {
				t.Errorf("Note = %q, want it to contain %q", got.Note, tt.wantNote)
			}
		})
	}
}

// abbrev shortens long lines for failure messages.
func abbrev(lines []string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, l := range lines {
		if i > 0 {
			b.WriteString(" ")
		}
		if len(l) > 20 {
			l = fmt.Sprintf("%s…(%d bytes)", l[:10], len(l))
		}
		b.WriteString(strconv.Quote(l))
	}
	b.WriteString("]")
	return b.String()
}

func TestLoadSourceErrors(t *testing.T) {
	dir := t.TempDir()
	binary := writeFile(t, dir, "lib.so", "\x7fELF\x02\x01\x01\x00\x00rest")
	lateNUL := writeFile(t, dir, "late.py", strings.Repeat("a = 1\n", 1000)+"\x00")
	sub := filepath.Join(dir, "pkg")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		wantErr   string // substring of the error
		wantIsBin bool
	}{
		{name: "missing file", path: filepath.Join(dir, "gone.py"), wantErr: "no longer exists"},
		{name: "directory", path: sub, wantErr: "is a directory"},
		{name: "NUL byte", path: binary, wantErr: "binary", wantIsBin: true},
		{name: "NUL byte in the first 8 KiB", path: lateNUL, wantErr: "binary", wantIsBin: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadSource(tt.path, 1)
			if err == nil {
				t.Fatalf("LoadSource = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error = %q, want it to name %s", err, tt.path)
			}
			if gotIsBin := errors.Is(err, ErrBinary); gotIsBin != tt.wantIsBin {
				t.Errorf("errors.Is(err, ErrBinary) = %v, want %v", gotIsBin, tt.wantIsBin)
			}
		})
	}
}

// hugeLine is line n of the file written by writeHugeFile.
func hugeLine(n int) string { return fmt.Sprintf("line %08d", n) }

// writeHugeFile writes just over sourceHugeSize bytes of short numbered
// lines and returns its path and number of lines.
func writeHugeFile(t *testing.T) (string, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "huge.py")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	lineLen := len(hugeLine(1)) + 1
	n := (sourceHugeSize+1<<20)/lineLen + 1 // ≈ 17 MiB
	buf := make([]byte, 0, lineLen)
	for i := 1; i <= n; i++ {
		buf = append(buf[:0], "line "...)
		s := strconv.Itoa(i)
		for range 8 - len(s) {
			buf = append(buf, '0')
		}
		buf = append(append(buf, s...), '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Size() <= sourceHugeSize {
		t.Fatalf("huge file: %v, %v", st, err)
	}
	return p, n
}

func TestLoadSourceHuge(t *testing.T) {
	path, n := writeHugeFile(t)
	half := sourceWindow / 2
	tests := []struct {
		name      string
		line      int
		wantFirst int
		wantLen   int
		wantNote  []string // substrings of the note
		notNote   string   // not in the note, if set
	}{
		{
			name:      "middle",
			line:      500_000,
			wantFirst: 500_000 - half,
			wantLen:   sourceWindow,
			wantNote:  []string{"huge file (17 MiB)", fmt.Sprintf("showing lines %d–%d", 500_000-half, 500_000-half+sourceWindow-1)},
		},
		{
			name:      "near the start",
			line:      10,
			wantFirst: 1,
			wantLen:   sourceWindow,
			wantNote:  []string{"huge file", fmt.Sprintf("showing lines 1–%d", sourceWindow)},
		},
		{
			name:      "line 0",
			line:      0,
			wantFirst: 1,
			wantLen:   sourceWindow,
			wantNote:  []string{"huge file"},
		},
		{
			name:      "near the end",
			line:      n - 5,
			wantFirst: n - 5 - half,
			wantLen:   half + 6,
			wantNote:  []string{"huge file", fmt.Sprintf("showing lines %d–%d", n-5-half, n)},
		},
		{
			name:      "last line",
			line:      n,
			wantFirst: n - half,
			wantLen:   half + 1,
			wantNote:  []string{"huge file"},
		},
		{
			name:      "a little past the end",
			line:      n + 100,
			wantFirst: n + 100 - half,
			wantLen:   half - 99,
			wantNote:  []string{"huge file", fmt.Sprintf("line %d is past the end of the file (%d lines)", n+100, n)},
		},
		{
			name:      "far past the end",
			line:      n + 3*half,
			wantFirst: n + 3*half - half,
			wantLen:   0,
			wantNote:  []string{"huge file", fmt.Sprintf("line %d is past the end of the file (%d lines)", n+3*half, n)},
			notNote:   "showing lines",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadSource(path, tt.line)
			if err != nil {
				t.Fatalf("LoadSource: %v", err)
			}
			if got.First != tt.wantFirst || len(got.Lines) != tt.wantLen {
				t.Fatalf("First, len(Lines) = %d, %d, want %d, %d", got.First, len(got.Lines), tt.wantFirst, tt.wantLen)
			}
			for i, l := range got.Lines {
				if want := hugeLine(got.First + i); l != want {
					t.Fatalf("Lines[%d] = %q, want %q", i, l, want)
				}
			}
			if i := tt.line - got.First; i >= 0 && i < len(got.Lines) && got.Lines[i] != hugeLine(tt.line) {
				t.Errorf("target line = %q, want %q", got.Lines[i], hugeLine(tt.line))
			}
			for _, want := range tt.wantNote {
				if !strings.Contains(got.Note, want) {
					t.Errorf("Note = %q, want it to contain %q", got.Note, want)
				}
			}
			if tt.notNote != "" && strings.Contains(got.Note, tt.notNote) {
				t.Errorf("Note = %q, want no %q", got.Note, tt.notNote)
			}
			if past := strings.Contains(got.Note, "past the end"); past != (tt.line > n) {
				t.Errorf("Note = %q: says past the end = %v, want %v", got.Note, past, tt.line > n)
			}
		})
	}
}
