package app

import (
	"context"
	"strings"

	"flowscape/landscape"
	"flowscape/widgets"
)

// The Landscape tab's side of the anomaly colouring (see anomalyPanel).

// initAnomalies makes the tab's anomaly panel and wires it to the map.
func (t *landscapeTab) initAnomalies() {
	t.anom = newAnomalyPanel()
	t.anom.async = func(f func()) { t.async(f) } // tests run the tab's work in line
	t.anom.OnHealth = t.showHealth
	t.anom.OnSelect = t.selectNode
}

// baseCtx is the context the tab's sources run under.
func (t *landscapeTab) baseCtx() context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctx
}

// startFileTelemetry follows the --telemetry file for a landscape file, or
// says how to get telemetry on one.
func (t *landscapeTab) startFileTelemetry() {
	if p := t.u.opts.telemetry; p != "" {
		t.anom.startFile(t.baseCtx(), p)
		return
	}
	t.anom.startNone(t.baseCtx(), "none for a file (start with --telemetry FILE.csv)")
}

// showHealth colours the map with the panel's latest assessment. UI
// goroutine.
func (t *landscapeTab) showHealth(h map[string]widgets.NodeHealth) {
	t.health = h
	t.mu.Lock()
	b := t.built
	t.mu.Unlock()
	var members map[string][]string
	if b != nil {
		members = b.members
	}
	t.view.SetHealth(foldHealth(h, members))
}

// selectNode selects and centres id on the map, or the group it is folded
// into, and shows its details. UI goroutine.
func (t *landscapeTab) selectNode(id string) {
	t.mu.Lock()
	b := t.built
	t.mu.Unlock()
	shown := id
	if b != nil && b.shown.Node(id) == nil {
		for gid, ms := range b.members {
			for _, m := range ms {
				if m == id && strings.HasPrefix(gid, landscape.GroupPrefix) {
					shown = gid
				}
			}
		}
	}
	t.view.Select(shown)
	t.view.CenterOn(shown)
	t.showDetails(id)
}
