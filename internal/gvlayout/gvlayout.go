// Package gvlayout lays out and renders DOT graphs with Graphviz compiled to
// WebAssembly (github.com/goccy/go-graphviz), so no Graphviz install and no
// cgo are needed.
//
// go-graphviz runs one WebAssembly instance per process that is not safe for
// concurrent use: every call here takes one process-wide lock, and waiting
// for it honours the context. Layouts of a few hundred nodes take tens of
// milliseconds; callers run them off the UI goroutine.
package gvlayout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-graphviz"

	"flowscape/internal/gvtmp" // before go-graphviz's initialisation: see there
)

// go-graphviz has been initialised (it is imported above): TMPDIR can be
// what it was again.
func init() { gvtmp.Restore() }

// Engines are the layout engines Run and Render accept.
var Engines = []string{"dot", "sfdp", "neato", "fdp", "twopi", "circo"}

// Formats are the output formats Render accepts.
var Formats = []string{"svg", "png", "dot", "json", "plain"}

var (
	sem     = make(chan struct{}, 1) // the lock on the instance
	initErr error
	gv      *graphviz.Graphviz
	once    sync.Once
)

// acquire takes the lock, or returns ctx's error when ctx ends first.
func acquire(ctx context.Context) error {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	once.Do(func() {
		gv, initErr = graphviz.New(context.Background())
		if initErr != nil {
			initErr = fmt.Errorf("start graphviz: %w", initErr)
		}
	})
	if initErr != nil {
		<-sem
		return initErr
	}
	return nil
}

func release() { <-sem }

func check(engine, format string) error {
	if !contains(Engines, engine) {
		return fmt.Errorf("unknown layout engine %q (want one of %s)", engine, strings.Join(Engines, ", "))
	}
	if !contains(Formats, format) {
		return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Render lays out the DOT source with engine and writes it to w in format
// (svg, png, dot with positions, json, plain).
func Render(ctx context.Context, dot []byte, engine, format string, w io.Writer) (err error) {
	if err := check(engine, format); err != nil {
		return err
	}
	if err := acquire(ctx); err != nil {
		return err
	}
	defer release()
	defer func() {
		// a fault inside the WebAssembly module surfaces as a panic
		if r := recover(); r != nil {
			err = fmt.Errorf("graphviz %s: %v", engine, r)
		}
	}()
	g, err := graphviz.ParseBytes(dot)
	if err != nil {
		return fmt.Errorf("parse DOT: %w", err)
	}
	defer g.Close()
	gv.SetLayout(graphviz.Layout(engine))
	if err := gv.Render(ctx, g, graphviz.Format(format), w); err != nil {
		return fmt.Errorf("graphviz %s -T%s: %w", engine, format, err)
	}
	return nil
}

// Layout is where Graphviz placed a graph's nodes and edges, in points
// (1/72 inch), with the origin at the top left and y growing downwards.
type Layout struct {
	Width, Height float64
	Nodes         []Node
	Edges         []Edge
}

// Node is one placed node: its name in the DOT source, its centre and size.
type Node struct {
	Name       string
	X, Y, W, H float64
}

// Edge is one placed edge: a cubic B-spline (1 + 3n control points) from
// tail to head, and where its arrowhead ends (Arrow, when HasArrow).
type Edge struct {
	Tail, Head string
	Points     []Point
	Arrow      Point
	HasArrow   bool
}

// Point is a position in points.
type Point struct{ X, Y float64 }

// Run lays out the DOT source with engine and returns the positions.
func Run(ctx context.Context, dot []byte, engine string) (*Layout, error) {
	var buf bytes.Buffer
	if err := Render(ctx, dot, engine, "json", &buf); err != nil {
		return nil, err
	}
	return parseJSON(buf.Bytes())
}

type jsonOut struct {
	BB      string `json:"bb"`
	Objects []struct {
		GVID   int    `json:"_gvid"`
		Name   string `json:"name"`
		Pos    string `json:"pos"`
		Width  string `json:"width"`
		Height string `json:"height"`
		Nodes  []int  `json:"nodes"` // set on subgraphs
	} `json:"objects"`
	Edges []struct {
		Tail int    `json:"tail"`
		Head int    `json:"head"`
		Pos  string `json:"pos"`
	} `json:"edges"`
}

// parseJSON reads Graphviz's -Tjson output.
func parseJSON(data []byte) (*Layout, error) {
	var out jsonOut
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("graphviz json output: %w", err)
	}
	l := &Layout{}
	var x0, y0 float64
	if out.BB != "" {
		bb, err := floats(out.BB, 4)
		if err != nil {
			return nil, fmt.Errorf("graphviz bounding box %q: %w", out.BB, err)
		}
		x0, y0 = bb[0], bb[1]
		l.Width, l.Height = bb[2]-bb[0], bb[3]-bb[1]
	}
	// Graphviz's y grows upwards from the bounding box's bottom.
	flip := func(x, y float64) Point { return Point{x - x0, l.Height - (y - y0)} }
	names := make(map[int]string)
	for _, o := range out.Objects {
		if o.Pos == "" || o.Nodes != nil {
			continue // a subgraph
		}
		p, err := floats(o.Pos, 2)
		if err != nil {
			return nil, fmt.Errorf("graphviz position %q of node %q: %w", o.Pos, o.Name, err)
		}
		w, err1 := strconv.ParseFloat(o.Width, 64)
		h, err2 := strconv.ParseFloat(o.Height, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("graphviz size %qx%q of node %q", o.Width, o.Height, o.Name)
		}
		c := flip(p[0], p[1])
		l.Nodes = append(l.Nodes, Node{Name: o.Name, X: c.X, Y: c.Y, W: w * 72, H: h * 72})
		names[o.GVID] = o.Name
	}
	for _, e := range out.Edges {
		ed := Edge{Tail: names[e.Tail], Head: names[e.Head]}
		for _, f := range strings.Fields(e.Pos) {
			end := ""
			if strings.HasPrefix(f, "e,") || strings.HasPrefix(f, "s,") {
				end, f = f[:1], f[2:]
			}
			p, err := floats(f, 2)
			if err != nil {
				return nil, fmt.Errorf("graphviz spline %q of edge %s -> %s: %w", e.Pos, ed.Tail, ed.Head, err)
			}
			pt := flip(p[0], p[1])
			switch end {
			case "e":
				ed.Arrow, ed.HasArrow = pt, true
			case "s":
				// arrow at the tail: not drawn by Flowscape's graphs
			default:
				ed.Points = append(ed.Points, pt)
			}
		}
		l.Edges = append(l.Edges, ed)
	}
	return l, nil
}

// floats parses n comma-separated numbers.
func floats(s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("want %d numbers", n)
	}
	out := make([]float64, n)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}
