// Package widgets holds Flowscape's custom Fyne widgets, one per file. A
// widget draws the model state it is given and keeps only view state
// (scroll, selection, expansion).
package widgets

import _ "flowscape/internal/locale" // a parseable locale before fyne reads it
