package app

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/software"
	"fyne.io/fyne/v2/test"

	"flowscape/internal/gvlayout"
	"flowscape/tracer"
	"flowscape/widgets"
)

// callgraphFormats are the formats `flowscape callgraph` and the Callgraph
// tab's Export write.
var callgraphFormats = []string{"json", "dot", "svg", "png"}

// graphView is what the callgraph shows: which thread, how it is trimmed
// and what it is coloured by.
type graphView struct {
	tid    uint32 // 0: all threads
	trim   tracer.TrimOptions
	metric tracer.Metric
}

// build returns the trimmed graph of t and the trim report.
func (v graphView) build(t *tracer.Trace) (*tracer.Graph, tracer.TrimReport) {
	var g *tracer.Graph
	if v.tid != 0 {
		g = t.CallgraphThread(v.tid)
	} else {
		g = t.Callgraph()
	}
	return g.Trim(v.trim)
}

// legend is the legend text of a trimmed graph drawn by metric.
func legend(rep tracer.TrimReport, metric tracer.Metric) []string {
	lines := []string{fmt.Sprintf("boxes coloured by %s time; edges: calls and time", metric)}
	if rep.Dropped() {
		lines = append(lines, rep.String())
	}
	return lines
}

// writeCallgraph writes g in format (json, dot, svg, png) to w.
func writeCallgraph(ctx context.Context, w io.Writer, g *tracer.Graph, rep tracer.TrimReport, metric tracer.Metric, format string) error {
	if format == "json" {
		return g.WriteJSON(w)
	}
	var dot strings.Builder
	if err := g.WriteDOT(&dot, tracer.DotOptions{Metric: metric, Total: rep.Total, Legend: legend(rep, metric)}); err != nil {
		return err
	}
	switch format {
	case "dot":
		_, err := io.WriteString(w, dot.String())
		return err
	case "png":
		return renderCallgraphPNG(ctx, w, g, rep, metric)
	}
	return gvlayout.Render(ctx, []byte(dot.String()), "dot", format, w)
}

// layoutCallgraph lays g out with Graphviz, leaving room in each box for
// the label the CallGraph widget draws. Call off the UI goroutine.
func layoutCallgraph(ctx context.Context, g *tracer.Graph, rep tracer.TrimReport, metric tracer.Metric) (*gvlayout.Layout, error) {
	var dot strings.Builder
	err := g.WriteDOT(&dot, tracer.DotOptions{
		Metric: metric,
		Total:  rep.Total,
		NodeSize: func(n tracer.GraphNode) (float64, float64) {
			return widgets.CallGraphNodeSize(n, rep.Total, metric)
		},
	})
	if err != nil {
		return nil, err
	}
	return gvlayout.Run(ctx, []byte(dot.String()), "dot")
}

// renderCallgraphPNG draws g as the Callgraph tab does, at twice the
// screen's scale, with the software renderer (no display needed).
func renderCallgraphPNG(ctx context.Context, w io.Writer, g *tracer.Graph, rep tracer.TrimReport, metric tracer.Metric) error {
	if fyne.CurrentApp() == nil {
		test.NewApp() // headless: the software renderer needs an app for its theme
	}
	var img image.Image
	var err error
	done := make(chan struct{})
	// from a goroutine of its own: fyne.DoAndWait must not be called on
	// the main goroutine, which the headless command runs on
	go func() {
		defer close(done)
		var l *gvlayout.Layout
		if l, err = layoutCallgraph(ctx, g, rep, metric); err != nil {
			return
		}
		fyne.DoAndWait(func() {
			view := widgets.NewCallGraph()
			view.SetGraph(g, l, rep.Total, metric, legend(rep, metric)[1:])
			view.Settle()
			c := software.NewCanvas()
			c.SetPadded(false)
			c.SetScale(2)
			c.SetContent(view)
			// room around the graph for the legend at the top left
			c.Resize(fyne.NewSize(float32(l.Width)+64, float32(l.Height)+240))
			view.Fit()
			img = c.Capture()
		})
	}()
	<-done
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// findFunc returns the function named name in g (the one with the most
// inclusive time when several share the name). name may also be
// "file:line" or "func@file:line" to tell them apart.
func findFunc(g *tracer.Graph, name string) (tracer.FrameID, error) {
	for _, n := range g.Nodes { // by inclusive time, largest first
		f := n.Frame
		loc := fmt.Sprintf("%s:%d", f.File, f.Line)
		if f.Func == name || loc == name || f.Func+"@"+loc == name || strings.HasSuffix(loc, "/"+name) {
			return n.ID, nil
		}
	}
	return 0, fmt.Errorf("no function %q in the trace", name)
}

func cmdCallgraph(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("callgraph", "flowscape callgraph [--format json|dot|svg|png] [-o OUT] [--top N] [--focus FUNC [--depth K]] [--thread TID] FILE", stderr)
	format := fs.String("format", "json", "output `format`: "+strings.Join(callgraphFormats, ", "))
	out := fs.String("o", "", "write to `OUT` instead of standard output")
	top := fs.Int("top", -1, "keep the `N` functions with the most inclusive time (default 80 for dot, svg and png; all for json; 0: all)")
	nodeFrac := fs.Float64("node-fraction", 0, "hide functions below this `fraction` of the total time")
	edgeFrac := fs.Float64("edge-fraction", 0, "hide edges below this `fraction` of the total time")
	focus := fs.String("focus", "", "show only `FUNC` (a name, file:line or func@file:line), its callers and callees")
	depth := fs.Int("depth", 2, "levels of callers and callees --focus keeps")
	by := fs.String("by", "inclusive", "colour boxes by `TIME`: inclusive or exclusive")
	tid := fs.Uint("thread", 0, "only the thread `TID` (0: all threads)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	path, code, ok := oneFile(fs, stderr)
	if !ok {
		return code
	}
	if !slices.Contains(callgraphFormats, *format) {
		return errorf(stderr, "callgraph: unknown format %q (want one of %s)", *format, strings.Join(callgraphFormats, ", "))
	}
	v := graphView{tid: uint32(*tid), trim: tracer.TrimOptions{NodeFraction: *nodeFrac, EdgeFraction: *edgeFrac, MaxNodes: *top}}
	switch *by {
	case "inclusive":
	case "exclusive":
		v.metric = tracer.ByExclusive
	default:
		return errorf(stderr, "callgraph: --by %q: want inclusive or exclusive", *by)
	}
	if *top < 0 {
		v.trim.MaxNodes = tracer.DefaultMaxNodes
		if *format == "json" {
			v.trim.MaxNodes = 0
		}
	}
	if err := checkFraction("node-fraction", *nodeFrac); err != nil {
		return errorf(stderr, "callgraph: %v", err)
	}
	if err := checkFraction("edge-fraction", *edgeFrac); err != nil {
		return errorf(stderr, "callgraph: %v", err)
	}
	t, ok := loadTraceFile(path, stderr)
	if !ok {
		return 1
	}
	if *focus != "" {
		id, err := findFunc(t.Callgraph(), *focus)
		if err != nil {
			return errorf(stderr, "callgraph: --focus: %v", err)
		}
		v.trim.Focus, v.trim.FocusSet, v.trim.FocusDepth = id, true, *depth
	}
	g, rep := v.build(t)
	if rep.Dropped() && *format != "json" {
		fmt.Fprintf(stderr, "flowscape callgraph: %s\n", rep)
	}
	return writeOut(*out, stdout, stderr, func(w io.Writer) error {
		return writeCallgraph(context.Background(), w, g, rep, v.metric, *format)
	})
}

func checkFraction(name string, f float64) error {
	if f < 0 || f >= 1 {
		return fmt.Errorf("--%s %v: want a fraction from 0 to below 1", name, f)
	}
	return nil
}

// writeOut runs write on path (created, or replaced once write succeeds) or
// on stdout when path is empty or "-"; it reports a failure and returns the
// exit status.
func writeOut(path string, stdout, stderr io.Writer, write func(io.Writer) error) int {
	if err := writeTo(path, stdout, write); err != nil {
		return errorf(stderr, "%v", err)
	}
	return 0
}

// writeTo runs write on path (through writeFileAtomic) or, when path is
// empty or "-", on stdout, buffered.
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path != "" && path != "-" {
		return writeFileAtomic(path, write)
	}
	w := bufio.NewWriterSize(stdout, 1<<20)
	if err := write(w); err != nil {
		return err
	}
	return w.Flush()
}

// writeFileAtomic writes path through a temporary file in the same
// directory, renamed over path only when write succeeded.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir, base := ".", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	f, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
