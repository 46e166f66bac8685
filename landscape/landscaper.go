package landscape

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// landscaperForever is the "to" landscaper writes for what is still valid
// (2031-01-01).
const landscaperForever = 1924905600

// stateLabel links an identity node to one of its states in landscaper's
// export with states.
const stateLabel = "STATE"

// reserved are the node keys that are not attributes; an attribute with
// one of these names is written as <type>-<key>, as landscaper does.
var reserved = map[string]bool{"id": true, "name": true, "type": true, "layer": true, "category": true}

type lsFile struct {
	Directed   bool                         `json:"directed"`
	Graph      json.RawMessage              `json:"graph"`
	Nodes      []map[string]json.RawMessage `json:"nodes"`
	Links      []lsLink                     `json:"links"`
	Multigraph bool                         `json:"multigraph"`
}

type lsLink struct {
	Source int    `json:"source"`
	Target int    `json:"target"`
	Label  string `json:"label"`
	From   *Time  `json:"from,omitempty"`
	To     *Time  `json:"to,omitempty"`
}

func lsTime(from, to *Time) (Time, Time) {
	f, t := interval(from, to)
	if t == landscaperForever {
		t = Forever
	}
	return f, t
}

// str returns a raw JSON value as text (strings unquoted).
func str(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	return string(v)
}

// ReadLandscaper reads landscaper's node-link JSON (networkx node_link_data):
// nodes with id, name, type, layer, category and attributes (an attribute
// clashing with those is named <type>-<key>), links with integer source and
// target indices, a label and from/to. In the export with states, each
// identity node has STATE links to state nodes that hold its attributes over
// the link's [from, to).
func ReadLandscaper(data []byte) (*Landscape, error) {
	var f lsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, jsonError(data, err)
	}
	if f.Nodes == nil {
		return nil, errors.New(`landscaper JSON without "nodes"`)
	}
	n := len(f.Nodes)
	ids := make([]string, n)
	for i, raw := range f.Nodes {
		v, ok := raw["id"]
		if !ok {
			return nil, fmt.Errorf("nodes[%d]: %w", i, ErrEmptyID)
		}
		ids[i] = str(v)
		if ids[i] == "" {
			return nil, fmt.Errorf("nodes[%d]: %w", i, ErrEmptyID)
		}
	}
	isState := make([]bool, n)
	states := map[int][]lsLink{}
	for i, ln := range f.Links {
		if ln.Source < 0 || ln.Source >= n || ln.Target < 0 || ln.Target >= n {
			return nil, fmt.Errorf("links[%d]: %w: source %d, target %d, but there are %d nodes", i, ErrMissingNode, ln.Source, ln.Target, n)
		}
		if ln.Label == stateLabel {
			isState[ln.Target] = true
			states[ln.Source] = append(states[ln.Source], ln)
		}
	}
	l := New()
	var errs []error
	for i, raw := range f.Nodes {
		if isState[i] {
			continue
		}
		node := Node{ID: ids[i], Name: str(raw["name"]), Type: str(raw["type"]), Layer: str(raw["layer"]), Category: str(raw["category"])}
		prefix := node.Type + "-"
		renamed := make(map[string]json.RawMessage, len(raw))
		for k, v := range raw {
			if reserved[k] {
				continue
			}
			if node.Type != "" && strings.HasPrefix(k, prefix) && reserved[k[len(prefix):]] {
				k = k[len(prefix):]
			}
			renamed[k] = v
		}
		node.Attrs, node.JSONAttrs = attrsFromJSON(renamed, nil)
		if len(states[i]) == 0 {
			if err := l.AddNode(node, 0, Forever); err != nil {
				errs = append(errs, fmt.Errorf("nodes[%d]: %w", i, err))
			}
			continue
		}
		for _, ln := range states[i] {
			v := node.Clone()
			st := f.Nodes[ln.Target]
			sa, sj := attrsFromJSON(st, func(k string) bool { return k == "id" })
			if v.Attrs == nil && len(sa) > 0 {
				v.Attrs = map[string]string{}
			}
			for k, s := range sa {
				v.Attrs[k] = s
				if sj[k] {
					if v.JSONAttrs == nil {
						v.JSONAttrs = map[string]bool{}
					}
					v.JSONAttrs[k] = true
				}
			}
			from, to := lsTime(ln.From, ln.To)
			if err := l.AddNode(v, from, to); err != nil {
				errs = append(errs, fmt.Errorf("nodes[%d]: state %q: %w", i, ids[ln.Target], err))
			}
		}
	}
	for i, ln := range f.Links {
		if ln.Label == stateLabel {
			continue
		}
		if isState[ln.Source] || isState[ln.Target] {
			errs = append(errs, fmt.Errorf("links[%d]: %s link to state node", i, ln.Label))
			continue
		}
		from, to := lsTime(ln.From, ln.To)
		if err := l.AddEdge(Edge{ids[ln.Source], ids[ln.Target], ln.Label}, from, to); err != nil {
			errs = append(errs, fmt.Errorf("links[%d]: %w", i, err))
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

// WriteLandscaper writes l as landscaper's node-link JSON. A landscape whose
// nodes each have one version valid always is written flat (attributes on
// the nodes); otherwise identity nodes get STATE links to one state node per
// version, as landscaper's export with states.
func WriteLandscaper(w io.Writer, l *Landscape) error {
	nodes, edges := l.Versions()
	flat := true
	for _, v := range nodes {
		if v.From != 0 || v.To != Forever {
			flat = false
			break
		}
	}
	f := lsFile{Directed: true, Graph: json.RawMessage("{}"), Nodes: []map[string]json.RawMessage{}, Links: []lsLink{}}
	index := map[string]int{}
	q := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	ident := func(v *NodeVersion) map[string]json.RawMessage {
		m := map[string]json.RawMessage{"id": q(v.ID), "name": q(v.Label())}
		if v.Name == "" {
			delete(m, "name")
		}
		for k, s := range map[string]string{"type": v.Type, "layer": v.Layer, "category": v.Category} {
			if s != "" {
				m[k] = q(s)
			}
		}
		return m
	}
	link := func(s, t int, label string, from, to Time) lsLink {
		if to == Forever {
			to = landscaperForever
		}
		return lsLink{Source: s, Target: t, Label: label, From: &from, To: &to}
	}
	for i := range nodes {
		v := &nodes[i]
		if _, ok := index[v.ID]; !ok {
			index[v.ID] = len(f.Nodes)
			f.Nodes = append(f.Nodes, ident(v))
		}
		attrs := attrsToJSON(&v.Node)
		if flat {
			m := f.Nodes[index[v.ID]]
			for k, a := range attrs {
				if reserved[k] {
					k = v.Type + "-" + k
				}
				m[k] = a
			}
			continue
		}
		sid := fmt.Sprintf("%s_state_%s_%d", v.Category, v.ID, i)
		attrs["id"] = q(sid)
		f.Links = append(f.Links, link(index[v.ID], len(f.Nodes), stateLabel, v.From, v.To))
		f.Nodes = append(f.Nodes, attrs)
	}
	for _, e := range edges {
		s, ok1 := index[e.Source]
		t, ok2 := index[e.Target]
		if !ok1 || !ok2 {
			return fmt.Errorf("edge %s: %w", e.Edge, ErrMissingNode)
		}
		f.Links = append(f.Links, link(s, t, e.Label, e.From, e.To))
	}
	sort.SliceStable(f.Links, func(i, j int) bool { return f.Links[i].Source < f.Links[j].Source })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
