package widgets

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// Console shows the last lines a program printed, following the end.
type Console struct {
	widget.BaseWidget

	list    *widget.List
	lines   []string
	dropped int
}

var _ fyne.Widget = (*Console)(nil)

// NewConsole returns an empty console.
func NewConsole() *Console {
	c := &Console{}
	c.list = widget.NewList(
		func() int { return len(c.lines) + min(c.dropped, 1) },
		func() fyne.CanvasObject {
			return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			if c.dropped > 0 {
				if i == 0 {
					l.Importance = widget.LowImportance
					l.SetText(fmt.Sprintf("… %d earlier lines not kept", c.dropped))
					return
				}
				i--
			}
			l.Importance = widget.MediumImportance
			l.SetText(c.lines[i])
		},
	)
	c.ExtendBaseWidget(c)
	return c
}

// CreateRenderer implements fyne.Widget.
func (c *Console) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(c.list) }

// SetLines shows lines, of which dropped earlier ones were not kept, and
// scrolls to the end.
func (c *Console) SetLines(lines []string, dropped int) {
	c.lines, c.dropped = lines, dropped
	c.list.Refresh()
	c.list.ScrollToBottom()
}

// Lines returns the lines shown.
func (c *Console) Lines() []string { return c.lines }
