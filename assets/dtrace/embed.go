// Package dtrace embeds the DTrace script of the syscall source for systems
// that have dtrace (macOS, FreeBSD, illumos).
package dtrace

import _ "embed"

// SyscallsD is the syscall aggregation script (syscalls.d), a
// text/template: Filter and IntervalMS are filled in.
//
//go:embed syscalls.d
var SyscallsD string
