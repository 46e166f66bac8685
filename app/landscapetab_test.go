package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/landscape"
	"flowscape/sources/hostland"
	"flowscape/widgets"
)

// newTestLandscape is the window on the test driver with the Landscape
// tab's background work run in line.
func newTestLandscape(t *testing.T) *landscapeTab {
	u := newTestUI(t)
	u.landscape.async = func(fn func()) { fn() }
	t.Cleanup(u.landscape.stop)
	return u.landscape
}

// showLandscape puts l in the tab as the source name would.
func showLandscape(tab *landscapeTab, l *landscape.Landscape, name string) {
	tab.mu.Lock()
	tab.land, tab.source, tab.at, tab.foldSet, tab.fitNext = l, name, -1, false, true
	tab.mu.Unlock()
	tab.rebuild()
}

func fixture(t *testing.T, name string) *landscape.Landscape {
	t.Helper()
	l, err := landscape.Load(filepath.Join("..", "landscape", "testdata", name))
	require.NoError(t, err)
	return l
}

func shownIDs(tab *landscapeTab) []string {
	var out []string
	for _, n := range tab.view.Graph().Nodes {
		out = append(out, n.ID)
	}
	return out
}

func TestLandscapeTabShowsLandscaperFileFolded(t *testing.T) {
	tab := newTestLandscape(t)
	showLandscape(tab, fixture(t, "test_landscape.json"), "test_landscape.json")
	assert.Contains(t, tab.info.Text, "test_landscape.json: 242 nodes, 262 edges · showing")
	shown := len(tab.view.Graph().Nodes)
	assert.Less(t, shown, 150, "a 242-node landscape starts folded")
	pus := landscape.GroupID("machine-A", "pu")
	require.Contains(t, shownIDs(tab), pus)

	// The group's panel lists its members; a double-click unfolds it.
	tab.showDetails(pus)
	assert.Contains(t, tab.details.Text, "8 × pu")
	assert.Contains(t, tab.details.Text, "machine-A_pu_0")
	tab.activate(pus)
	assert.NotContains(t, shownIDs(tab), pus)
	assert.Len(t, tab.view.Graph().Nodes, shown+7)
	assert.Contains(t, shownIDs(tab), "machine-A_pu_3")

	// A machine folds into one node and back.
	tab.activate("machine-B")
	assert.NotContains(t, shownIDs(tab), landscape.GroupID("machine-B", "pu"))
	tab.showDetails("machine-B")
	assert.Contains(t, tab.details.Text, "folded:")
	tab.activate("machine-B")
	assert.Contains(t, shownIDs(tab), landscape.GroupID("machine-B", "pu"))

	// Details: attributes, edges, history.
	tab.view.Select("machine-A")
	tab.showDetails("machine-A")
	d := tab.details.Text
	assert.Contains(t, d, "type: machine")
	assert.Contains(t, d, "hostname: machine_a")
	assert.Contains(t, d, "→ INTERNAL")
	assert.Contains(t, d, "History (1 version)")

	// Unfolding everything shows all 242.
	tab.folded.SetChecked(false)
	assert.Len(t, tab.view.Graph().Nodes, 242)
}

func TestLandscapeTabTimeTravel(t *testing.T) {
	tab := newTestLandscape(t)
	l := fixture(t, "test_landscape_with_states.json")
	showLandscape(tab, l, "with states")
	require.True(t, tab.timeBar.Visible(), "a landscape with history shows the time slider")
	times := l.Times()
	assert.Equal(t, float64(len(times)-1), tab.slider.Max)
	assert.Contains(t, tab.when.Text, "(latest)")

	// Move to the time the nova VMs appear: they are marked as added.
	at := slices.Index(times, 1502828001)
	require.Positive(t, at)
	tab.slider.SetValue(float64(at))
	assert.Contains(t, tab.when.Text, "2017-08-15 20:13:21 UTC")
	marks := map[string]widgets.Mark{}
	for _, id := range shownIDs(tab) {
		marks[id] = tab.built.marks[id]
	}
	assert.Equal(t, widgets.MarkAdded, marks["nova-1"])
	assert.Equal(t, widgets.MarkAdded, marks["nova-2"])

	// Back to the first time: no VMs at all.
	tab.slider.SetValue(0)
	for _, n := range tab.view.Graph().Nodes {
		assert.NotEqual(t, "vm", n.Type, "VM %s shown before any was created", n.ID)
	}
	tab.showDetails("machine-A")
	tab.setState(func() { tab.at = -1 }, false)
	tab.showDetails("79e361ac-b875-4520-962f-b49fb1cf4901")
	assert.Contains(t, tab.details.Text, "Not in the landscape at this time")
	tab.slider.SetValue(float64(slices.Index(times, 1502818001)))
	tab.showDetails("79e361ac-b875-4520-962f-b49fb1cf4901")
	assert.Contains(t, tab.details.Text, "2017-08-15 15:29:55 UTC – 2017-08-15 19:23:21 UTC")
}

func TestLandscapeTabFilterAndSearch(t *testing.T) {
	tab := newTestLandscape(t)
	showLandscape(tab, fixture(t, "test_landscape.json"), "f")
	tab.layers[landscape.Physical].SetChecked(false)
	for _, n := range tab.view.Graph().Nodes {
		assert.NotEqual(t, landscape.Physical, n.Layer)
	}
	tab.layers[landscape.Physical].SetChecked(true)
	tab.types.SetSelected("vm")
	assert.Len(t, tab.view.Graph().Nodes, 3)
	tab.types.SetSelected(allTypes)

	tab.search.SetText("machine-c")
	assert.Contains(t, tab.info.Text, "match the search")
	tab.findNext()
	sel := tab.view.Selected()
	assert.True(t, strings.Contains(strings.ToLower(sel), "machine-c"), "selected %q", sel)
	assert.Contains(t, tab.details.Text, sel)
	tab.search.SetText("no such thing at all")
	tab.findNext()
	assert.Contains(t, tab.u.status.Text, "nothing shown matches")
}

func TestLandscapeTabThisMachine(t *testing.T) {
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		t.Skip("no /sys here")
	}
	tab := newTestLandscape(t)
	l := landscape.New()
	(&hostland.Source{FS: os.DirFS("/"), Land: l}).ScanOnce()
	showLandscape(tab, l, "this machine")
	host, err := os.ReadFile("/proc/sys/kernel/hostname")
	require.NoError(t, err)
	assert.Contains(t, shownIDs(tab), strings.TrimSpace(string(host)))
	assert.Contains(t, tab.info.Text, "this machine:")
	assert.False(t, tab.timeBar.Visible(), "one scan: no history yet")
}

// waitInfo ticks the tab until its info line says want.
func waitInfo(t *testing.T, tab *landscapeTab, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tab.tick()
		var got string
		fyne.DoAndWait(func() { got = tab.info.Text })
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("info never said %q; it says %q", want, tab.info.Text)
}

func TestLandscapeTabDemoCloud(t *testing.T) {
	tab := newTestLandscape(t)
	tab.showDemo()
	waitInfo(t, tab, "demo cloud")
	assert.Contains(t, tab.info.Text, "· showing")
	assert.Less(t, len(tab.view.Graph().Nodes), 300, "1 000 nodes start folded")
	assert.True(t, tab.timeBar.Visible())
	assert.Equal(t, float64(6), tab.slider.Max)
	assert.Contains(t, shownIDs(tab), landscape.GroupID("rack0", "vm"))
}

func TestLandscapeTabWatchesFile(t *testing.T) {
	tab := newTestLandscape(t)
	path := filepath.Join(t.TempDir(), "land.json")
	data, err := os.ReadFile(filepath.Join("..", "landscape", "testdata", "machine-A_hwloc.xml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	tab.openFile(path)
	waitInfo(t, tab, path+": 37 nodes")
	// Broken content: the error is shown, the last good map stays.
	require.NoError(t, os.WriteFile(path, []byte("<topology>\n<object type=\"Machine\">"), 0o644))
	waitInfo(t, tab, "line 2")
	assert.Contains(t, tab.info.Text, "37 nodes")
	assert.Len(t, tab.view.Graph().Nodes, 37)
	assert.Contains(t, tab.u.status.Text, "Landscape: "+path)
}
