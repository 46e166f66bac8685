// Package pyagent is the in-process Python tracing backend: it launches a
// script under Flowscape's agent (a profile hook that streams batched
// records over a unix socket in a private directory) and decodes the stream
// into a tracer.Recorder.
package pyagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"flowscape/assets"
	"flowscape/sources"
	"flowscape/tracer"
)

// Name is the backend's registry name.
const Name = "python-agent"

// StopGrace is how long Stop waits after SIGINT before it kills the program.
var StopGrace = 2 * time.Second

// connectTimeout bounds the wait for the agent to connect once the program
// is running.
var connectTimeout = 30 * time.Second

// Backend launches Python programs under the agent.
type Backend struct{}

var _ sources.FlowBackend = Backend{}

// Info reports whether a supported Python interpreter exists here.
func (Backend) Info(ctx context.Context) sources.Info {
	info := sources.Info{
		Name:    Name,
		Kind:    sources.KindCodeFlow,
		Summary: "launch a Python script under an in-process profile hook (setprofile on ≤ 3.11, sys.monitoring on ≥ 3.12), written in C (compiled on first use against the interpreter's headers) or, where that cannot be built, in Python",
	}
	var ok []string
	for _, it := range Discover(ctx) {
		if it.Supported() {
			ok = append(ok, it.Version)
		}
	}
	if len(ok) == 0 {
		info.Reason = fmt.Sprintf("no Python %d.%d or newer found on PATH or in pyenv", MinVersion[0], MinVersion[1])
		return info
	}
	info.Available = true
	info.Detail = "interpreters: " + strings.Join(ok, ", ")
	return info
}

// NewFlow checks cfg (interpreter, script) before anything runs.
func (Backend) NewFlow(cfg sources.FlowConfig) (sources.FlowSource, error) {
	if cfg.Script == "" {
		return nil, errors.New("no script given")
	}
	st, err := os.Stat(cfg.Script)
	if err != nil {
		return nil, fmt.Errorf("script %s: %w", cfg.Script, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("script %s: is a directory", cfg.Script)
	}
	if cfg.Interpreter == "" {
		return nil, errors.New("no interpreter given")
	}
	it, err := Probe(context.Background(), cfg.Interpreter)
	if err != nil {
		return nil, err
	}
	if !it.Supported() {
		return nil, fmt.Errorf("interpreter %s is Python %s; tracing needs %d.%d or newer", cfg.Interpreter, it.Version, MinVersion[0], MinVersion[1])
	}
	return &Source{cfg: cfg, interp: it}, nil
}

// Source is one launch of a program under the agent.
type Source struct {
	cfg    sources.FlowConfig
	interp Interpreter
}

// SetOutput sends the program's standard output and error to w (before
// Run).
func (s *Source) SetOutput(w io.Writer) { s.cfg.Stdout, s.cfg.Stderr = w, w }

// ExitError reports how the traced program ended when it did not exit 0.
type ExitError struct {
	Code   int    // exit status, -1 when killed by a signal
	Signal string // the signal's name when killed
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "program was killed by " + e.Signal
	}
	return fmt.Sprintf("program exited with status %d", e.Code)
}

func exitError(ps *os.ProcessState) error {
	if ps == nil || ps.Success() {
		return nil
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &ExitError{Code: -1, Signal: "signal " + ws.Signal().String()}
	}
	return &ExitError{Code: ps.ExitCode()}
}

// bootstrap imports the agent from the private directory, then forgets the
// directory so the script's sys.path is its own.
func bootstrap(dir string) string {
	return fmt.Sprintf("import sys; sys.path.insert(0, %q); import %s as _fa; sys.path.pop(0); _fa.main()", dir, assets.AgentModule)
}

// Command returns the command line that runs the script under the agent from
// dir (which must hold the agent module).
func (s *Source) command(dir string) []string {
	argv := []string{s.cfg.Interpreter, "-c", bootstrap(dir), s.cfg.Script}
	return append(argv, s.cfg.Args...)
}

// Run launches the program and streams its records into rec until it ends.
// Cancelling ctx stops the program (SIGINT, then SIGKILL after StopGrace);
// everything recorded until then stays in rec.
func (s *Source) Run(ctx context.Context, rec tracer.Recorder) error {
	dir, err := os.MkdirTemp("", "flowscape-")
	if err != nil {
		return fmt.Errorf("private directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, assets.AgentModule+".py"), assets.AgentPy, 0o600); err != nil {
		return fmt.Errorf("write agent: %w", err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer ln.Close()

	argv := s.command(dir)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.cfg.Dir
	cmd.Env = append(os.Environ(), "FLOWSCAPE_SOCKET="+sock)
	cmd.Env = append(cmd.Env, s.hookEnv(ctx)...)
	if s.cfg.CCalls {
		cmd.Env = append(cmd.Env, "FLOWSCAPE_CCALLS=1")
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.cfg.Stdin, s.cfg.Stdout, s.cfg.Stderr
	// A grandchild that keeps the output pipes open must not hang the wait.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		_ = ln.SetDeadline(time.Now().Add(connectTimeout))
		c, err := ln.Accept()
		acc <- accepted{c, err}
	}()

	var conn net.Conn
	exited := false // the program ended before its connection was taken
	var exitWait error
	select {
	case a := <-acc:
		if a.err != nil {
			stop(cmd, waited)
			return fmt.Errorf("agent did not connect within %s: %w", connectTimeout, a.err)
		}
		conn = a.c
	case exitWait = <-waited:
		exited = true
		ln.Close()
		a := <-acc
		if a.c == nil {
			// The program ended before the agent connected: the script
			// could not be loaded, or the interpreter failed.
			if e := exitError(cmd.ProcessState); e != nil {
				return fmt.Errorf("before tracing started: %w", e)
			}
			if exitWait != nil {
				return exitWait
			}
			return errors.New("program ended before the agent connected")
		}
		// A short program connected and ended before the connection was
		// taken: what it sent is still in the socket.
		conn = a.c
	case <-ctx.Done():
		stop(cmd, waited)
		return ctx.Err()
	}
	ln.Close()
	defer conn.Close()

	dec := tracer.NewDecoder(conn, rec)
	decoded := make(chan error, 1)
	go func() { decoded <- dec.Run() }()

	var decErr, waitErr error
	stopped := false
	if exited {
		// the process is gone and its end of the socket closed: the
		// decoder finishes with what is buffered
		decErr, waitErr = <-decoded, exitWait
	} else {
		select {
		case decErr = <-decoded:
			waitErr = <-waited
		case waitErr = <-waited:
			// The process is gone; its end of the socket is closed, so the
			// decoder finishes with what is buffered.
			decErr = <-decoded
		case <-ctx.Done():
			stopped = true
			stop(cmd, waited)
			decErr = <-decoded
		}
	}
	if stopped {
		return context.Canceled
	}
	exitErr := exitError(cmd.ProcessState)
	if waitErr != nil && exitErr == nil {
		exitErr = waitErr
	}
	if decErr != nil && !(errors.Is(decErr, tracer.ErrNoEnd) && exitErr != nil) {
		// A missing end record is explained by the exit status when there is one.
		if exitErr != nil {
			return errors.Join(exitErr, decErr)
		}
		return decErr
	}
	if dec.End != nil && dec.End.Error != "" {
		return errors.Join(exitErr, fmt.Errorf("agent stopped tracing: %s", dec.End.Error))
	}
	return exitErr
}

// hookEnv tells the agent where the C hook is, or why there is none.
func (s *Source) hookEnv(ctx context.Context) []string {
	if s.cfg.PythonHook {
		return []string{"FLOWSCAPE_HOOK_NOTE=the Python hook was asked for"}
	}
	dir, err := HookDir(ctx, s.cfg.Interpreter)
	if err != nil {
		return []string{"FLOWSCAPE_HOOK_NOTE=" + err.Error()}
	}
	return []string{"FLOWSCAPE_HOOK=" + dir}
}

// stop interrupts the program, then kills it if it is still there after
// StopGrace, and waits for it.
func stop(cmd *exec.Cmd, waited <-chan error) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-waited:
	case <-time.After(StopGrace):
		_ = cmd.Process.Kill()
		<-waited
	}
}
