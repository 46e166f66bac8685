package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/tracer"
)

// newTestCallgraph is the window on the test driver with the Callgraph
// tab's background work run in line.
func newTestCallgraph(t *testing.T) *ui {
	u := newTestUI(t)
	u.callgraph.async = func(fn func()) { fn() }
	u.callgraph.view.Settle()
	return u
}

func shownFuncs(u *ui) []string {
	var out []string
	u.callgraph.view.Settle()
	for _, n := range u.callgraph.view.Nodes() {
		out = append(out, n.Frame.Func)
	}
	return out
}

func TestCallgraphTabShowsATraceFile(t *testing.T) {
	u := newTestCallgraph(t)
	u.flow.openTrace(filepath.Join("..", "tracer", "testdata", "viztracer", "multithread.json"))
	waitStatus(t, u, "Finished")
	c := u.callgraph
	c.tick()
	assert.Len(t, shownFuncs(u), 52, "all 52 functions fit under the default 80")
	assert.Contains(t, c.info.Text, "52 functions")

	var fib tracer.GraphNode
	for _, n := range c.view.Nodes() {
		if n.Frame.Func == "fib" {
			fib = n
		}
	}
	require.Equal(t, "fib", fib.Frame.Func)
	c.view.Select(fib.ID)
	c.showDetails(fib, true)
	d := c.details.Text
	assert.Contains(t, d, "Calls: 164")
	assert.Contains(t, d, "Time to reach: 257µs after the start")
	assert.Contains(t, d, "First reached by:\n  Thread._bootstrap → Thread._bootstrap_inner → MyThread.run → fib")
	assert.Contains(t, d, "Callers (2)")
	assert.Contains(t, d, "time.sleep  80×")

	// trimming and focus re-lay the graph out at once
	c.top.SetSelected("20")
	assert.Len(t, shownFuncs(u), 20)
	c.focus.OnTapped()
	c.depth.SetSelected("1")
	assert.ElementsMatch(t, []string{"MyThread.run", "fib", "time.sleep"}, shownFuncs(u))
	c.unfocus.OnTapped()
	assert.Len(t, shownFuncs(u), 20)
	c.metric.SetSelected("exclusive")
	assert.Len(t, shownFuncs(u), 20)

	// export as shown
	var svg bytes.Buffer
	require.NoError(t, c.export(&svg, "svg"))
	assert.Equal(t, 20, strings.Count(svg.String(), "<g id=\"a_node"), "20 function boxes")
	assert.Contains(t, svg.String(), "showing 20 of 52 functions", "the legend says what was hidden")
	var png bytes.Buffer
	require.NoError(t, c.export(&png, "png"))
	assert.True(t, bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")))
	assert.ErrorContains(t, c.export(&bytes.Buffer{}, "gif"), "name the file .dot, .svg, .png or .json")

	// double-click: the file is not on this machine, but VizTracer embedded
	// its source in the trace
	c.view.OnOpen(fib)
	assert.NotContains(t, u.status.Text, "Cannot show source")
	assert.Contains(t, c.source.TargetText(), "def fib")
}

// While a program runs, its callgraph grows: functions appear before the
// program ends, and their counters rise.
func TestCallgraphTabGrowsLive(t *testing.T) {
	u := newTestCallgraph(t)
	prog := filepath.Join(t.TempDir(), "live.py")
	src := "import time\ndef tick(i):\n    return i * 2\ndef step(i):\n    time.sleep(0.02)\n    return tick(i)\nfor i in range(150):\n    step(i)\n"
	require.NoError(t, os.WriteFile(prog, []byte(src), 0o600))
	u.flow.script.SetText(prog)
	u.flow.onStart()
	c := u.callgraph
	var firstCalls int64
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := u.flow.session.Load()
		require.NotNil(t, s)
		if !s.Running() {
			t.Fatal("the program ended before its callgraph showed up")
		}
		c.mu.Lock()
		c.lastLayout = time.Time{} // no debounce wait in the test
		c.mu.Unlock()
		c.tick()
		var calls int64
		fyne.DoAndWait(func() {
			for _, n := range c.view.Nodes() {
				if n.Frame.Func == "step" {
					calls = n.Calls
				}
			}
		})
		if calls > 0 && firstCalls == 0 {
			firstCalls = calls
		}
		if firstCalls > 0 && calls > firstCalls {
			return // it grew while the program ran
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("step's calls did not grow while the program ran (first seen %d)", firstCalls)
}
