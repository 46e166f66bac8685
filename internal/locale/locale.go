// Package locale gives the process a parseable locale before any UI package
// reads it: with LANG unset (or "C"), Fyne logs an error at start-up. Import
// it for its side effect from package main; it sorts before fyne.io in the
// package initialisation order.
package locale

import (
	"os"
	"strings"
)

func init() {
	lang := os.Getenv("LANG")
	if os.Getenv("LC_ALL") == "" && (lang == "" || lang == "C" || lang == "POSIX" || strings.HasPrefix(lang, "C.")) {
		os.Setenv("LANG", "en_US.UTF-8")
	}
}
