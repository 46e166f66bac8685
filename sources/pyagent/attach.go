package pyagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"flowscape/assets"
	"flowscape/sources"
	"flowscape/tracer"
)

// AttachTimeout is how long Attach waits, by default, for the target's
// main thread to run the injected code (it runs between two bytecodes).
var AttachTimeout = 10 * time.Second

// DetachTimeout bounds the wait for the agent's goodbye after a detach.
var DetachTimeout = 3 * time.Second

// ErrNotRunningBytecode says the target's main thread did not run Python
// code within the attach timeout: blocked in join(), a lock, a long C call
// or a long sleep. Waiting longer may work.
var ErrNotRunningBytecode = errors.New("the main thread ran no Python code in time (blocked in join(), a lock, a long sleep or C call?)")

// errNoNativeInject says the native injector cannot be used for this
// target or platform; gdb may still inject.
var errNoNativeInject = errors.New("native injection unavailable")

// ErrAlreadyAttached is returned for a pid this process is already
// tracing.
var ErrAlreadyAttached = errors.New("already attached")

var attached sync.Map // pid → struct{}: attachments under way in this process

// AttachConfig says how to attach.
type AttachConfig struct {
	PID        int
	CCalls     bool          // record C calls too
	PythonHook bool          // use the Python hook even where the C hook builds
	Timeout    time.Duration // for the main thread to run the injected code (0: AttachTimeout)
	// Injector is "gdb" to inject with gdb even where the native
	// injector works; "" picks the native one, falling back to gdb.
	Injector string
}

// Attacher traces a running Python process: it queues the agent with
// Py_AddPendingCall (the code runs between bytecodes of the main thread,
// holding the GIL, never while another thread is in the middle of
// anything), called in the target by the native ptrace injector or by gdb,
// and detaches by asking the agent to remove every hook.
type Attacher struct {
	cfg    AttachConfig
	interp Interpreter

	mu   sync.Mutex
	conn net.Conn // set while attached
}

// NewAttacher checks the target before anything is injected: it exists, is
// a Python this user may trace, and gdb is installed.
func NewAttacher(ctx context.Context, cfg AttachConfig) (*Attacher, error) {
	pid := cfg.PID
	if pid <= 0 {
		return nil, fmt.Errorf("attach: %d is not a process id", pid)
	}
	if pid == os.Getpid() {
		return nil, fmt.Errorf("attach to pid %d: that is Flowscape itself", pid)
	}
	st, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return nil, fmt.Errorf("attach to pid %d: no such process", pid)
	}
	if uid := os.Geteuid(); uid != 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != uid {
			return nil, fmt.Errorf("attach to pid %d: it belongs to user %d; tracing another user's process needs root or CAP_SYS_PTRACE", pid, sys.Uid)
		}
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if errors.Is(err, os.ErrPermission) {
		// the kernel guards the link as it guards ptrace
		return nil, fmt.Errorf("attach to pid %d: %w", pid, ptraceDenied())
	}
	if err != nil {
		return nil, fmt.Errorf("attach to pid %d: cannot read its executable: %w", pid, err)
	}
	if tracer := tracerOf(pid); tracer != "" {
		return nil, fmt.Errorf("attach to pid %d: it is being traced by %s, and a process has one tracer at a time: detach that one first", pid, tracer)
	}
	it, err := Probe(ctx, exe)
	if err != nil {
		return nil, fmt.Errorf("attach to pid %d: %s is not a Python interpreter this can run (%v)", pid, exe, err)
	}
	if !it.Supported() {
		return nil, fmt.Errorf("attach to pid %d: it runs Python %s; attaching needs %d.%d or newer", pid, it.Version, MinVersion[0], MinVersion[1])
	}
	if _, err := exec.LookPath("gdb"); err != nil && (!nativeInject || cfg.Injector == "gdb") {
		return nil, fmt.Errorf("attach to pid %d: gdb is not installed (apt-get install gdb): it injects the agent", pid)
	}
	switch cfg.Injector {
	case "", "native", "gdb":
	default:
		return nil, fmt.Errorf("attach to pid %d: unknown injector %q (native or gdb)", pid, cfg.Injector)
	}
	return &Attacher{cfg: cfg, interp: it}, nil
}

// Interpreter is the target's interpreter.
func (a *Attacher) Interpreter() Interpreter { return a.interp }

// Pause removes the hooks without detaching; Resume sets them again.
func (a *Attacher) Pause() error  { return a.command('P') }
func (a *Attacher) Resume() error { return a.command('R') }

func (a *Attacher) command(c byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		return errors.New("not attached")
	}
	_, err := a.conn.Write([]byte{c})
	return err
}

// Run attaches, streams the target's records into rec, and detaches when
// ctx is cancelled (returning context.Canceled) or the target exits. The
// target is never left hooked: the agent removes its hooks when told to,
// and when the connection closes.
func (a *Attacher) Run(ctx context.Context, rec tracer.Recorder) error {
	pid := a.cfg.PID
	if _, loaded := attached.LoadOrStore(pid, struct{}{}); loaded {
		return fmt.Errorf("attach to pid %d: %w", pid, ErrAlreadyAttached)
	}
	defer attached.Delete(pid)

	dir, err := os.MkdirTemp("", "flowscape-attach-")
	if err != nil {
		return fmt.Errorf("private directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, assets.AgentModule+".py"), assets.AgentPy, 0o600); err != nil {
		return fmt.Errorf("write agent: %w", err)
	}
	hookDir, hookNote := "", ""
	if a.cfg.PythonHook {
		hookNote = "the Python hook was asked for"
	} else if d, err := HookDir(ctx, a.interp.Path); err != nil {
		hookNote = err.Error()
	} else {
		hookDir = d
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer ln.Close()
	if err := shareWith(pid, dir, hookDir); err != nil {
		return fmt.Errorf("attach to pid %d: %w", pid, err)
	}

	code := injectCode(dir, sock, hookDir, hookNote, a.cfg.CCalls)
	// gdb is never interrupted by ctx: killing it in the middle of the
	// call could leave the target stopped
	if err := inject(context.Background(), pid, code, a.cfg.Injector); err != nil {
		return fmt.Errorf("attach to pid %d: %w", pid, err)
	}

	timeout := a.cfg.Timeout
	if timeout <= 0 {
		timeout = AttachTimeout
	}
	_ = ln.SetDeadline(time.Now().Add(timeout))
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		acc <- accepted{c, err}
	}()
	var conn net.Conn
	select {
	case r := <-acc:
		if r.err != nil {
			if !alive(pid) {
				return fmt.Errorf("attach to pid %d: the process exited", pid)
			}
			// The pending call stays queued in the target; when it runs
			// it finds no one listening and returns without hooking.
			return fmt.Errorf("attach to pid %d: %w (waited %s)", pid, ErrNotRunningBytecode, timeout)
		}
		conn = r.c
	case <-ctx.Done():
		ln.Close()
		if r := <-acc; r.c != nil {
			r.c.Close()
		}
		return ctx.Err()
	}
	ln.Close()
	defer conn.Close()
	a.mu.Lock()
	a.conn = conn
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.conn = nil
		a.mu.Unlock()
	}()

	dec := tracer.NewDecoder(conn, rec)
	decoded := make(chan error, 1)
	go func() { decoded <- dec.Run() }()
	var decErr error
	stopped := false
	select {
	case decErr = <-decoded:
	case <-ctx.Done():
		stopped = true
		_ = a.command('D')
		select {
		case decErr = <-decoded:
		case <-time.After(DetachTimeout):
			// Closing the connection detaches too (the agent sees EOF).
			conn.Close()
			decErr = <-decoded
		}
	}
	if dec.End != nil && dec.End.Reason == "refused" {
		return fmt.Errorf("attach to pid %d: %w: %s", pid, ErrAlreadyAttached, dec.End.Error)
	}
	if stopped {
		return context.Canceled
	}
	if dec.End != nil && dec.End.Reason == "exit" {
		return nil // the target exited while traced
	}
	if decErr != nil {
		if !alive(pid) {
			return fmt.Errorf("pid %d exited while traced", pid)
		}
		return decErr
	}
	if dec.End != nil && dec.End.Error != "" {
		return fmt.Errorf("agent stopped tracing: %s", dec.End.Error)
	}
	return nil
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}

// shareWith lets the target's user read the agent and connect to the
// socket when Flowscape runs as root and the target as someone else.
func shareWith(pid int, dirs ...string) error {
	st, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || int(sys.Uid) == os.Geteuid() {
		return nil
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		err := filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(sys.Uid), int(sys.Gid))
		})
		if err != nil {
			return fmt.Errorf("give the agent's files to the target's user %d: %w", sys.Uid, err)
		}
	}
	return nil
}

// pyString quotes s as a Python string literal.
func pyString(s string) string { return strconv.Quote(s) }

// injectCode is the Python run in the target: it binds no name in the
// target's __main__ and never raises.
func injectCode(dir, sock, hookDir, hookNote string, cCalls bool) string {
	cc := "False"
	if cCalls {
		cc = "True"
	}
	return fmt.Sprintf("try:\n    __import__('sys').path.insert(0, %s)\n    __import__(%s).attach(%s, %s, %s, %s, 20, %s)\nexcept BaseException:\n    pass\n",
		pyString(dir), pyString(assets.AgentModule), pyString(sock), cc, pyString(hookDir), pyString(hookNote), pyString(dir))
}

// cString quotes s as a C string literal for gdb.
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range []byte(s) {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			if r < 0x20 || r >= 0x7f {
				fmt.Fprintf(&b, `\%03o`, r)
			} else {
				b.WriteByte(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// inject queues code as a pending call in the target: it runs in the
// main thread at the next bytecode boundary, with the GIL held. The native
// injector does it where it can, gdb otherwise.
func inject(ctx context.Context, pid int, code, injector string) error {
	if injector != "gdb" {
		err := injectNative(pid, code)
		if !errors.Is(err, errNoNativeInject) {
			return err
		}
		if _, lerr := exec.LookPath("gdb"); lerr != nil {
			return fmt.Errorf("%v, and gdb is not installed (apt-get install gdb)", err)
		}
	}
	return injectGDB(ctx, pid, code)
}

// injectGDB asks gdb to queue code as a pending call in the target.
func injectGDB(ctx context.Context, pid int, code string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	call := fmt.Sprintf("call (int)Py_AddPendingCall((int (*)(void *))PyRun_SimpleString, (void *)strdup(%s))", cString(code))
	// Reading the symbols of every shared library a big program loaded
	// takes seconds: read only libc's (strdup) and the interpreter's.
	cmd := exec.CommandContext(ctx, "gdb", "-p", strconv.Itoa(pid), "-batch", "-nx",
		"-iex", "set auto-solib-add off", "-iex", "set debuginfod enabled off",
		"-ex", "set confirm off", "-ex", `sharedlibrary /libc\.so`, "-ex", "sharedlibrary /libpython",
		"-ex", call, "-ex", "detach", "-ex", "quit")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	switch {
	case strings.Contains(text, "ptrace: Operation not permitted"):
		return ptraceDenied()
	case strings.Contains(text, "No such process"):
		return errors.New("no such process")
	case strings.Contains(text, "No symbol \"Py_AddPendingCall\""), strings.Contains(text, "No symbol table is loaded"):
		return errors.New("the process has no Py_AddPendingCall symbol: is it a Python interpreter?")
	case err != nil:
		return fmt.Errorf("gdb: %v: %s", err, lastLines(text, 4))
	}
	// gdb prints "$1 = 0" when the call was queued, -1 when the queue was full
	if !strings.Contains(text, "= 0") {
		return fmt.Errorf("Py_AddPendingCall did not queue the agent: %s", lastLines(text, 4))
	}
	return nil
}

// tracerOf names the process ptracing pid ("123 (strace)"), or "".
func tracerOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
			v = strings.TrimSpace(v)
			if v == "" || v == "0" {
				return ""
			}
			comm, _ := os.ReadFile("/proc/" + v + "/comm")
			return fmt.Sprintf("process %s (%s)", v, strings.TrimSpace(string(comm)))
		}
	}
	return ""
}

// ptraceDenied says what to do when the kernel refuses ptrace.
func ptraceDenied() error {
	return fmt.Errorf("ptrace was denied: run as root or with CAP_SYS_PTRACE, or allow it with sysctl kernel.yama.ptrace_scope=0 (it is %s here); a process that made itself not dumpable can be traced only with CAP_SYS_PTRACE", ptraceScope())
}

func ptraceScope() string {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err != nil {
		return "not set"
	}
	return strings.TrimSpace(string(b))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// AttachName is the attach backend's registry name.
const AttachName = "python-attach"

// AttachBackend describes attaching to running Pythons.
type AttachBackend struct{}

var _ sources.Backend = AttachBackend{}

// Info says whether gdb is there and ptrace is allowed.
func (AttachBackend) Info(context.Context) sources.Info {
	info := sources.Info{
		Name:    AttachName,
		Kind:    sources.KindCodeFlow,
		Summary: "attach to a running Python (3.8+) by pid: the agent is queued with Py_AddPendingCall (by ptrace, or gdb), every thread is traced, Stop detaches and the process runs on",
	}
	if _, err := exec.LookPath("gdb"); err != nil && !nativeInject {
		info.Reason = "gdb is not installed (apt-get install gdb)"
		return info
	}
	scope := ptraceScope()
	switch {
	case os.Geteuid() == 0:
		info.Detail = "running as root: any Python process can be traced"
	case scope == "0":
		info.Detail = "kernel.yama.ptrace_scope is 0: your own processes can be traced"
	default:
		info.Reason = fmt.Sprintf("ptrace of other processes is restricted (kernel.yama.ptrace_scope=%s): run as root, with CAP_SYS_PTRACE, or set it to 0", scope)
		return info
	}
	info.Available = true
	return info
}
