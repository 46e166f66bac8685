package tracer_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// treeScript is a small trace whose record indexes the tests below name.
const treeScript = `
	0 > main 1
	10 > a 2
	20 > b 3
	25 < b 4
	30 > b 5
	35 < b 6
	40 > c 7
	45 < c 8
	50 < a 9
	60 > a 10
	70 < a 11
	80 > d 12`

func id(i int32) tracer.NodeID { return tracer.NodeID{TID: 1, Index: i} }

func ids(is ...int32) []tracer.NodeID {
	out := make([]tracer.NodeID, len(is))
	for k, i := range is {
		out[k] = id(i)
	}
	return out
}

func TestFlowTree(t *testing.T) {
	sc := script(treeScript)
	tr := sc.trace(0, tracer.ProcessInfo{})

	t.Run("roots and children", func(t *testing.T) {
		tests := []struct {
			parent tracer.NodeID
			want   []tracer.NodeID
		}{
			{id(0), ids(1, 9, 11)},
			{id(1), ids(2, 4, 6)},
			{id(2), nil},
			{id(9), nil},
			{id(11), nil},
			{id(3), nil},  // an exit is not a node
			{id(99), nil}, // out of range
			{tracer.NodeID{TID: 7}, nil},
		}
		for _, tt := range tests {
			assert.Equal(t, tt.want, tr.Children(tt.parent), "children of %v", tt.parent)
		}
		assert.Equal(t, ids(0), tr.Roots(1))
		assert.Nil(t, tr.Roots(2))
	})

	t.Run("nodes", func(t *testing.T) {
		tests := []struct {
			id   tracer.NodeID
			want tracer.Node
			ok   bool
		}{
			{id(0), tracer.Node{ID: id(0), Frame: sc.frames[0], Start: 0, Line: 1, Depth: 0, Open: true, HasChildren: true}, true},
			{id(1), tracer.Node{ID: id(1), Frame: sc.frames[1], Start: 10, End: 50, Line: 2, ExitLine: 9, Depth: 1, HasChildren: true}, true},
			{id(2), tracer.Node{ID: id(2), Frame: sc.frames[2], Start: 20, End: 25, Line: 3, ExitLine: 4, Depth: 2}, true},
			{id(11), tracer.Node{ID: id(11), Frame: sc.frames[4], Start: 80, Line: 12, Depth: 1, Open: true}, true},
			{id(3), tracer.Node{}, false},
			{id(-1), tracer.Node{}, false},
		}
		for _, tt := range tests {
			got, ok := tr.Node(tt.id)
			assert.Equal(t, tt.ok, ok, "%v", tt.id)
			assert.Equal(t, tt.want, got, "%v", tt.id)
		}
		n, _ := tr.Node(id(1))
		assert.Equal(t, int64(40), n.Duration())
		n, _ = tr.Node(id(0))
		assert.Zero(t, n.Duration(), "open")
	})

	t.Run("folding", func(t *testing.T) {
		b, c, a, d := sc.byName["b"], sc.byName["c"], sc.byName["a"], sc.byName["d"]
		assert.Equal(t, []tracer.Group{
			{First: id(2), Count: 2, Frame: b, Total: 10},
			{First: id(6), Count: 1, Frame: c, Total: 5},
		}, tr.ChildrenFolded(id(1)))
		assert.Equal(t, []tracer.Group{
			{First: id(1), Count: 2, Frame: a, Total: 50},
			{First: id(11), Count: 1, Frame: d, Total: 0},
		}, tr.ChildrenFolded(id(0)))
		assert.Equal(t, []tracer.Group{{First: id(0), Count: 1, Frame: sc.byName["main"]}}, tr.RootsFolded(1))
		assert.Nil(t, tr.ChildrenFolded(id(2)))
	})

	t.Run("filter", func(t *testing.T) {
		all := []int32{0, 1, 2, 4, 6, 9, 11}
		tests := []struct {
			query   string
			visible []int32
			matches int
		}{
			{"C", []int32{0, 1, 6}, 1},
			{"b", []int32{0, 1, 2, 4}, 2},
			{"D", []int32{0, 11}, 1},
			{"MAIN", []int32{0}, 1},
			{"prog.PY", all, 7},
			{"zzz", nil, 0},
		}
		for _, tt := range tests {
			v := tr.Filter(tt.query)
			require.NotNil(t, v, tt.query)
			var got []int32
			for _, i := range all {
				if v.Contains(id(i)) {
					got = append(got, i)
				}
			}
			assert.Equal(t, tt.visible, got, "visible for %q", tt.query)
			assert.Equal(t, tt.matches, v.Matches(), "matches for %q", tt.query)
			assert.False(t, v.Contains(tracer.NodeID{TID: 9}), tt.query)
		}
		var none *tracer.Visible = tr.Filter("")
		assert.Nil(t, none)
		assert.True(t, none.Contains(id(2)))
	})

	t.Run("walk", func(t *testing.T) {
		var got []tracer.Kind
		var depths []int
		tr.Walk(func(tid uint32, e tracer.Event, depth int) bool {
			assert.Equal(t, uint32(1), tid)
			got = append(got, e.Kind)
			depths = append(depths, depth)
			return len(got) < 4
		})
		assert.Equal(t, []tracer.Kind{tracer.Call, tracer.Call, tracer.Call, tracer.Return}, got)
		assert.Equal(t, []int{0, 1, 2, 2}, depths)

		n := 0
		tr.Walk(func(uint32, tracer.Event, int) bool { n++; return true })
		assert.Equal(t, 12, n)
	})
}

func TestFlowTreeUnwound(t *testing.T) {
	tr := script(`0 > main; 10 > a; 20 > b; 30 > x; 35 < x; 40 < a; 45 > c; 50 ! c; 60 < main`).
		trace(0, tracer.ProcessInfo{})
	// records: 0 main, 1 a, 2 b, 3 x, 4 <x, 5 <a, 6 c, 7 !c, 8 <main
	assert.Equal(t, ids(1, 6), tr.Children(id(0)))
	assert.Equal(t, ids(2), tr.Children(id(1)))
	assert.Equal(t, ids(3), tr.Children(id(2)))

	b, _ := tr.Node(id(2))
	assert.True(t, b.Unwound, "b is closed by a's return")
	assert.Equal(t, int64(40), b.End)
	assert.Zero(t, b.ExitLine)
	c, _ := tr.Node(id(6))
	assert.True(t, c.Unwound, "c is left by an exception")
	a, _ := tr.Node(id(1))
	assert.False(t, a.Unwound)
}

func TestNodeID(t *testing.T) {
	tests := []struct {
		in      string
		want    tracer.NodeID
		wantErr bool
	}{
		{"1:0", tracer.NodeID{TID: 1, Index: 0}, false},
		{"4294967295:2147483647", tracer.NodeID{TID: 4294967295, Index: 2147483647}, false},
		{"12", tracer.NodeID{}, true},
		{"x:1", tracer.NodeID{}, true},
		{"1:x", tracer.NodeID{}, true},
		{"1:-1", tracer.NodeID{}, true},
		{"4294967296:1", tracer.NodeID{}, true},
		{"", tracer.NodeID{}, true},
	}
	for _, tt := range tests {
		got, err := tracer.ParseNodeID(tt.in)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got)
		assert.Equal(t, tt.in, got.String())
	}
}
