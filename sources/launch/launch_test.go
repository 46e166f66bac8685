package launch_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources/launch"
)

func TestHeldUntilReleased(t *testing.T) {
	var out bytes.Buffer
	h, err := launch.Start([]string{"sh", "-c", "echo ran $0 \"$1\"; exit 3", "zero", "a b"}, nil, &out, &out)
	require.NoError(t, err)
	select {
	case <-h.Done():
		t.Fatal("the command ran before Release")
	case <-time.After(200 * time.Millisecond):
	}
	h.Release()
	err = h.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "exit status as *exec.ExitError, got %v", err)
	assert.Equal(t, 3, ee.ExitCode())
	assert.Equal(t, "ran zero a b\n", out.String(), "arguments are passed as they are")
}

func TestKillAHeldCommand(t *testing.T) {
	var out bytes.Buffer
	h, err := launch.Start([]string{"echo", "never"}, nil, &out, &out)
	require.NoError(t, err)
	h.Kill()
	<-h.Done()
	assert.NotContains(t, out.String(), "never")
}

func TestMissingCommand(t *testing.T) {
	_, err := launch.Start([]string{"no-such-command-flowscape"}, nil, nil, nil)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "no-such-command-flowscape"), err.Error())
	_, err = launch.Start(nil, nil, nil, nil)
	assert.ErrorContains(t, err, "no command")
}

func TestKeepZombieUntilReaped(t *testing.T) {
	h, err := launch.StartKeepZombie([]string{"sh", "-c", "exit 0"}, nil, nil, nil)
	require.NoError(t, err)
	h.Release()
	<-h.Exited()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(h.PID()) + "/stat")
	require.NoError(t, err, "still there after its exit")
	assert.Contains(t, string(stat), ") Z ", "a zombie")
	select {
	case <-h.Done():
		t.Fatal("reaped before Reap")
	case <-time.After(50 * time.Millisecond):
	}
	h.Reap()
	require.NoError(t, h.Wait())
}
