package widgets

import (
	"fmt"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// SourceView shows lines of a source file with line numbers, the target
// line highlighted and scrolled into view, and an "Open in editor" action.
type SourceView struct {
	widget.BaseWidget

	// OnOpenEditor is called with the file and line when the user asks to
	// open them in an editor.
	OnOpenEditor func(path string, line int)

	title  *widget.Label
	note   *widget.Label
	edit   *widget.Button
	list   *widget.List
	path   string
	first  int // line number of lines[0]
	lines  []string
	target int
}

var _ fyne.Widget = (*SourceView)(nil)

// NewSourceView returns an empty source view.
func NewSourceView() *SourceView {
	s := &SourceView{
		title: widget.NewLabelWithStyle("Double-click a call to see its source", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		note:  widget.NewLabel(""),
	}
	s.title.Truncation = fyne.TextTruncateEllipsis
	s.note.Importance = widget.WarningImportance
	s.note.Hide()
	s.edit = widget.NewButtonWithIcon("Open in editor", theme.DocumentCreateIcon(), func() {
		if s.OnOpenEditor != nil && s.path != "" {
			s.OnOpenEditor(s.path, s.target)
		}
	})
	s.edit.Disable()
	s.list = widget.NewList(
		func() int { return len(s.lines) },
		func() fyne.CanvasObject {
			num := widget.NewLabelWithStyle("00000", fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
			num.Importance = widget.LowImportance
			txt := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
			return container.NewBorder(nil, nil, num, nil, txt)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			c := o.(*fyne.Container)
			txt := c.Objects[0].(*widget.Label)
			num := c.Objects[1].(*widget.Label)
			num.SetText(strconv.Itoa(s.first + i))
			txt.SetText(s.lines[i])
			if s.first+i == s.target {
				txt.Importance = widget.HighImportance
			} else {
				txt.Importance = widget.MediumImportance
			}
			txt.Refresh()
		},
	)
	s.ExtendBaseWidget(s)
	return s
}

// CreateRenderer implements fyne.Widget.
func (s *SourceView) CreateRenderer() fyne.WidgetRenderer {
	top := container.NewBorder(nil, s.note, nil, s.edit, s.title)
	return widget.NewSimpleRenderer(container.NewBorder(top, nil, nil, nil, s.list))
}

// ShowSource displays lines (the first of which is line number first) of path,
// highlights line target and scrolls to it. note, if not empty, is shown as
// a warning (e.g. "showing lines 1000–3000 of a huge file").
func (s *SourceView) ShowSource(path string, first int, lines []string, target int, note string) {
	s.path, s.first, s.lines, s.target = path, first, lines, target
	s.title.SetText(fmt.Sprintf("%s:%d", path, target))
	s.setNote(note)
	s.edit.Enable()
	s.list.UnselectAll()
	s.list.Refresh()
	if i := target - first; i >= 0 && i < len(lines) {
		s.list.Select(i)
		// Put the target near the top, with the lines after it in view.
		s.list.ScrollToBottom()
		s.list.ScrollTo(max(0, i-3))
	}
}

// ShowMessage clears the lines and says why path cannot be shown.
func (s *SourceView) ShowMessage(path string, line int, msg string) {
	s.path, s.first, s.lines, s.target = path, 1, nil, line
	s.title.SetText(fmt.Sprintf("%s:%d", path, line))
	s.setNote(msg)
	if path != "" {
		s.edit.Enable()
	} else {
		s.edit.Disable()
	}
	s.list.UnselectAll()
	s.list.Refresh()
}

func (s *SourceView) setNote(note string) {
	s.note.SetText(note)
	if note == "" {
		s.note.Hide()
	} else {
		s.note.Show()
	}
}

// Target returns the file and line shown.
func (s *SourceView) Target() (path string, line int) { return s.path, s.target }

// TargetText returns the text of the highlighted line, "" if none.
func (s *SourceView) TargetText() string {
	if i := s.target - s.first; i >= 0 && i < len(s.lines) {
		return s.lines[i]
	}
	return ""
}

// Note returns the warning shown, "" if none.
func (s *SourceView) Note() string { return s.note.Text }
