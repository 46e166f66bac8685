package syscalls_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	assetsbt "flowscape/assets/bpftrace"
	"flowscape/tracer/syscalls"
)

func TestEmbeddedSyscallTable(t *testing.T) {
	names, err := syscalls.ParseUnistd(assetsbt.UnistdH)
	require.NoError(t, err)
	assert.Len(t, names, 362, "Linux 6.1's x86-64 table")
	for nr, want := range map[int]string{0: "read", 1: "write", 4: "stat", 59: "execve", 110: "getppid", 231: "exit_group", 257: "openat", 450: "set_mempolicy_home_node"} {
		assert.Equal(t, want, names.Name(nr), "syscall %d", nr)
	}
	assert.Equal(t, "syscall_462", names.Name(462), "newer than the table")
}

var unistdCases = []struct {
	name, in string
	want     syscalls.Names
	err      string
}{
	{"plain", "#define __NR_read 0\n#define __NR_write 1\n", syscalls.Names{0: "read", 1: "write"}, ""},
	{"guards and blanks", "#ifndef _ASM_UNISTD_64_H\n#define _ASM_UNISTD_64_H\n\n#define\t__NR_poll\t7\n#endif\n", syscalls.Names{7: "poll"}, ""},
	{"crlf", "#define __NR_read 0\r\n", syscalls.Names{0: "read"}, ""},
	{"bad number", "#define __NR_read 0\n#define __NR_write one\n", nil, `line 2: syscall write: bad number "one"`},
	{"expression", "#define __NR_x (__NR_base + 1)\n", nil, "line 1:"},
	{"negative", "#define __NR_x -1\n", nil, "bad number"},
}

func TestParseUnistd(t *testing.T) {
	for _, tc := range unistdCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := syscalls.ParseUnistd([]byte(tc.in))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMergeNames(t *testing.T) {
	got := syscalls.Merge(syscalls.Names{0: "read", 1: "old"}, syscalls.Names{1: "write", 462: "mseal"})
	assert.Equal(t, syscalls.Names{0: "read", 1: "write", 462: "mseal"}, got)
}

func FuzzParseUnistd(f *testing.F) {
	for _, tc := range unistdCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		names, err := syscalls.ParseUnistd(data)
		if err == nil {
			for nr, name := range names {
				if nr < 0 || name == "" {
					t.Fatalf("entry %d %q", nr, name)
				}
			}
		}
	})
}
