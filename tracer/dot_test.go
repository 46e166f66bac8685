package tracer_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

func TestWriteDOTGolden(t *testing.T) {
	viz, err := os.Open("testdata/viztracer/multithread.json")
	require.NoError(t, err)
	defer viz.Close()
	vizTrace := tracer.NewTrace(0)
	require.NoError(t, tracer.ReadChrome(viz, vizTrace))

	tests := []struct {
		name   string
		trace  *tracer.Trace
		metric tracer.Metric
		trim   tracer.TrimOptions
	}{
		{"golden", goldenTrace(), tracer.ByInclusive, tracer.TrimOptions{}},
		{"golden-exclusive", goldenTrace(), tracer.ByExclusive, tracer.TrimOptions{}},
		{"viztracer-multithread", vizTrace, tracer.ByInclusive, tracer.TrimOptions{MaxNodes: 12, EdgeFraction: 0.001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, rep := tt.trace.Callgraph().Trim(tt.trim)
			var legend []string
			if rep.Dropped() {
				legend = []string{rep.String()}
			}
			var buf bytes.Buffer
			require.NoError(t, g.WriteDOT(&buf, tracer.DotOptions{Metric: tt.metric, Legend: legend, Total: rep.Total}))
			golden(t, tt.name+".dot", buf.Bytes())
		})
	}
}

func TestWriteDOTOpenCallsDashed(t *testing.T) {
	g := script(`0 > main; 10 > a; 20 < a; 30 > wait`).trace(0, tracer.ProcessInfo{}).Callgraph()
	var buf bytes.Buffer
	require.NoError(t, g.WriteDOT(&buf, tracer.DotOptions{}))
	for _, line := range strings.Split(buf.String(), "\n") {
		switch {
		case strings.Contains(line, `label="main\n`), strings.Contains(line, `label="wait\n`):
			assert.Contains(t, line, "dashed")
			assert.Contains(t, line, "(running)")
		case strings.Contains(line, `label="a\n`):
			assert.NotContains(t, line, "dashed")
		}
	}
}

func TestWriteDOTFixedSize(t *testing.T) {
	g := script(`0 > main; 10 < main`).trace(0, tracer.ProcessInfo{}).Callgraph()
	var buf bytes.Buffer
	require.NoError(t, g.WriteDOT(&buf, tracer.DotOptions{NodeSize: func(tracer.GraphNode) (float64, float64) { return 1.5, 0.25 }}))
	assert.Contains(t, buf.String(), "fixedsize=true, width=1.500, height=0.250")
}

// dotQuoteTests are names a program may have; they seed FuzzDotQuote.
var dotQuoteTests = []struct{ in, want string }{
	{"main", `"main"`},
	{`say "hi"`, `"say \"hi\""`},
	{`<lambda>`, `"<lambda>"`},
	{`C:\path\N`, `"C:\\path\\N"`},
	{"two\nlines", `"two\nlines"`},
	{"tab\there", `"tab here"`},
	{"ünïcødé 函数", `"ünïcødé 函数"`},
	{"bad \xff utf8", "\"bad \uFFFD utf8\""},
	{`trailing \`, `"trailing \\"`},
	{"", `""`},
}

func TestDotQuote(t *testing.T) {
	for _, tt := range dotQuoteTests {
		assert.Equal(t, tt.want, tracer.DotQuote(tt.in, `\n`), "DotQuote(%q)", tt.in)
	}
}

// unquoteDOT reads back a DOT double-quoted string as Graphviz does for a
// label: \" is a quote, \\ a backslash, \n a newline.
func unquoteDOT(t *testing.T, q string) string {
	require.True(t, len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"', "not quoted: %s", q)
	var b strings.Builder
	body := q[1 : len(q)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '"' {
			t.Fatalf("unescaped quote at byte %d of %s", i, q)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		require.Less(t, i+1, len(body), "dangling backslash ends %s", q)
		i++
		switch body[i] {
		case '"', '\\':
			b.WriteByte(body[i])
		case 'n':
			b.WriteByte('\n')
		default:
			t.Fatalf(`unknown escape \%c in %s`, body[i], q)
		}
	}
	return b.String()
}

// FuzzDotQuote: any string quotes to a valid DOT string that Graphviz reads
// back as the same text (control characters as spaces, invalid UTF-8 as
// U+FFFD).
func FuzzDotQuote(f *testing.F) {
	for _, tt := range dotQuoteTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := tracer.DotQuote(s, `\n`)
		require.True(t, utf8.ValidString(q))
		got := unquoteDOT(t, q)
		want := strings.Map(func(r rune) rune {
			if r != '\n' && r < 0x20 || r >= 0x7f && r < 0xa0 {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		// ToValidUTF8 folds a run of bad bytes into one U+FFFD; DotQuote
		// replaces each; compare with runs folded
		assert.Equal(t, foldFFFD(want), foldFFFD(got))
	})
}

func foldFFFD(s string) string {
	for strings.Contains(s, "\uFFFD\uFFFD") {
		s = strings.ReplaceAll(s, "\uFFFD\uFFFD", "\uFFFD")
	}
	return s
}

func TestHeatAndEdgeWidth(t *testing.T) {
	assert.Equal(t, tracer.Heat(0), tracer.Heat(-1))
	assert.Equal(t, tracer.Heat(1), tracer.Heat(7))
	low, mid, high := tracer.Heat(0.01), tracer.Heat(0.3), tracer.Heat(1)
	assert.Greater(t, low.G, mid.G, "greener when cooler")
	assert.Greater(t, mid.G, high.G)
	assert.Equal(t, 1.0, tracer.EdgeWidth(1, 1000))
	assert.InDelta(t, 6.0, tracer.EdgeWidth(1000, 1000), 1e-9)
	assert.Less(t, tracer.EdgeWidth(10, 1000), tracer.EdgeWidth(100, 1000))
}
