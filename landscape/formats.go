package landscape

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Format names, as the command line spells them.
const (
	FormatFlowscape  = "json"
	FormatLandscaper = "landscaper"
	FormatHwloc      = "hwloc"
	FormatDOT        = "dot"
)

// ParseError is malformed input: what was wrong and where.
type ParseError struct {
	File   string // file name, or "" when reading from memory
	Line   int    // 1-based line, 0 when unknown
	Col    int    // 1-based column, 0 when unknown
	Offset int64  // byte offset, -1 when unknown
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ", column %d", e.Col)
		}
		if e.Offset >= 0 {
			fmt.Fprintf(&b, " (byte %d)", e.Offset)
		}
		b.WriteString(": ")
	} else if e.Offset >= 0 {
		fmt.Fprintf(&b, "byte %d: ", e.Offset)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off < 0 || off > int64(len(data)) {
		return 0, 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonError places a decoding error from encoding/json in data.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = int64(len(data))
		err = fmt.Errorf("unexpected end of JSON input")
	}
	pe := &ParseError{Offset: off, Err: err}
	pe.Line, pe.Col = lineCol(data, off)
	return pe
}

// Sniff guesses a file's format from its content: XML is hwloc, JSON with
// "links" is landscaper's node-link data, JSON with "nodes" and no "links"
// is Flowscape's.
func Sniff(data []byte) (string, error) {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	switch {
	case len(t) == 0:
		return "", errors.New("empty file")
	case t[0] == '<':
		return FormatHwloc, nil
	case t[0] == '{':
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(data, &probe); err != nil {
			return "", jsonError(data, err)
		}
		if _, ok := probe["links"]; ok {
			return FormatLandscaper, nil
		}
		if _, ok := probe["nodes"]; ok {
			return FormatFlowscape, nil
		}
		return "", errors.New(`JSON object without "nodes": not a landscape`)
	}
	return "", fmt.Errorf("starts with %q: not JSON or XML", string(t[:min(len(t), 12)]))
}

// Decode reads a landscape in any format it can read, guessing which.
func Decode(data []byte) (*Landscape, error) {
	format, err := Sniff(data)
	if err != nil {
		return nil, err
	}
	return DecodeFormat(format, data)
}

// DecodeFormat reads a landscape in the named format.
func DecodeFormat(format string, data []byte) (*Landscape, error) {
	switch format {
	case FormatFlowscape:
		return ReadFlowscape(data)
	case FormatLandscaper:
		return ReadLandscaper(data)
	case FormatHwloc:
		g, err := ReadHwloc(data)
		if err != nil {
			return nil, err
		}
		return FromGraph(g, 0), nil
	}
	return nil, fmt.Errorf("cannot read format %q (want json, landscaper or hwloc)", format)
}

// Load reads the landscape file at path; errors name the file.
func Load(path string) (*Landscape, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l, err := Decode(data)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			if pe.File == "" {
				pe.File = path
			}
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Write writes the graph at its latest time (or the whole history, for
// formats that keep it) in format.
func Write(w io.Writer, format string, l *Landscape) error {
	switch format {
	case FormatFlowscape:
		return WriteFlowscape(w, l)
	case FormatLandscaper:
		return WriteLandscaper(w, l)
	case FormatDOT:
		return WriteDOT(w, l.Latest())
	}
	return fmt.Errorf("cannot write format %q (want json, landscaper or dot)", format)
}

// ---- Flowscape JSON ----

type fsFile struct {
	Nodes []fsNode `json:"nodes"`
	Edges []fsEdge `json:"edges"`
}

type fsNode struct {
	ID       string                     `json:"id"`
	Layer    string                     `json:"layer"`
	Category string                     `json:"category"`
	Type     string                     `json:"type"`
	Name     string                     `json:"name"`
	Attrs    map[string]json.RawMessage `json:"attrs"`
	From     *Time                      `json:"from,omitempty"`
	To       *Time                      `json:"to,omitempty"`
}

type fsEdge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Label  string `json:"label"`
	From   *Time  `json:"from,omitempty"`
	To     *Time  `json:"to,omitempty"`
}

// interval turns optional from/to into an interval; absent means always.
func interval(from, to *Time) (Time, Time) {
	f, t := Time(0), Forever
	if from != nil {
		f = *from
	}
	if to != nil {
		t = *to
	}
	return f, t
}

// attrsFromJSON splits raw JSON values into text attributes, marking the
// ones that were not strings.
func attrsFromJSON(raw map[string]json.RawMessage, skip func(string) bool) (map[string]string, map[string]bool) {
	var attrs map[string]string
	var js map[string]bool
	for k, v := range raw {
		if skip != nil && skip(k) {
			continue
		}
		if attrs == nil {
			attrs = make(map[string]string, len(raw))
		}
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			attrs[k] = s
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			buf.Reset()
			buf.Write(v)
		}
		attrs[k] = buf.String()
		if js == nil {
			js = map[string]bool{}
		}
		js[k] = true
	}
	return attrs, js
}

// attrsToJSON is the inverse of attrsFromJSON.
func attrsToJSON(n *Node) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(n.Attrs))
	for k, v := range n.Attrs {
		if n.JSONAttrs[k] && json.Valid([]byte(v)) {
			out[k] = json.RawMessage(v)
			continue
		}
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// ReadFlowscape reads Flowscape's JSON: {"nodes":[{"id","layer","category",
// "type","name","attrs","from","to"}],"edges":[{"source","target","label",
// "from","to"}]}. from and to are optional (absent: always valid); the same
// id may appear in several entries with disjoint intervals.
func ReadFlowscape(data []byte) (*Landscape, error) {
	var f fsFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(data, err)
	}
	l := New()
	var errs []error
	for i, n := range f.Nodes {
		attrs, js := attrsFromJSON(n.Attrs, nil)
		from, to := interval(n.From, n.To)
		if n.ID == "" {
			errs = append(errs, fmt.Errorf("nodes[%d]: %w", i, ErrEmptyID))
			continue
		}
		if err := l.AddNode(Node{ID: n.ID, Layer: n.Layer, Category: n.Category, Type: n.Type, Name: n.Name, Attrs: attrs, JSONAttrs: js}, from, to); err != nil {
			errs = append(errs, fmt.Errorf("nodes[%d]: %w", i, err))
		}
	}
	for i, e := range f.Edges {
		from, to := interval(e.From, e.To)
		if err := l.AddEdge(Edge{e.Source, e.Target, e.Label}, from, to); err != nil {
			errs = append(errs, fmt.Errorf("edges[%d]: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// WriteFlowscape writes every version of l as Flowscape JSON; versions
// valid always are written without from and to.
func WriteFlowscape(w io.Writer, l *Landscape) error {
	nodes, edges := l.Versions()
	f := fsFile{Nodes: make([]fsNode, 0, len(nodes)), Edges: make([]fsEdge, 0, len(edges))}
	for i := range nodes {
		v := &nodes[i]
		n := fsNode{ID: v.ID, Layer: v.Layer, Category: v.Category, Type: v.Type, Name: v.Name, Attrs: attrsToJSON(&v.Node)}
		n.From, n.To = optInterval(v.From, v.To)
		f.Nodes = append(f.Nodes, n)
	}
	for _, v := range edges {
		e := fsEdge{Source: v.Source, Target: v.Target, Label: v.Label}
		e.From, e.To = optInterval(v.From, v.To)
		f.Edges = append(f.Edges, e)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(f)
}

func optInterval(from, to Time) (*Time, *Time) {
	var f, t *Time
	if from != 0 {
		f = &from
	}
	if to != Forever {
		t = &to
	}
	return f, t
}

// ---- DOT ----

// dotID quotes s as a DOT identifier: Graphviz keeps a quoted name as
// written except for \" (a quote) and backslash-newline (nothing).
func dotID(s string) string {
	s = strings.ReplaceAll(s, "\\\n", "\\ \n")
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// dotQuote quotes s as a DOT label (an escString): backslashes and quotes
// escaped, newlines as \n.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// dotShape is the Graphviz shape for a node's category.
func dotShape(category string) string {
	switch category {
	case Network:
		return "ellipse"
	case Storage:
		return "cylinder"
	}
	return "box"
}

// WriteDOT writes g as a Graphviz digraph: one cluster per layer (service
// on top), shapes by category, edges labelled.
func WriteDOT(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString("digraph landscape {\n  rankdir=TB;\n  node [style=filled, fontname=\"sans\"];\n")
	colours := map[string]string{Service: "#f6c177", Virtual: "#a6d49f", Physical: "#9ccfe6"}
	for _, layer := range []string{Service, Virtual, Physical, ""} {
		var members []*Node
		for i := range g.Nodes {
			n := &g.Nodes[i]
			l := n.Layer
			if l != Service && l != Virtual && l != Physical {
				l = ""
			}
			if l == layer {
				members = append(members, n)
			}
		}
		if len(members) == 0 {
			continue
		}
		indent := "  "
		if layer != "" {
			fmt.Fprintf(&b, "  subgraph %s {\n    label=%s;\n", dotQuote("cluster_"+layer), dotQuote(layer))
			indent = "    "
		}
		for _, n := range members {
			fill := colours[n.Layer]
			if fill == "" {
				fill = "#dddddd"
			}
			fmt.Fprintf(&b, "%s%s [label=%s, shape=%s, fillcolor=%s, tooltip=%s];\n", indent,
				dotID(n.ID), dotQuote(n.Label()), dotShape(n.Category), dotQuote(fill), dotQuote(n.Type))
		}
		if layer != "" {
			b.WriteString("  }\n")
		}
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", dotID(e.Source), dotID(e.Target), dotQuote(e.Label))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ---- hwloc XML ----

type hwlocObject struct {
	Type     string        `xml:"type,attr"`
	Attrs    []xml.Attr    `xml:",any,attr"`
	Infos    []hwlocInfo   `xml:"info"`
	Children []hwlocObject `xml:"object"`
}

type hwlocInfo struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type hwlocTopology struct {
	XMLName xml.Name      `xml:"topology"`
	Objects []hwlocObject `xml:"object"`
}

// hwloc 1.x OS device types (hwloc_obj_osdev_type_e).
var osdevTypes = map[string]struct{ typ, category string }{
	"0": {"osdev_storage", Storage}, // block
	"1": {"osdev_compute", Compute}, // gpu
	"2": {"osdev_network", Network},
	"3": {"osdev_network", Network}, // openfabrics
	"4": {"osdev_compute", Compute}, // dma
	"5": {"osdev_compute", Compute}, // coproc
}

// ReadHwloc reads the XML `hwloc-ls --of xml` writes: one machine node
// (named by its HostName info) and every object under it, linked by
// CONTAINS, with the XML attributes and infos as attributes (lower case, as
// landscaper names them). IDs are <host>_<type>_<n>.
func ReadHwloc(data []byte) (*Graph, error) {
	var top hwlocTopology
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	if err := dec.Decode(&top); err != nil {
		pe := &ParseError{Offset: dec.InputOffset(), Err: err}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			pe.Line = se.Line
		} else {
			pe.Line, pe.Col = lineCol(data, pe.Offset)
		}
		return nil, pe
	}
	if len(top.Objects) == 0 {
		return nil, errors.New("hwloc topology without objects")
	}
	var nodes []Node
	var edges []Edge
	count := map[string]int{}
	for mi := range top.Objects {
		m := &top.Objects[mi]
		host := ""
		for _, in := range m.Infos {
			if in.Name == "HostName" {
				host = in.Value
			}
		}
		if host == "" {
			host = fmt.Sprintf("machine%d", mi)
		}
		var walk func(o *hwlocObject, parent string)
		walk = func(o *hwlocObject, parent string) {
			typ := strings.ToLower(o.Type)
			category := Compute
			attrs := make(map[string]string, len(o.Attrs)+len(o.Infos))
			for _, a := range o.Attrs {
				attrs[a.Name.Local] = a.Value
			}
			for _, in := range o.Infos {
				attrs[strings.ToLower(in.Name)] = in.Value
			}
			name := ""
			switch typ {
			case "osdev":
				if t, ok := osdevTypes[attrs["osdev_type"]]; ok {
					typ, category = t.typ, t.category
				} else {
					typ = "osdev_compute"
				}
				name = attrs["name"]
				if name != "" {
					attrs[KeyDevice] = name
				}
				if a := attrs["address"]; a != "" && category == Network {
					attrs[KeyMAC] = a
				}
			case "pu":
				attrs[KeyCPU] = attrs["os_index"]
			case "machine":
				attrs[KeyHostname] = host
				name = host
			}
			var id string
			if typ == "machine" {
				id = host
			} else {
				id = fmt.Sprintf("%s_%s_%d", host, typ, count[host+"\x00"+typ])
				count[host+"\x00"+typ]++
			}
			if name == "" {
				name = strings.TrimPrefix(id, host+"_")
				if idx, ok := attrs["os_index"]; ok && typ != "cache" {
					name = typ + " " + idx
				}
			}
			nodes = append(nodes, Node{ID: id, Layer: Physical, Category: category, Type: typ, Name: name, Attrs: attrs})
			if parent != "" {
				edges = append(edges, Edge{parent, id, Contains})
			}
			for i := range o.Children {
				walk(&o.Children[i], id)
			}
		}
		walk(m, "")
	}
	g := NewGraph(nodes, edges)
	return g, g.Validate()
}
