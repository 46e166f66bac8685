// Package bpftrace embeds the bpftrace script of the syscall source and the
// kernel's syscall table it maps numbers with.
package bpftrace

import _ "embed"

// SyscallsBT is the syscall aggregation script (syscalls.bt), a
// text/template: Begin, Tree, Filter, IntervalMS and End are filled in.
//
//go:embed syscalls.bt
var SyscallsBT string

// UnistdH is the x86-64 syscall table, asm/unistd_64.h from Debian 12's
// linux-libc-dev (Linux 6.1 uapi headers).
//
//go:embed unistd_64.h
var UnistdH []byte
