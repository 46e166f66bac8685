package tracer

import (
	"go/build"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordSize(t *testing.T) {
	assert.Equal(t, uintptr(24), unsafe.Sizeof(record{}))
	assert.Equal(t, uintptr(24), unsafe.Sizeof(Event{}))
}

// randomStream returns events over nframes frames. Well-formed streams only
// return the top of the stack; malformed ones also return frames deeper in
// the stack or not on it at all, and start inside a frame.
func randomStream(rng *rand.Rand, n, nframes int, malformed bool) []Event {
	var evs []Event
	var stack []FrameID
	ts := int64(0)
	if malformed {
		evs = append(evs, Event{TS: ts, Frame: 0, Kind: Return})
	}
	for len(evs) < n {
		ts += int64(rng.IntN(100))
		f := FrameID(1 + rng.IntN(nframes))
		c := rng.IntN(10)
		switch {
		case malformed && c == 0:
			kinds := [...]Kind{Return, CReturn, Unwind}
			evs = append(evs, Event{TS: ts, Frame: f, Kind: kinds[rng.IntN(3)]})
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i] == f {
					stack = stack[:i]
					break
				}
			}
		case c < 5 || len(stack) == 0:
			k := Call
			if rng.IntN(8) == 0 {
				k = CCall
			}
			evs = append(evs, Event{TS: ts, Frame: f, Line: int32(rng.IntN(50)), Kind: k})
			stack = append(stack, f)
		default:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			k := Return
			if rng.IntN(6) == 0 {
				k = Unwind
			}
			evs = append(evs, Event{TS: ts, Frame: top, Kind: k})
		}
	}
	return evs
}

// checkNesting asserts the invariants of the records' match indexes.
func checkNesting(t *testing.T, tr *Trace) {
	t.Helper()
	for _, th := range tr.threads {
		var depth []int32 // open entries, to check depth
		for i := int32(0); i < th.n; i++ {
			r := th.rec(i)
			if r.entry() {
				for len(depth) > 0 && !stillOpen(th, depth[len(depth)-1], i) {
					depth = depth[:len(depth)-1]
				}
				require.Equal(t, len(depth), int(r.depth), "tid %d entry %d depth", th.tid, i)
				depth = append(depth, i)
				switch {
				case r.match == matchOpen || r.match == matchTrunc:
				case r.kind&flagUnwound != 0:
					require.Greater(t, r.match, i)
					x := th.rec(r.match)
					require.False(t, x.entry(), "entry %d unwound by a non-exit", i)
					require.Less(t, int(x.depth), int(r.depth), "entry %d unwound by a deeper exit", i)
				default:
					require.Greater(t, r.match, i)
					x := th.rec(r.match)
					require.False(t, x.entry(), "entry %d matched to an entry", i)
					require.Equal(t, r.frame, x.frame, "entry %d", i)
					require.Equal(t, i, x.match, "exit %d points back", r.match)
				}
				continue
			}
			require.GreaterOrEqual(t, r.match, int32(0), "exit %d", i)
			require.Less(t, r.match, i, "exit %d", i)
			e := th.rec(r.match)
			require.True(t, e.entry(), "exit %d matched to an exit", i)
			require.Equal(t, e.frame, r.frame, "exit %d", i)
			require.Equal(t, i, e.match, "entry %d points forward", r.match)
			require.Equal(t, e.depth, r.depth)
		}
	}
}

// stillOpen reports whether entry e is open just before record i.
func stillOpen(th *threadStore, e, i int32) bool {
	m := th.rec(e).match
	return m < 0 || m >= i
}

func TestNesting(t *testing.T) {
	tests := []struct {
		name      string
		malformed bool
		limit     int
		threads   int
	}{
		{"well-formed", false, 0, 1},
		{"well-formed, three threads", false, 0, 3},
		{"malformed", true, 0, 1},
		{"malformed, three threads", true, 0, 3},
		{"malformed, limited", true, 500, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 7))
				tr := NewTrace(tt.limit)
				streams := make([][]Event, tt.threads)
				tids := make([]uint32, tt.threads)
				for i := range streams {
					streams[i] = randomStream(rng, 300+rng.IntN(700), 1+rng.IntN(6), tt.malformed)
					tids[i] = uint32(i + 1)
				}
				for len(streams) > 0 {
					i := rng.IntN(len(streams))
					n := min(len(streams[i]), 1+rng.IntN(64))
					tr.Events(tids[i], streams[i][:n])
					if streams[i] = streams[i][n:]; len(streams[i]) == 0 {
						streams = append(streams[:i], streams[i+1:]...)
						tids = append(tids[:i], tids[i+1:]...)
					}
				}
				checkNesting(t, tr)
				st := tr.Stats()
				if !tt.malformed {
					assert.Zero(t, st.Unmatched)
				}
				if tt.limit > 0 {
					assert.LessOrEqual(t, st.Events, tt.limit)
				}

				// the callgraph counts every entry, stored or not
				calls := map[FrameID]int64{}
				for _, th := range tr.threads {
					for i := int32(0); i < th.n; i++ {
						if r := th.rec(i); r.entry() {
							calls[r.frame]++
						}
					}
				}
				if tt.limit == 0 {
					for _, n := range tr.Callgraph().Nodes {
						assert.Equal(t, calls[n.ID], n.Calls, "frame %d", n.ID)
					}
				}
			}
		})
	}
}

func TestInvalidEvents(t *testing.T) {
	tr := NewTrace(0)
	tr.Events(1, []Event{
		{TS: 1, Frame: 1, Kind: Call},
		{TS: 2, Frame: 1, Kind: Kind(9)},
		{TS: 3, Frame: MaxFrameID + 1, Kind: Call},
		{TS: 4, Frame: 1, Kind: Return},
	})
	st := tr.Stats()
	assert.Equal(t, 2, st.Invalid)
	assert.Equal(t, 2, st.Events)
	n, ok := tr.Node(NodeID{TID: 1})
	require.True(t, ok)
	assert.Equal(t, "<frame 1>", n.Frame.Func, "a frame never announced")
}

func TestChunks(t *testing.T) {
	// more than two chunks on one thread, the first grown in place
	tr := NewTrace(0)
	evs := make([]Event, 0, 2*chunkSize+100)
	for i := range cap(evs) / 2 {
		evs = append(evs, Event{TS: int64(2 * i), Frame: 1, Kind: Call}, Event{TS: int64(2*i + 1), Frame: 1, Kind: Return})
	}
	for b := evs; len(b) > 0; {
		n := min(len(b), 1000)
		tr.Events(5, b[:n])
		b = b[n:]
	}
	checkNesting(t, tr)
	roots := tr.Roots(5)
	require.Len(t, roots, len(evs)/2)
	last, ok := tr.Node(roots[len(roots)-1])
	require.True(t, ok)
	assert.Equal(t, evs[len(evs)-2].TS, last.Start)
	assert.Equal(t, evs[len(evs)-1].TS, last.End)
	th := tr.byTID[5]
	assert.Equal(t, chunkSize, cap(th.chunks[0]))
	assert.Len(t, th.chunks, 3)
}

// TestStandardLibraryOnly keeps UI (and every other non-standard) packages
// out of the model.
func TestStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		assert.NotContains(t, first, ".", "tracer imports %s", imp)
	}
}
