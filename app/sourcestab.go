package app

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"flowscape/sources"
)

// sourcesTab lists the data sources and whether they can run here.
type sourcesTab struct {
	reg   *sources.Registry
	infos []sources.Info
	list  *widget.List
}

func newSourcesTab(reg *sources.Registry) *sourcesTab {
	s := &sourcesTab{reg: reg}
	s.list = widget.NewList(
		func() int { return len(s.infos) },
		func() fyne.CanvasObject {
			title := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			state := widget.NewLabel("")
			summary := widget.NewLabel("")
			summary.Wrapping = fyne.TextWrapWord
			detail := widget.NewLabel("")
			detail.Importance = widget.LowImportance
			detail.Wrapping = fyne.TextWrapWord
			return container.NewVBox(container.NewHBox(title, state), summary, detail)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			in := s.infos[i]
			box := o.(*fyne.Container)
			head := box.Objects[0].(*fyne.Container)
			head.Objects[0].(*widget.Label).SetText(fmt.Sprintf("%s  (%s)", in.Name, in.Kind))
			state := head.Objects[1].(*widget.Label)
			if in.Available {
				state.Importance = widget.SuccessImportance
				state.SetText("available")
			} else {
				state.Importance = widget.DangerImportance
				state.SetText("not available")
			}
			box.Objects[1].(*widget.Label).SetText(in.Summary)
			detail := in.Detail
			if !in.Available {
				detail = "Why: " + in.Reason
			}
			box.Objects[2].(*widget.Label).SetText(detail)
			s.list.SetItemHeight(i, box.MinSize().Height)
		},
	)
	return s
}

func (s *sourcesTab) content() fyne.CanvasObject {
	head := widget.NewLabelWithStyle("Data sources on this machine", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	return container.NewBorder(head, nil, nil, nil, s.list)
}

// load asks every backend about this machine (it may run programs) and
// shows the answers.
func (s *sourcesTab) startup(ctx context.Context) {
	infos := s.reg.Describe(ctx)
	fyne.Do(func() {
		s.infos = infos
		s.list.Refresh()
	})
}
