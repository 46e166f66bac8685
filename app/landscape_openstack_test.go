package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"github.com/stretchr/testify/assert"

	"flowscape/sources/openstack"
)

func TestLandscapeTabOpenStackNotConfigured(t *testing.T) {
	hideOSEnv(t)
	tab := newTestLandscape(t)
	tab.showOpenStack("", time.Hour)
	waitInfo(t, tab, "no OpenStack cloud configured")
	assert.Contains(t, tab.info.Text, "OpenStack: 0 nodes")
	assert.False(t, tab.osProgress.Visible(), "no collection running")
}

func TestOpenStackNote(t *testing.T) {
	assert.Equal(t, "", openStackNote(openstack.Report{}))
	assert.Equal(t, "OpenStack: not in the catalog, so not shown: orchestration (Heat); hypervisors: forbidden",
		openStackNote(openstack.Report{Skipped: []string{"orchestration (Heat): not in the catalog"}, Degraded: []string{"hypervisors: forbidden"}}))
}

func TestOpenStackStartupArgument(t *testing.T) {
	for arg, want := range map[string]string{"openstack": "", "openstack:lab": "lab"} {
		got, ok := openStackStartup(arg)
		assert.True(t, ok, arg)
		assert.Equal(t, want, got, arg)
	}
	_, ok := openStackStartup("openstack.json")
	assert.False(t, ok, "a file name is not the cloud")
}

// With the test cloud up (make testcloud), the tab shows it and says that
// the catalog has no Heat or Octavia.
func TestLandscapeTabOpenStackTestCloud(t *testing.T) {
	useTestCloud(t)
	tab := newTestLandscape(t)
	tab.showOpenStack("", time.Hour)
	// A first reading of a real cloud on a busy machine can take a while.
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(tab.info.Text, "API calls") && time.Now().Before(deadline) {
		tab.tick()
		time.Sleep(50 * time.Millisecond)
	}
	waitInfo(t, tab, "API calls")
	assert.Contains(t, tab.info.Text, "skipped orchestration (Heat): not in the catalog")
	assert.NotContains(t, tab.info.Text, "OpenStack: 0 nodes")
	tab.tick()
	assert.Contains(t, tab.u.status.Text, "not in the catalog, so not shown: orchestration (Heat), load-balancer (Octavia)")
}

func TestLandscapeTabOpenStackDialog(t *testing.T) {
	hideOSEnv(t)
	tab := newTestLandscape(t)
	tab.openStackDialog()
	top := tab.u.win.Canvas().Overlays().Top()
	if !assert.NotNil(t, top, "the dialog is shown") {
		return
	}
	var texts []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch w := o.(type) {
		case *widget.Label:
			texts = append(texts, w.Text)
		case *widget.Entry:
			texts = append(texts, w.PlaceHolder)
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(w).Objects() {
				walk(c)
			}
		}
	}
	walk(top)
	all := strings.Join(texts, "\n")
	assert.Contains(t, all, "clouds.yaml entry")
	assert.Contains(t, all, "no cloud configured", "the dialog says why no cloud is found")
}
