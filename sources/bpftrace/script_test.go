package bpftrace_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources"
	"flowscape/sources/bpftrace"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), got)
}

func TestScript(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sources.SyscallConfig
		root int
	}{
		{"all.bt", sources.SyscallConfig{Interval: time.Second}, 0},
		{"pid.bt", sources.SyscallConfig{Interval: 250 * time.Millisecond, PID: 4242}, 0},
		{"tree.bt", sources.SyscallConfig{Interval: 500 * time.Millisecond, Command: []string{"make"}}, 31337},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bpftrace.Script(tc.cfg, tc.root)
			require.NoError(t, err)
			golden(t, tc.name, got)
			assert.NotContains(t, got, "sys_enter_", "never one probe per syscall name")
		})
	}
}
