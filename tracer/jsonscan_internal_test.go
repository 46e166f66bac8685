package tracer

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r *bytes.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// withBuffer runs fn with the scanner's first buffer set to n bytes.
func withBuffer(t testing.TB, n int, fn func()) {
	old := jsonScanBuffer
	jsonScanBuffer = n
	defer func() { jsonScanBuffer = old }()
	fn()
}

// The scanner reads a file the same however the input is cut: buffer
// boundaries inside keys, strings, escapes and numbers.
func TestJSONScannerBoundaries(t *testing.T) {
	want := map[string]int64{}
	in, err := os.ReadFile("testdata/interop/viztracer_multithread.json")
	require.NoError(t, err)
	// escapes, unicode and a long name
	extra := `{"traceEvents":[{"ph":"X","name":"a\"b\\c\u00e9 (x.py:1)","ts":1.5,"dur":2,"tid":1},` +
		`{"ph":"X","name":"` + string(bytes.Repeat([]byte("ü"), 300)) + `","ts":2,"dur":1,"tid":1,"args":{"x":[1,{"y":"}"}],"file":"f.py"}}]}`
	for _, input := range [][]byte{in, []byte(extra)} {
		ref := NewTrace(0)
		_, err := ReadChromeReport(bytes.NewReader(input), ref)
		require.NoError(t, err)
		for k := range want {
			delete(want, k)
		}
		for _, n := range ref.Callgraph().Nodes {
			want[n.Frame.Label()] = n.Calls
		}
		require.NotEmpty(t, want)
		for _, buf := range []int{1, 2, 7, 64, 1000} {
			for _, chunk := range []int{1, 3, 17, 4096} {
				withBuffer(t, buf, func() {
					tr := NewTrace(0)
					_, err := ReadChromeReport(chunkReader{bytes.NewReader(input), chunk}, tr)
					require.NoError(t, err, "buffer %d, chunks of %d", buf, chunk)
					got := map[string]int64{}
					for _, n := range tr.Callgraph().Nodes {
						got[n.Frame.Label()] = n.Calls
					}
					assert.Equal(t, want, got, "buffer %d, chunks of %d", buf, chunk)
				})
			}
		}
	}
}

// skip with a capture gives back a value encoding/json reads the same.
func FuzzJSONScannerSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c\"d"}],"e":null}`, `"x\u00e9"`, `[true,false,-1.5e3]`, `{}`, `[]`, `{"a":}`, `[1,]`} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		chunk = max(1, chunk%64)
		withBuffer(t, 2, func() {
			s := newJSONScanner(iotest.OneByteReader(chunkReader{bytes.NewReader(in), chunk}))
			var out []byte
			if err := s.skip(&out); err != nil {
				return
			}
			var want, got any
			if json.Unmarshal(out, &got) != nil {
				t.Fatalf("captured %q from %q: not JSON", out, in)
			}
			dec := json.NewDecoder(bytes.NewReader(in))
			if dec.Decode(&want) == nil {
				assert.Equal(t, want, got)
			}
		})
	})
}

// micros and intArg read the common forms without strconv: they give
// what strconv's reading gives for every input.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"", "0", "12", "-12", "1.5", "1.2345", "1.2355", "-0.0005", "1e3", "+5", "--5", "1.", ".5", "-", "1.2.3",
		"123456789012345", "1234567890123456", "4611686018427387", "007", "1_0", "2147483647", "2147483648", "-2147483648", "999999999", "1.23x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := micros([]byte(s))
		want, wantErr := microsSlow(s)
		if s == "" {
			want, wantErr = 0, nil
		}
		assert.Equal(t, want, got, "micros(%q)", s)
		assert.Equal(t, wantErr, gotErr, "micros(%q)", s)
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			v = 0
		}
		assert.Equal(t, int(v), intArg([]byte(s)), "intArg(%q)", s)
	})
}
