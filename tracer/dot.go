package tracer

import (
	"bufio"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Metric is the time a callgraph is sized and coloured by.
type Metric int

const (
	ByInclusive Metric = iota // time in the function and everything below it
	ByExclusive               // time in the function itself
)

func (m Metric) String() string {
	if m == ByExclusive {
		return "exclusive"
	}
	return "inclusive"
}

// Of returns the node's time by m.
func (m Metric) Of(n GraphNode) int64 {
	if m == ByExclusive {
		return n.Exclusive
	}
	return n.Inclusive
}

// DotOptions say how WriteDOT draws a callgraph.
type DotOptions struct {
	Metric Metric // sizes and colours nodes
	// Total is the time node fractions are taken of; 0 means g.TotalTime().
	Total int64
	// Legend lines are drawn in a note at the top (e.g. a TrimReport).
	Legend []string
	// NodeSize, when set, fixes each node's box in inches (the caller
	// draws the label itself and wants Graphviz to leave room for it).
	NodeSize func(GraphNode) (w, h float64)
}

// NodeName is the DOT name of a function's node: "n" and the frame id.
func NodeName(id FrameID) string { return fmt.Sprintf("n%d", id) }

// NodeLabel is the text of a function's box, one line each: name,
// file:line, calls, inclusive and exclusive time with their share of total,
// and time to reach.
func NodeLabel(n GraphNode, total int64) []string {
	lines := []string{n.Frame.Func}
	switch {
	case n.Frame.C:
		lines = append(lines, "(built-in)")
	case n.Frame.File == "":
		lines = append(lines, "(no source file)")
	default:
		lines = append(lines, fmt.Sprintf("%s:%d", filepath.Base(n.Frame.File), n.Frame.Line))
	}
	calls := fmt.Sprintf("%d calls", n.Calls)
	if n.Calls == 1 {
		calls = "1 call"
	}
	if n.Open {
		calls += " (running)"
	}
	lines = append(lines,
		calls,
		fmt.Sprintf("incl %s%s · excl %s%s", FormatDuration(time.Duration(n.Inclusive)), share(n.Inclusive, total),
			FormatDuration(time.Duration(n.Exclusive)), share(n.Exclusive, total)),
		"reached at +"+FormatDuration(time.Duration(n.FirstReach)),
	)
	return lines
}

func share(v, total int64) string {
	if total <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f%%)", 100*float64(v)/float64(total))
}

// Heat is the colour of a node whose time is frac of the total: pale grey
// for nothing, through orange, to red for all of it (pprof's scale).
func Heat(frac float64) color.NRGBA {
	if math.IsNaN(frac) || frac < 0 {
		frac = 0
	}
	frac = math.Sqrt(min(frac, 1)) // small shares stay visible
	lerp := func(a, b float64) uint8 { return uint8(math.Round(a + (b-a)*frac)) }
	return color.NRGBA{R: lerp(0xed, 0xcc), G: lerp(0xed, 0x24), B: lerp(0xe8, 0x00), A: 0xff}
}

// EdgeWidth is the pen width of an edge with calls calls in a graph whose
// busiest edge has maxCalls: 1 to 6, on a log scale.
func EdgeWidth(calls, maxCalls int64) float64 {
	if calls <= 1 || maxCalls <= 1 {
		return 1
	}
	return 1 + 5*math.Log(float64(calls))/math.Log(float64(maxCalls))
}

// WriteDOT writes g as a Graphviz digraph, top to bottom: a box per
// function labelled by NodeLabel and filled by Heat of its time by
// o.Metric, an edge per caller→callee with its calls, width by calls.
// Functions still running are dashed. Names are escaped, so any text
// (quotes, angle brackets, backslashes, unicode) gives valid DOT.
func (g *Graph) WriteDOT(w io.Writer, o DotOptions) error {
	bw := bufio.NewWriter(w)
	total := o.Total
	if total <= 0 {
		total = g.TotalTime()
	}
	fmt.Fprintln(bw, "digraph callgraph {")
	fmt.Fprintln(bw, `  graph [rankdir=TB, charset="UTF-8", fontname="Helvetica", nodesep=0.3, ranksep=0.45];`)
	fmt.Fprintln(bw, `  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.12,0.06"];`)
	fmt.Fprintln(bw, `  edge [fontname="Helvetica", fontsize=9, color="#555555"];`)
	if len(o.Legend) > 0 {
		fmt.Fprintf(bw, "  legend [shape=note, style=filled, fillcolor=\"#ffffff\", fontsize=11, label=%s];\n",
			DotQuote(strings.Join(o.Legend, "\n")+"\n", `\l`))
	}
	var maxCalls int64
	for _, e := range g.Edges {
		maxCalls = max(maxCalls, e.Calls)
	}
	for _, n := range g.Nodes {
		v := o.Metric.Of(n)
		frac := 0.0
		if total > 0 {
			frac = float64(v) / float64(total)
		}
		c := Heat(frac)
		style := "rounded,filled"
		if n.Open {
			style += ",dashed"
		}
		attrs := fmt.Sprintf("label=%s, fillcolor=\"#%02x%02x%02x\", style=%q, tooltip=%s",
			DotQuote(strings.Join(NodeLabel(n, total), "\n"), `\n`), c.R, c.G, c.B, style,
			DotQuote(n.Frame.Label(), `\n`))
		if frac > 0.5 {
			attrs += `, fontcolor="#ffffff"`
		}
		// bigger boxes for more time, as pprof scales its font
		attrs += fmt.Sprintf(", fontsize=%.1f", 9+9*math.Sqrt(min(max(frac, 0), 1)))
		if o.NodeSize != nil {
			wd, ht := o.NodeSize(n)
			attrs += fmt.Sprintf(", fixedsize=true, width=%.3f, height=%.3f", wd, ht)
		}
		fmt.Fprintf(bw, "  %s [%s];\n", NodeName(n.ID), attrs)
	}
	for _, e := range g.Edges {
		label := fmt.Sprintf("%d×", e.Calls)
		if e.Time > 0 {
			label += " " + FormatDuration(time.Duration(e.Time))
		}
		fmt.Fprintf(bw, "  %s -> %s [label=%s, penwidth=%.2f, weight=%d];\n",
			NodeName(e.From), NodeName(e.To), DotQuote(label, `\n`), EdgeWidth(e.Calls, maxCalls), 1+int(math.Log10(float64(max(e.Calls, 1)))))
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// DotQuote returns s as a DOT double-quoted string. Quotes and backslashes
// are escaped, newlines become newline (Graphviz's \n centres a line, \l
// left-aligns it), other control characters become spaces and invalid UTF-8
// becomes U+FFFD, so Graphviz reads back exactly the text given.
func DotQuote(s, newline string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(newline)
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(unicode.ReplacementChar)
		case unicode.IsControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
