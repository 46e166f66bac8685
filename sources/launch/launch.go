// Package launch starts a command held at a gate: the process exists (so
// its pid can be given to a tracer) but runs the command only once Release
// is called, after the tracer has attached. Everything the command does
// after its exec is then seen.
package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"
)

// gate is run by /bin/sh: wait until the gate pipe (fd 3) is written or
// closed, then exec the command without the pipe.
const gate = `read _ <&3; exec "$@" 3<&-`

// Held is a command waiting at the gate, then running.
type Held struct {
	cmd      *exec.Cmd
	gateW    *os.File
	once     sync.Once
	waitErr  error
	done     chan struct{}
	exited   chan struct{} // the process has exited; it may be a zombie still
	reap     chan struct{} // closed when it may be reaped
	reapOnce sync.Once
}

// Start checks that argv[0] can be run and starts it held at the gate.
// Stdin nil reads the null device; stdout and stderr nil are discarded.
func Start(argv []string, stdin io.Reader, stdout, stderr io.Writer) (*Held, error) {
	return start(argv, stdin, stdout, stderr, false)
}

// StartKeepZombie is Start, but once the command exits its process stays a
// zombie (its /proc files still readable) until Reap is called; Exited is
// closed then.
func StartKeepZombie(argv []string, stdin io.Reader, stdout, stderr io.Writer) (*Held, error) {
	return start(argv, stdin, stdout, stderr, true)
}

func start(argv []string, stdin io.Reader, stdout, stderr io.Writer, keepZombie bool) (*Held, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command given")
	}
	// Exec the resolved path: one execve, not one per PATH entry tried.
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("command %s: %w", argv[0], err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("command %s: %w", argv[0], err)
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", gate, argv[0], path}, argv[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("command %s: %w", argv[0], err)
	}
	r.Close()
	h := &Held{cmd: cmd, gateW: w, done: make(chan struct{}), exited: make(chan struct{}), reap: make(chan struct{})}
	if !keepZombie {
		h.Reap()
	}
	go func() {
		if keepZombie {
			waitNoReap(cmd.Process.Pid)
		}
		close(h.exited)
		<-h.reap
		h.waitErr = cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// PID is the process id; the command keeps it after its exec.
func (h *Held) PID() int { return h.cmd.Process.Pid }

// Release lets the command run.
func (h *Held) Release() {
	h.once.Do(func() {
		_, _ = h.gateW.Write([]byte("go\n"))
		h.gateW.Close()
	})
}

// Exited is closed when the command has exited, before it is reaped when
// it was started with StartKeepZombie.
func (h *Held) Exited() <-chan struct{} { return h.exited }

// Reap lets a command started with StartKeepZombie be reaped once it exits.
func (h *Held) Reap() { h.reapOnce.Do(func() { close(h.reap) }) }

// waitNoReap waits until pid exits without reaping it (waitid with
// WNOWAIT); on an error it returns at once and Wait reports the error.
func waitNoReap(pid int) {
	const pPID, wExited, wNoWait = 1, 4, 0x01000000
	var info [128]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			return
		}
	}
}

// Done is closed when the command has exited and been reaped.
func (h *Held) Done() <-chan struct{} { return h.done }

// Wait waits for the command to exit and returns its exit status as
// *exec.ExitError when it failed.
func (h *Held) Wait() error {
	<-h.done
	return h.waitErr
}

// Kill ends the command (held or running) and waits for it.
func (h *Held) Kill() {
	h.once.Do(func() { h.gateW.Close() })
	h.Reap()
	select {
	case <-h.done:
		return
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
}
