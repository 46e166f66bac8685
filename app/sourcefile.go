package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"flowscape/tracer"
)

// Limits for showing a source file.
const (
	sourceWindow   = 4000     // lines shown around the target in a huge file
	sourceHugeSize = 16 << 20 // files above this are shown as a window
	sourceMaxLine  = 4096     // longer lines are cut
)

// SourceText is the part of a source file to show.
type SourceText struct {
	First int      // line number of Lines[0]
	Lines []string // the lines
	Note  string   // a warning to show with them ("" if none)
}

// ErrBinary is returned for a file that is not text.
var ErrBinary = errors.New("binary file, not shown")

// LoadSource reads path for display around line: whole if it is small, a
// window of lines around line if it is huge; binary files are refused.
func LoadSource(path string, line int) (SourceText, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return SourceText{}, fmt.Errorf("%s no longer exists", path)
		}
		return SourceText{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SourceText{}, err
	}
	if st.IsDir() {
		return SourceText{}, fmt.Errorf("%s is a directory", path)
	}
	head := make([]byte, 8192)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return SourceText{}, err
	}
	if bytes.IndexByte(head[:n], 0) >= 0 {
		return SourceText{}, fmt.Errorf("%s: %w", path, ErrBinary)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return SourceText{}, err
	}
	first, last := 1, int(^uint(0)>>1)
	huge := st.Size() > sourceHugeSize
	if huge {
		first = max(1, line-sourceWindow/2)
		last = first + sourceWindow - 1
	}
	r := bufio.NewReaderSize(f, 1<<16)
	out := SourceText{First: first}
	cut := false
	end := -1 // the file's last line number, once the end is reached
	for num := 1; num <= last; num++ {
		b, err := r.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		if num >= first {
			s := bytes.TrimRight(b, "\r\n")
			if len(s) > sourceMaxLine {
				s = s[:sourceMaxLine]
				cut = true
			}
			out.Lines = append(out.Lines, string(bytes.ReplaceAll(s, []byte("\t"), []byte("    "))))
		}
		for long { // skip the rest of an over-long line
			_, err = r.ReadSlice('\n')
			long = errors.Is(err, bufio.ErrBufferFull)
			cut = true
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				end = num
				if len(b) == 0 {
					end--
					if num >= first {
						out.Lines = out.Lines[:len(out.Lines)-1]
					}
				}
				break
			}
			return out, err
		}
	}
	switch {
	case huge && len(out.Lines) == 0:
		out.Note = fmt.Sprintf("huge file (%d MiB)", st.Size()>>20)
	case huge:
		out.Note = fmt.Sprintf("huge file (%d MiB): showing lines %d–%d", st.Size()>>20, out.First, out.First+len(out.Lines)-1)
	case cut:
		out.Note = fmt.Sprintf("lines longer than %d characters are cut", sourceMaxLine)
	}
	// In a huge file the window can start after the last line: count the
	// lines up to the end rather than up to the window.
	if end >= 0 && line > end {
		note := fmt.Sprintf("line %d is past the end of the file (%d lines): it changed since it was traced", line, end)
		if out.Note != "" {
			note = out.Note + "; " + note
		}
		out.Note = note
	}
	return out, nil
}

// LoadSourceOf is LoadSource with a fallback for a file that cannot be
// read: the source the trace file carried (VizTracer's file_info), when
// tr has it.
func LoadSourceOf(tr *tracer.Trace, path string, line int) (SourceText, error) {
	txt, err := LoadSource(path, line)
	if err == nil || tr == nil {
		return txt, err
	}
	text, ok := tr.Source(path)
	if !ok {
		return txt, err
	}
	return embeddedSource(text, line, err), nil
}

// embeddedSource shows text the way LoadSource shows a file, saying where
// it came from and why.
func embeddedSource(text string, line int, why error) SourceText {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	out := SourceText{First: 1}
	first, last := 0, len(lines)
	if len(text) > sourceHugeSize {
		first = max(0, min(line-1-sourceWindow/2, len(lines)-1))
		last = min(len(lines), first+sourceWindow)
		out.First = first + 1
	}
	cut := false
	for _, l := range lines[first:last] {
		l = strings.TrimSuffix(l, "\r")
		if len(l) > sourceMaxLine {
			l = l[:sourceMaxLine]
			cut = true
		}
		out.Lines = append(out.Lines, strings.ReplaceAll(l, "\t", "    "))
	}
	out.Note = fmt.Sprintf("from the trace file (%v)", why)
	if cut {
		out.Note += fmt.Sprintf("; lines longer than %d characters are cut", sourceMaxLine)
	}
	return out
}
