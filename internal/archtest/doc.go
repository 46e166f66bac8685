// Package archtest holds tests of the module's architecture rules, such as
// "the model packages (tracer, landscape, sources) never depend on Fyne".
// It has no code of its own: run it with `go test ./internal/archtest/`.
package archtest
