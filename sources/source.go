// Package sources holds Flowscape's pluggable data sources: the small
// interfaces every backend implements, and the registry that lists them.
// Each backend lives in its own sub-package. Sources emit records into
// models; they never touch the UI.
package sources

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"flowscape/tracer"
	"flowscape/tracer/syscalls"
)

// Kind is the kind of data a source produces.
type Kind string

// Source kinds.
const (
	KindCodeFlow  Kind = "code flow"
	KindSyscalls  Kind = "syscalls"
	KindLandscape Kind = "landscape"
	KindTelemetry Kind = "telemetry"
)

// Info describes a backend and whether it can run on this machine.
type Info struct {
	Name      string // short unique name, e.g. "python-agent"
	Kind      Kind
	Summary   string // one line: what it does
	Available bool   // it can run here now
	Reason    string // why it is not available (or a caveat when it is)
	Detail    string // what was found, e.g. the interpreters detected
}

// Backend is a data source implementation that can describe itself.
type Backend interface {
	// Info checks this machine and says whether the backend can run.
	Info(ctx context.Context) Info
}

// FlowConfig is what a code-flow source needs to start.
type FlowConfig struct {
	Interpreter string   // path of the interpreter to launch the program with
	Script      string   // program to run
	Args        []string // its arguments
	File        string   // a trace file to replay
	CCalls      bool     // record C calls too
	Dir         string   // working directory ("" = current)
	// PythonHook makes the Python agent use its hook written in Python even
	// where the (faster) C hook could be built.
	PythonHook bool

	// Where the traced program's standard streams go; nil means the null
	// device (stdin) or discarded (stdout, stderr).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// FlowSource produces code-flow records.
type FlowSource interface {
	// Run streams records into rec until the program ends, ctx is cancelled
	// or an error occurs. Records already emitted stay valid on error.
	Run(ctx context.Context, rec tracer.Recorder) error
}

// FlowFunc adapts a function to FlowSource.
type FlowFunc func(ctx context.Context, rec tracer.Recorder) error

// Run calls f.
func (f FlowFunc) Run(ctx context.Context, rec tracer.Recorder) error { return f(ctx, rec) }

// FlowBackend is a backend that produces code flow.
type FlowBackend interface {
	Backend
	// NewFlow prepares a source for cfg, checking what can be checked
	// before anything runs.
	NewFlow(cfg FlowConfig) (FlowSource, error)
}

// SyscallConfig is what a syscall source needs to start. At most one of
// PID and Command is set; neither means every process on the machine.
type SyscallConfig struct {
	Interval time.Duration // how often counts are reported (0: 1 s)
	PID      int           // count this process only
	Comm     string        // keep processes whose name matches (syscalls.MatchComm)
	Command  []string      // launch this command and count its process tree until it exits

	// Where the launched command's standard streams go; nil means the null
	// device (stdin) or discarded (stdout, stderr).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// SyscallSource produces syscall counts.
type SyscallSource interface {
	// Run reports one interval at a time into sink until ctx is cancelled,
	// the launched command exits (its exit status is the error, as an
	// *exec.ExitError) or an error occurs. Intervals already reported stay
	// valid on error.
	Run(ctx context.Context, sink syscalls.Sink) error
}

// SyscallBackend is a backend that produces syscall counts.
type SyscallBackend interface {
	Backend
	// NewSyscalls prepares a source for cfg, checking what can be checked
	// before anything runs.
	NewSyscalls(cfg SyscallConfig) (SyscallSource, error)
	// Partial reports whether the backend sees only some syscalls.
	Partial() bool
}

// Registry is the set of backends known to this build, by name.
type Registry struct {
	byName map[string]Backend
}

// NewRegistry builds a registry from backends; names must be unique.
func NewRegistry(backends map[string]Backend) (*Registry, error) {
	r := &Registry{byName: map[string]Backend{}}
	for name, b := range backends {
		if b == nil {
			return nil, fmt.Errorf("source %q has no backend", name)
		}
		r.byName[name] = b
	}
	return r, nil
}

// Names lists the backends' names in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns the backend called name.
func (r *Registry) Get(name string) (Backend, bool) {
	b, ok := r.byName[name]
	return b, ok
}

// Flow returns the code-flow backend called name.
func (r *Registry) Flow(name string) (FlowBackend, error) {
	b, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("no source called %q (have %v)", name, r.Names())
	}
	fb, ok := b.(FlowBackend)
	if !ok {
		return nil, fmt.Errorf("source %q does not produce code flow", name)
	}
	return fb, nil
}

// Syscalls returns the syscall backend called name.
func (r *Registry) Syscalls(name string) (SyscallBackend, error) {
	b, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("no source called %q (have %v)", name, r.Names())
	}
	sb, ok := b.(SyscallBackend)
	if !ok {
		return nil, fmt.Errorf("source %q does not produce syscall counts", name)
	}
	return sb, nil
}

// Describe asks every backend about this machine, in name order.
func (r *Registry) Describe(ctx context.Context) []Info {
	var out []Info
	for _, n := range r.Names() {
		info := r.byName[n].Info(ctx)
		if info.Name == "" {
			info.Name = n
		}
		out = append(out, info)
	}
	return out
}
