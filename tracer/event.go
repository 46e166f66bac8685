// Package tracer is Flowscape's code-flow model: events, frames, per-thread
// call stacks, a bounded event store, the lazily built flow tree, the
// callgraph and the trace file formats. It never imports a UI package.
package tracer

import "fmt"

// Kind says what an event records.
type Kind uint8

// Event kinds. A generator resumption is a Call and a yield a Return, as
// cProfile counts them.
const (
	Call    Kind = iota // a Python function was entered (or resumed)
	Return              // a Python function returned (or yielded)
	CCall               // a C function was called (recorded only when asked)
	CReturn             // a C function returned or raised
	Unwind              // a Python function was left by an exception
	numKinds
)

var kindNames = [...]string{"call", "return", "c-call", "c-return", "unwind"}

// String returns the kind's short name.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsEntry reports whether the event opens a frame (Call or CCall).
func (k Kind) IsEntry() bool { return k == Call || k == CCall }

// IsExit reports whether the event closes a frame (Return, CReturn, Unwind).
func (k Kind) IsExit() bool { return k == Return || k == CReturn || k == Unwind }

// FrameID identifies an interned Frame within one trace.
type FrameID uint32

// Frame is a function as the tracer knows it: sent once, then referred to by
// ID.
type Frame struct {
	ID   FrameID
	File string // source file path as the interpreter reported it; "~" for C functions
	Func string // qualified function name
	Line int    // first line of the function (0 for C functions)
	C    bool   // a C (builtin) function
}

// Label is the frame named as VizTracer names it: "func (file:line)" for
// a Python function, the function alone for a C function or one whose file
// is not known. Every writer names frames with it.
func (f Frame) Label() string {
	if f.C || f.File == "" {
		return f.Func
	}
	return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line)
}

// Event is one recorded call or return of one thread. It is 24 bytes so a
// store of millions stays small.
type Event struct {
	TS    int64   // CLOCK_MONOTONIC timestamp in ns
	Frame FrameID // the function entered or left
	Line  int32   // current line when the event happened (0 if unknown)
	Kind  Kind
}

// Thread describes one traced thread.
type Thread struct {
	TID  uint32 // native thread id
	Name string // thread name, "" if unknown
}

// Recorder receives what a code-flow source emits. Frames are announced
// before any event refers to them. Implementations are called from one
// goroutine at a time.
type Recorder interface {
	// Process announces the traced process (pid, command line, interpreter).
	Process(p ProcessInfo)
	// Frames interns functions.
	Frames(fs []Frame)
	// Thread announces or renames a thread.
	Thread(t Thread)
	// Events appends one thread's events, in time order.
	Events(tid uint32, evs []Event)
}

// ProcessInfo describes the traced process.
type ProcessInfo struct {
	PID         int
	Command     []string // the program's argv
	Interpreter string   // interpreter path
	Version     string   // interpreter version, e.g. "3.11.7"
	Mode        string   // how events are captured, e.g. "setprofile", "sys.monitoring (C hook)"
	Note        string   // a caveat about the mode, e.g. why the slower Python hook is used
	StartNS     int64    // CLOCK_MONOTONIC ns when tracing started
}
