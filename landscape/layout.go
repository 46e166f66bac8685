package landscape

import (
	"cmp"
	"math"
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
	X, Y  float64
	Row   int // 0 is the top row
	Depth int // containment depth in its layer: 0 for machines, racks, top cgroups
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

// LayoutGraph lays g out for a view about 1.6 times wider than high.
func LayoutGraph(g *Graph) *Layout { return LayoutFor(g, 1.6) }

// LayoutFor lays g out for a view aspect (width / height) times wider
// than high: long rows and many trees wrap onto more lines, as many as
// makes the drawing fit such a view best. Each try runs in
// O((nodes + edges) log nodes); the result keeps no reference to g.
func LayoutFor(g *Graph, aspect float64) *Layout {
	if aspect <= 0 {
		aspect = 1.6
	}
	var best *Layout
	bestZoom := 0.0
	for _, f := range []float64{1.2, 1.8, 2.5, 3.5, 5, 8} {
		lay := layout(g, f)
		if lay.Width == 0 || lay.Height == 0 {
			return lay
		}
		// The zoom that fits the drawing in a view of this aspect.
		zoom := math.Min(aspect/lay.Width, 1/lay.Height)
		if zoom > bestZoom*1.0001 {
			best, bestZoom = lay, zoom
		}
	}
	return best
}

func layout(g *Graph, wrapFactor float64) *Layout {
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
	rootOf := make([]int32, n)
	walk := func(r int32) {
		stack := []int32{r}
		seen[r] = true
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			order = append(order, v)
			rootOf[v] = r
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
			roots = append(roots, int32(i))
			walk(int32(i))
		}
	}

	// Rows of a band: one per containment depth used in it.
	used := [3][maxDepth + 1]bool{}
	for i := range n {
		used[band[i]][depth[i]] = true
	}
	step := NodeWidth + gapX
	rowStep := NodeHeight + gapY
	// Lines are at most wrapW wide: a long row, or a band of many trees,
	// wraps onto more lines so that the map keeps a screen-like shape.
	wrapW := math.Max(wrapFactor*math.Sqrt(float64(n)*step*rowStep), 8*step)

	// x of the physical band: each containment tree tidy (leaves in
	// depth-first order, parents over the middle of their children), trees
	// packed into lines like words.
	x := make([]float64, n)
	placed := make([]bool, n)
	next := 0.0
	for _, v := range order {
		if band[v] == 2 && len(children[v]) == 0 {
			x[v] = next
			placed[v] = true
			next += step
		}
	}
	for k := len(order) - 1; k >= 0; k-- {
		v := order[k]
		if band[v] != 2 || len(children[v]) == 0 {
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
	line := make([]int, n) // physical nodes: the line of their tree
	physLines := 0
	{
		lo := map[int32]float64{}
		hi := map[int32]float64{}
		for _, v := range order {
			if band[v] != 2 {
				continue
			}
			r := rootOf[v]
			if l, ok := lo[r]; !ok || x[v] < l {
				lo[r] = x[v]
			}
			if h, ok := hi[r]; !ok || x[v] > h {
				hi[r] = x[v]
			}
		}
		shift := map[int32]float64{}
		lineOf := map[int32]int{}
		cursor, l := 0.0, 0
		for _, r := range roots {
			if band[r] != 2 {
				continue
			}
			span := hi[r] - lo[r] + step
			if cursor > 0 && cursor+span > wrapW {
				cursor, l = 0, l+1
			}
			shift[r], lineOf[r] = cursor-lo[r], l
			cursor += span
		}
		if len(shift) > 0 {
			physLines = l + 1
		}
		for v := range n {
			if band[v] == 2 {
				x[v] += shift[rootOf[v]]
				line[v] = lineOf[rootOf[v]]
			}
		}
	}
	physW := 0.0
	for v := range n {
		if band[v] == 2 {
			physW = max(physW, x[v]+step)
		}
	}

	// The bands above: each node near the mean of what it links to (its
	// container counts three times), rows pushed apart, a few sweeps.
	var upperRows [][]int32 // by band 0, 1 and depth
	rowKey := map[[2]int]int{}
	for _, v := range order {
		if band[v] == 2 {
			continue
		}
		k := [2]int{band[v], depth[v]}
		i, ok := rowKey[k]
		if !ok {
			i = len(upperRows)
			rowKey[k] = i
			upperRows = append(upperRows, nil)
		}
		upperRows[i] = append(upperRows[i], v)
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
			sum += 3 * x[parent[v]]
			cnt += 3
		}
		if cnt == 0 {
			return 0, false
		}
		return sum / float64(cnt), true
	}
	spread := func(m []int32) {
		want := make(map[int32]float64, len(m))
		free := physW
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
		// row back so that it moved as little as possible on average.
		shift, prev := 0.0, 0.0
		for k, v := range m {
			p := want[v]
			if k > 0 && p < prev+step {
				p = prev + step
			}
			x[v] = p
			shift += p - want[v]
			prev = p
		}
		shift /= float64(len(m))
		for _, v := range m {
			x[v] -= shift
			placed[v] = true
		}
	}
	// Rows nearest the physical band first: virtual deepest, …, service.
	sortedRows := slices.Clone(upperRows)
	slices.SortFunc(sortedRows, func(a, b []int32) int {
		ka, kb := [2]int{band[a[0]], depth[a[0]]}, [2]int{band[b[0]], depth[b[0]]}
		if ka[0] != kb[0] {
			return kb[0] - ka[0]
		}
		return kb[1] - ka[1]
	})
	for pass := range 3 {
		rs := sortedRows
		if pass%2 == 1 {
			rs = slices.Clone(sortedRows)
			slices.Reverse(rs)
		}
		for _, m := range rs {
			spread(m)
		}
	}
	// Wrap upper rows wider than wrapW, keeping their order.
	subLine := make([]int, n) // upper nodes: the line within their row
	rowLines := map[[2]int]int{}
	for _, m := range upperRows {
		slices.SortFunc(m, func(a, b int32) int { return cmp.Compare(x[a], x[b]) })
		start, l := x[m[0]], 0
		lineStart := start
		for _, v := range m {
			if x[v]-lineStart >= wrapW {
				l++
				lineStart = x[v]
			}
			if l > 0 {
				x[v] -= lineStart - start
			}
			subLine[v] = l
		}
		rowLines[[2]int{band[m[0]], depth[m[0]]}] = l + 1
	}
	// Rows that did not wrap move once more, now that the wrapped ones
	// (which they may link to) are where they stay.
	for _, m := range sortedRows {
		if rowLines[[2]int{band[m[0]], depth[m[0]]}] == 1 {
			spread(m)
		}
	}

	// y: bands top to bottom; a band's rows in depth order, each row as
	// many lines as it wrapped to; the physical band repeats its rows per
	// line of trees.
	type slot struct{ band, depth, line int }
	rowAt := map[slot]int{}
	var rowY []float64
	y := NodeHeight / 2
	for b := range 3 {
		var slots []slot
		if b == 2 {
			for l := range physLines {
				for d := 0; d <= maxDepth; d++ {
					if used[b][d] {
						slots = append(slots, slot{b, d, l})
					}
				}
			}
		} else {
			for d := 0; d <= maxDepth; d++ {
				for l := range rowLines[[2]int{b, d}] {
					slots = append(slots, slot{b, d, l})
				}
			}
		}
		if len(slots) == 0 {
			continue
		}
		if len(rowY) > 0 {
			y += bandGap - gapY
		}
		band := Band{Layer: []string{Service, Virtual, Physical}[b], Y0: y - NodeHeight/2 - 12}
		for k, sl := range slots {
			if b == 2 && k > 0 && sl.line != slots[k-1].line {
				y += gapY / 2 // a little air between lines of trees
			}
			rowAt[sl] = len(rowY)
			rowY = append(rowY, y)
			y += rowStep
		}
		band.Y1 = y - gapY + 12
		lay.Bands = append(lay.Bands, band)
	}
	lay.Height = y - gapY + NodeHeight/2
	for v := range n {
		var sl slot
		if band[v] == 2 {
			sl = slot{2, depth[v], line[v]}
		} else {
			sl = slot{band[v], depth[v], subLine[v]}
		}
		r := rowAt[sl]
		lay.Pos[v] = Placed{Row: r, Y: rowY[r], Depth: depth[v]}
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
