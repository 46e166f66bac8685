package gvlayout

import (
	"bytes"
	"context"
	"encoding/xml"
	"image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const chain = `digraph { rankdir=TB; node [shape=box]; a -> b; b -> c; a -> c }`

func TestRunPlacesNodesTopToBottom(t *testing.T) {
	l, err := Run(context.Background(), []byte(chain), "dot")
	require.NoError(t, err)
	require.Len(t, l.Nodes, 3)
	require.Len(t, l.Edges, 3)
	pos := map[string]Node{}
	for _, n := range l.Nodes {
		pos[n.Name] = n
		assert.Greater(t, n.W, 0.0)
		assert.Greater(t, n.H, 0.0)
		assert.True(t, n.X >= 0 && n.X <= l.Width && n.Y >= 0 && n.Y <= l.Height, "node %s at %v,%v outside %vx%v", n.Name, n.X, n.Y, l.Width, l.Height)
	}
	// y grows downwards: a above b above c
	assert.Less(t, pos["a"].Y, pos["b"].Y)
	assert.Less(t, pos["b"].Y, pos["c"].Y)
	for _, e := range l.Edges {
		assert.NotEmpty(t, e.Tail)
		assert.NotEmpty(t, e.Head)
		assert.GreaterOrEqual(t, len(e.Points), 4)
		assert.Equal(t, 0, (len(e.Points)-1)%3, "B-spline control points: 1 + 3n")
		assert.True(t, e.HasArrow)
		// the arrow ends near the head's top edge
		h := pos[e.Head]
		assert.InDelta(t, h.Y-h.H/2, e.Arrow.Y, 2)
	}
}

func TestRenderSVGAndPNG(t *testing.T) {
	dot := `digraph { a [label="quote \" angle <b> & ünï"]; a -> b }`
	var svg bytes.Buffer
	require.NoError(t, Render(context.Background(), []byte(dot), "dot", "svg", &svg))
	d := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	for {
		_, err := d.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF", "the SVG is not well-formed XML")
			break
		}
	}
	assert.Contains(t, svg.String(), "quote &quot; angle &lt;b&gt; &amp; ünï")

	var pngBuf bytes.Buffer
	require.NoError(t, Render(context.Background(), []byte(dot), "dot", "png", &pngBuf))
	img, err := png.Decode(&pngBuf)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 10)
}

func TestBadInput(t *testing.T) {
	err := Render(context.Background(), []byte(chain), "nope", "svg", &bytes.Buffer{})
	assert.ErrorContains(t, err, `unknown layout engine "nope"`)
	err = Render(context.Background(), []byte(chain), "dot", "gif", &bytes.Buffer{})
	assert.ErrorContains(t, err, `unknown output format "gif"`)
	_, err = Run(context.Background(), []byte(`digraph { a -> `), "dot")
	assert.ErrorContains(t, err, "parse DOT")
	// still usable after an error
	_, err = Run(context.Background(), []byte(chain), "dot")
	assert.NoError(t, err)
}

func TestEmptyGraph(t *testing.T) {
	l, err := Run(context.Background(), []byte(`digraph {}`), "dot")
	require.NoError(t, err)
	assert.Empty(t, l.Nodes)
	assert.Empty(t, l.Edges)
}

// Concurrent callers are serialised, and a caller whose context ends while
// it waits gives up with the context's error.
func TestSerialisedAndCancellable(t *testing.T) {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Run(context.Background(), []byte(chain), "dot")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}

	require.NoError(t, acquire(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, []byte(chain), "dot")
	release()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestParseJSONErrors(t *testing.T) {
	_, err := parseJSON([]byte(`{"bb":"0,0,1"}`))
	assert.ErrorContains(t, err, "bounding box")
	_, err = parseJSON([]byte(`{"bb":"0,0,10,10","objects":[{"name":"a","pos":"x,1","width":"1","height":"1"}]}`))
	assert.ErrorContains(t, err, `node "a"`)
	_, err = parseJSON([]byte(`not json`))
	assert.True(t, err != nil && strings.Contains(err.Error(), "json"))
}
