package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/landscape/telemetry"
)

// waitHealth ticks the tab until the map's node id has health h.
func waitHealth(t *testing.T, tab *landscapeTab, id string, ok func(level telemetry.Level, impacted bool) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		tab.tick()
		var done bool
		fyne.DoAndWait(func() {
			h, found := tab.health[id]
			done = found && ok(h.Level, h.Impacted)
		})
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never got the health wanted; it has %+v", id, tab.health[id])
}

// The demo cloud is coloured: its faulty host critical, the group on the
// map that holds it too, the VMs on it impacted, the legend naming it.
func TestLandscapeTabColoursTheDemoCloud(t *testing.T) {
	tab := newTestLandscape(t)
	tab.showDemo()
	waitInfo(t, tab, "demo cloud")
	waitHealth(t, tab, demoFaultHost, func(l telemetry.Level, _ bool) bool { return l == telemetry.Critical })
	waitHealth(t, tab, demoFaultHost+"-vm0", func(_ telemetry.Level, imp bool) bool { return imp })
	fyne.DoAndWait(func() {
		tab.mu.Lock()
		b := tab.built
		tab.mu.Unlock()
		folded := foldHealth(tab.health, b.members)
		var group string
		for gid, ms := range b.members {
			for _, m := range ms {
				if m == demoFaultHost {
					group = gid
				}
			}
		}
		if group != "" {
			assert.Equal(t, telemetry.Critical, folded[group].Level, "the group holding the host")
		}
		assert.Contains(t, strings.Join(tab.anom.legend.Texts(), "\n"), "Likeliest cause: "+demoFaultHost)
		tab.showDetails(demoFaultHost)
		assert.Contains(t, tab.details.Text, "Telemetry: critical, root-cause rank 1")
		tab.showDetails(demoFaultHost + "-vm0")
		assert.Contains(t, tab.details.Text, "Impacted by "+demoFaultHost)
	})
}

// A landscape file is coloured by the CSV given with --telemetry.
func TestLandscapeTabFileWithTelemetry(t *testing.T) {
	land, csv := anomalyFiles(t)
	tab := newTestLandscape(t)
	tab.u.opts.telemetry = csv
	tab.openFile(land)
	waitInfo(t, tab, land+": ")
	waitHealth(t, tab, "rack0-host1", func(l telemetry.Level, _ bool) bool { return l == telemetry.Critical })
	waitHealth(t, tab, "rack0-host1-vm0-svc", func(_ telemetry.Level, imp bool) bool { return imp })
	fyne.DoAndWait(func() {
		assert.Contains(t, tab.anom.status.Text, "1 series unjoined (no single node has the key: device=sdz disk_busy_pct)")
		assert.Contains(t, tab.anom.status.Text, "bad rows skipped (first: line 2302", "the CSV's bad row, with its line")
	})
	// Without --telemetry, a file has no colours and the panel says how
	// to get them.
	tab.u.opts.telemetry = ""
	other := filepath.Join(t.TempDir(), "again.json")
	data, err := os.ReadFile(land)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(other, data, 0o644))
	tab.openFile(other)
	waitInfo(t, tab, other+": ")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tab.tick()
		var text string
		fyne.DoAndWait(func() { text = tab.anom.status.Text })
		if strings.Contains(text, "--telemetry FILE.csv") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fyne.DoAndWait(func() {
		assert.Contains(t, tab.anom.status.Text, "--telemetry FILE.csv")
		assert.Empty(t, tab.health, "no colours left from the previous file")
	})
}
