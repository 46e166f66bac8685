package landscape

import (
	"cmp"
	"slices"
	"strings"
)

// Layout sizes, in map units (pixels at zoom 1).
const (
	NodeWidth  = 130.0 // a node's box
	NodeHeight = 30.0
	gapX       = 14.0 // between boxes in a row
	gapY       = 46.0 // between rows of one layer
	bandGap    = 70.0 // between layers
	maxDepth   = 8    // rows per layer; deeper containment shares the last
)

// Placed is where a node goes: the centre of its box.
type Placed struct {
	X, Y float64
	Row  int // 0 is the top row
}

// Band is the horizontal strip of one layer.
type Band struct {
	Layer  string
	Y0, Y1 float64
}

// Layout is a layered drawing of a graph: service on top, virtual in the
// middle, physical at the bottom; within a layer, containment goes down one
// row per level, and rows are ordered so that a parent sits above its
// children and a node near what it is linked to.
type Layout struct {
	Pos           []Placed // by index in the graph's Nodes
	Bands         []Band   // top to bottom, only layers that have nodes
	Width, Height float64
}

// bandOf maps a node's layer to its band: 0 service, 1 virtual, 2 physical;
// unknown layers go with the virtual one.
func bandOf(layer string) int {
	switch layer {
	case Service:
		return 0
	case Physical:
		return 2
	}
	return 1
}

// LayoutGraph lays g out. It runs in O((nodes + edges) log nodes) and
// keeps no reference to g.
func LayoutGraph(g *Graph) *Layout {
	n := len(g.Nodes)
	lay := &Layout{Pos: make([]Placed, n)}
	if n == 0 {
		return lay
	}
	band := make([]int, n)
	for i := range g.Nodes {
		band[i] = bandOf(g.Nodes[i].Layer)
	}
	// Containment inside a band: parent and children.
	parent := make([]int, n)
	for i := range parent {
		parent[i] = -1
	}
	children := make([][]int32, n)
	adj := make([][]int32, n)
	for _, e := range g.Edges {
		s, ok1 := g.index[e.Source]
		t, ok2 := g.index[e.Target]
		if !ok1 || !ok2 || s == t {
			continue
		}
		adj[s] = append(adj[s], int32(t))
		adj[t] = append(adj[t], int32(s))
		if IsContainment(e.Label) && band[s] == band[t] && parent[t] < 0 {
			parent[t] = s
			children[s] = append(children[s], int32(t))
		}
	}
	// Depth by walking down from the roots; a containment cycle has no
	// root, so what is left is treated as roots.
	depth := make([]int, n)
	seen := make([]bool, n)
	byName := func(a, b int32) int {
		x, y := &g.Nodes[a], &g.Nodes[b]
		if c := strings.Compare(x.Type, y.Type); c != 0 {
			return c
		}
		return strings.Compare(x.Label(), y.Label())
	}
	for i := range children {
		slices.SortFunc(children[i], byName)
	}
	var roots []int32
	for i := range n {
		if parent[i] < 0 {
			roots = append(roots, int32(i))
		}
	}
	var order []int32 // depth-first, parents before children
	var walk func(r int32)
	walk = func(r int32) {
		stack := []int32{r}
		seen[r] = true
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			order = append(order, v)
			cs := children[v]
			for k := len(cs) - 1; k >= 0; k-- {
				c := cs[k]
				if !seen[c] {
					seen[c] = true
					depth[c] = min(depth[v]+1, maxDepth)
					stack = append(stack, c)
				}
			}
		}
	}
	slices.SortFunc(roots, byName)
	for _, r := range roots {
		walk(r)
	}
	for i := range n {
		if !seen[i] {
			parent[i] = -1
			walk(int32(i))
		}
	}
	// Rows: per band, one per depth used.
	var rowOf [3][maxDepth + 1]int
	used := [3][maxDepth + 1]bool{}
	for i := range n {
		used[band[i]][depth[i]] = true
	}
	rows := 0
	var rowY []float64
	y := NodeHeight / 2
	for b := range 3 {
		first := true
		for d := 0; d <= maxDepth; d++ {
			if !used[b][d] {
				continue
			}
			if first && rows > 0 {
				y += bandGap - gapY
			}
			if first {
				lay.Bands = append(lay.Bands, Band{Layer: []string{Service, Virtual, Physical}[b], Y0: y - NodeHeight/2 - 12})
			}
			first = false
			rowOf[b][d] = rows
			rowY = append(rowY, y)
			rows++
			y += NodeHeight + gapY
		}
		if !first {
			lay.Bands[len(lay.Bands)-1].Y1 = y - gapY + 12
		}
	}
	lay.Height = y - gapY + NodeHeight/2
	for i := range n {
		r := rowOf[band[i]][depth[i]]
		lay.Pos[i] = Placed{Row: r, Y: rowY[r]}
	}

	// x: the physical band as a tidy forest (leaves in depth-first order,
	// parents over the middle of their children); then the layers above,
	// each node near the mean of what it links to, rows pushed apart.
	step := NodeWidth + gapX
	x := make([]float64, n)
	placed := make([]bool, n)
	tidy := func(b int, start float64) float64 {
		next := start
		// order holds parents before children: go backwards so children
		// are placed first.
		for _, v := range order {
			if band[v] == b && len(children[v]) == 0 {
				x[v] = next
				placed[v] = true
				next += step
			}
		}
		for k := len(order) - 1; k >= 0; k-- {
			v := order[k]
			if band[v] != b || len(children[v]) == 0 {
				continue
			}
			sum, cnt := 0.0, 0
			for _, c := range children[v] {
				if placed[c] {
					sum += x[c]
					cnt++
				}
			}
			if cnt > 0 {
				x[v] = sum / float64(cnt)
				placed[v] = true
			}
		}
		return next
	}
	end := tidy(2, 0)
	// Bands above: barycentre of placed neighbours, then a few sweeps.
	rowMembers := make([][]int32, rows)
	for _, v := range order {
		rowMembers[lay.Pos[v].Row] = append(rowMembers[lay.Pos[v].Row], v)
	}
	bary := func(v int32) (float64, bool) {
		sum, cnt := 0.0, 0
		for _, u := range adj[v] {
			if placed[u] {
				sum += x[u]
				cnt++
			}
		}
		if parent[v] >= 0 && placed[parent[v]] {
			// Weigh the parent more: a child stays under it.
			sum += 3 * x[parent[v]]
			cnt += 3
		}
		if cnt == 0 {
			return 0, false
		}
		return sum / float64(cnt), true
	}
	spread := func(r int) {
		m := rowMembers[r]
		want := make(map[int32]float64, len(m))
		free := end
		for _, v := range m {
			if w, ok := bary(v); ok {
				want[v] = w
			} else {
				want[v] = free
				free += step
			}
		}
		slices.SortStableFunc(m, func(a, b int32) int { return cmp.Compare(want[a], want[b]) })
		// Push right to keep a step between neighbours, then shift the
		// row back so its mean displacement is zero.
		shift := 0.0
		prev := 0.0
		for k, v := range m {
			p := want[v]
			if k > 0 && p < prev+step {
				p = prev + step
			}
			x[v] = p
			shift += p - want[v]
			prev = p
		}
		if len(m) > 0 {
			shift /= float64(len(m))
			for _, v := range m {
				x[v] -= shift
				placed[v] = true
			}
		}
	}
	// Up from the physical band to the service band, then back down and
	// up again; the physical band keeps its tidy order.
	var upper []int
	for r := rows - 1; r >= 0; r-- {
		if band[rowMembers[r][0]] != 2 {
			upper = append(upper, r)
		}
	}
	for pass := range 3 {
		rs := upper
		if pass%2 == 1 {
			rs = slices.Clone(upper)
			slices.Reverse(rs)
		}
		for _, r := range rs {
			spread(r)
		}
	}
	// Normalise: leftmost box edge at 0.
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i := range n {
		lay.Pos[i].X = x[i] - lo + NodeWidth/2
	}
	lay.Width = hi - lo + NodeWidth
	return lay
}
