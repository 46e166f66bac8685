package tracer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// jsonScanner reads JSON from a stream token by token without building
// values, for trace files too big for encoding/json's decoder to be quick
// (it is ~10× faster on trace events). Byte slices it returns alias its
// buffer and are valid until the next call.
type jsonScanner struct {
	r   io.Reader
	buf []byte
	pos int   // next byte to read in buf
	off int64 // input offset of buf[0]
	err error // the reader's error once it returned one (io.EOF at the end)

	keys  [][]byte // objectFields' key, by nesting level
	depth int      // objectFields calls under way
}

// jsonScanBuffer is the scanner's first buffer size; it grows for longer
// tokens.
var jsonScanBuffer = 256 << 10

func newJSONScanner(r io.Reader) *jsonScanner {
	return &jsonScanner{r: r, buf: make([]byte, 0, jsonScanBuffer)}
}

// offset is the input offset of the next byte.
func (s *jsonScanner) offset() int64 { return s.off + int64(s.pos) }

// fill reads more input, keeping buf[keep:]; it returns false when there
// is no more (s.err says why). Offsets into buf shift by keep.
func (s *jsonScanner) fill(keep int) bool {
	if s.err != nil {
		return false
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.off += int64(keep)
		s.pos -= keep
	}
	if len(s.buf) == cap(s.buf) {
		nb := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(nb, s.buf)
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// buffered returns the bytes read from the input but not yet scanned.
func (s *jsonScanner) buffered() []byte { return s.buf[s.pos:] }

// errEOF is the error for input that ends inside a value.
func (s *jsonScanner) errEOF() error {
	if s.err != nil && !errors.Is(s.err, io.EOF) {
		return s.err
	}
	return io.ErrUnexpectedEOF
}

// peek skips white space and returns the next byte without consuming it;
// ok is false at the end of the input.
func (s *jsonScanner) peek() (byte, bool) {
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		return s.buf[s.pos], true // no white space: the common case
	}
	for {
		for s.pos < len(s.buf) {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\r', '\n':
				s.pos++
			default:
				return c, true
			}
		}
		if !s.fill(s.pos) {
			return 0, false
		}
	}
}

// next consumes and returns the next byte that is not white space.
func (s *jsonScanner) next() (byte, error) {
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		s.pos++
		return s.buf[s.pos-1], nil
	}
	c, ok := s.peek()
	if !ok {
		return 0, s.errEOF()
	}
	s.pos++
	return c, nil
}

// expect consumes the byte c (after white space).
func (s *jsonScanner) expect(c byte) error {
	got, err := s.next()
	if err != nil {
		return err
	}
	if got != c {
		return fmt.Errorf("invalid character %s, want '%c'", quoteByte(got), c)
	}
	return nil
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("'%c'", c)
	}
	return fmt.Sprintf("0x%02x", c)
}

// strStop marks the bytes that end str's fast scan of a string: the
// closing quote, a backslash, control characters and non-ASCII bytes.
var strStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// str reads a string; the result aliases the buffer unless it had escapes.
func (s *jsonScanner) str() ([]byte, error) {
	c, err := s.next()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, fmt.Errorf("invalid character %s, want a string", quoteByte(c))
	}
	start := s.pos
	escaped := false
	var high byte // the bytes' high bits: 0 for ASCII
	for i := s.pos; ; i++ {
		// plain ASCII, the common case, a byte at a time with one test
		for i < len(s.buf) && !strStop[s.buf[i]] {
			i++
		}
		if i >= len(s.buf) {
			off := i - start
			if !s.fill(start - 1) {
				return nil, s.errEOF()
			}
			start = s.pos
			i = start + off - 1
			continue
		}
		c := s.buf[i]
		high |= c
		switch {
		case c == '"':
			raw := s.buf[start:i]
			s.pos = i + 1
			if !escaped {
				if high >= utf8.RuneSelf && !utf8.Valid(raw) {
					return []byte(string([]rune(string(raw)))), nil
				}
				return raw, nil
			}
			var out string
			if err := json.Unmarshal(s.buf[start-1:i+1], &out); err != nil {
				return nil, err
			}
			return []byte(out), nil
		case c == '\\':
			escaped = true
			i++ // the escaped byte cannot end the string
			if i >= len(s.buf) {
				i-- // re-read the backslash after filling
				off := i - start
				if !s.fill(start - 1) {
					return nil, s.errEOF()
				}
				start = s.pos
				i = start + off - 1
			}
		case c < 0x20:
			s.pos = i
			return nil, fmt.Errorf("invalid character %s in string", quoteByte(c))
		}
	}
}

// scalar reads a number or a literal (true, false, null) and returns its
// bytes.
func (s *jsonScanner) scalar() ([]byte, error) {
	if _, ok := s.peek(); !ok {
		return nil, s.errEOF()
	}
	start := s.pos
	for i := s.pos; ; i++ {
		if i >= len(s.buf) {
			off := i - start
			if !s.fill(start) {
				if s.err != nil && !errors.Is(s.err, io.EOF) {
					return nil, s.err
				}
				// the input ends with the scalar
				raw := s.buf[s.pos:]
				s.pos = len(s.buf)
				if len(raw) == 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return raw, nil
			}
			start = s.pos
			i = start + off - 1
			continue
		}
		c := s.buf[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E' {
			continue
		}
		if i == start {
			return nil, fmt.Errorf("invalid character %s looking for a value", quoteByte(c))
		}
		raw := s.buf[start:i]
		s.pos = i
		return raw, nil
	}
}

// skip consumes one value of any kind, appending its bytes to capture when
// it is not nil.
func (s *jsonScanner) skip(capture *[]byte) error {
	c, ok := s.peek()
	if !ok {
		return s.errEOF()
	}
	switch c {
	case '"':
		raw, err := s.str()
		if err != nil {
			return err
		}
		if capture != nil {
			q, _ := json.Marshal(string(raw))
			*capture = append(*capture, q...)
		}
		return nil
	case '{', '[':
		s.pos++
		if capture != nil {
			*capture = append(*capture, c)
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if n, _ := s.peek(); n == closer {
			s.pos++
			if capture != nil {
				*capture = append(*capture, closer)
			}
			return nil
		}
		for {
			if c == '{' {
				if err := s.skip(capture); err != nil { // the key
					return err
				}
				if err := s.expect(':'); err != nil {
					return err
				}
				if capture != nil {
					*capture = append(*capture, ':')
				}
			}
			if err := s.skip(capture); err != nil {
				return err
			}
			sep, err := s.next()
			if err != nil {
				return err
			}
			if capture != nil {
				*capture = append(*capture, sep)
			}
			if sep == closer {
				return nil
			}
			if sep != ',' {
				return fmt.Errorf("invalid character %s after a value, want ',' or '%c'", quoteByte(sep), closer)
			}
		}
	default:
		raw, err := s.scalar()
		if err != nil {
			return err
		}
		if !validScalar(raw) {
			return fmt.Errorf("invalid value %q", raw)
		}
		if capture != nil {
			*capture = append(*capture, raw...)
		}
		return nil
	}
}

func validScalar(raw []byte) bool {
	switch string(raw) {
	case "true", "false", "null":
		return true
	}
	return json.Valid(raw)
}

// openObject consumes an object's '{' and reports whether the object is
// empty (its '}' consumed too). With memberKey and closeMember it reads an
// object as objectFields does, without a callback: for the hottest objects.
func (s *jsonScanner) openObject() (empty bool, err error) {
	if err := s.expect('{'); err != nil {
		return false, err
	}
	if c, _ := s.peek(); c == '}' {
		s.pos++
		return true, nil
	}
	return false, nil
}

// memberKey reads a member's key; the result aliases the buffer until the
// next call, so the caller looks at it before it reads the ':'.
func (s *jsonScanner) memberKey() ([]byte, error) { return s.str() }

// closeMember reads what follows a member's value and reports whether it
// ended the object.
func (s *jsonScanner) closeMember() (end bool, err error) {
	sep, err := s.next()
	if err != nil {
		return false, err
	}
	if sep == '}' {
		return true, nil
	}
	if sep != ',' {
		return false, fmt.Errorf("invalid character %s after an object value, want ',' or '}'", quoteByte(sep))
	}
	return false, nil
}

// objectFields calls fn for each key of an object (the reader is before its
// '{'); fn must consume the value.
func (s *jsonScanner) objectFields(fn func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if c, _ := s.peek(); c == '}' {
		s.pos++
		return nil
	}
	// the key aliases the buffer, which the next read may move: keep a
	// copy, in a buffer of this nesting level (one on the stack would
	// escape to the heap through fn)
	level := s.depth
	if level == len(s.keys) {
		s.keys = append(s.keys, make([]byte, 0, 64))
	}
	s.depth++
	defer func() { s.depth-- }()
	for {
		raw, err := s.str()
		if err != nil {
			return err
		}
		s.keys[level] = append(s.keys[level][:0], raw...)
		key := s.keys[level]
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		sep, err := s.next()
		if err != nil {
			return err
		}
		if sep == '}' {
			return nil
		}
		if sep != ',' {
			return fmt.Errorf("invalid character %s after an object value, want ',' or '}'", quoteByte(sep))
		}
	}
}
