package widgets_test

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"flowscape/widgets"
)

func TestSourceViewHighlightsTarget(t *testing.T) {
	test.NewTempApp(t)
	s := widgets.NewSourceView()
	w := test.NewTempWindow(t, s)
	w.Resize(fyne.NewSize(600, 400))
	lines := make([]string, 300)
	for i := range lines {
		lines[i] = "line"
	}
	lines[249] = "def target():"
	s.ShowSource("/src/app.py", 1, lines, 250, "")
	if got := s.TargetText(); got != "def target():" {
		t.Errorf("target text = %q", got)
	}
	if p, l := s.Target(); p != "/src/app.py" || l != 250 {
		t.Errorf("target = %s:%d", p, l)
	}
	// The target line is scrolled into view and highlighted.
	found := false
	for _, o := range test.LaidOutObjects(s) {
		if l, ok := o.(*widget.Label); ok && l.Visible() && l.Text == "def target():" {
			found = l.Importance == widget.HighImportance
		}
	}
	if !found {
		t.Error("the target line is not on screen, highlighted")
	}
	var gotPath string
	var gotLine int
	s.OnOpenEditor = func(p string, l int) { gotPath, gotLine = p, l }
	for _, o := range test.LaidOutObjects(s) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Open in editor" {
			test.Tap(b)
		}
	}
	if gotPath != "/src/app.py" || gotLine != 250 {
		t.Errorf("Open in editor gave %s:%d", gotPath, gotLine)
	}
	s.ShowMessage("/src/gone.py", 3, "/src/gone.py no longer exists")
	if s.Note() != "/src/gone.py no longer exists" || s.TargetText() != "" {
		t.Errorf("message view: note %q, target %q", s.Note(), s.TargetText())
	}
}
