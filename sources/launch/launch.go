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
)

// gate is run by /bin/sh: wait until the gate pipe (fd 3) is written or
// closed, then exec the command without the pipe.
const gate = `read _ <&3; exec "$@" 3<&-`

// Held is a command waiting at the gate, then running.
type Held struct {
	cmd      *exec.Cmd
	gateW    *os.File
	once     sync.Once
	waitOnce sync.Once
	waitErr  error
	done     chan struct{}
}

// Start checks that argv[0] can be run and starts it held at the gate.
// Stdin nil reads the null device; stdout and stderr nil are discarded.
func Start(argv []string, stdin io.Reader, stdout, stderr io.Writer) (*Held, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command given")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("command %s: %w", argv[0], err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("command %s: %w", argv[0], err)
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", gate, argv[0]}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("command %s: %w", argv[0], err)
	}
	r.Close()
	h := &Held{cmd: cmd, gateW: w, done: make(chan struct{})}
	go func() {
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

// Done is closed when the command has exited.
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
	select {
	case <-h.done:
		return
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
}
