package syscalls

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Names maps syscall numbers to names.
type Names map[int]string

// Name returns the name of syscall nr, or "syscall_NR" when the table does
// not know it (a newer kernel than the table).
func (n Names) Name(nr int) string {
	if s, ok := n[nr]; ok {
		return s
	}
	return "syscall_" + strconv.Itoa(nr)
}

// ParseUnistd reads a kernel syscall table in the form of asm/unistd_64.h:
// lines "#define __NR_name number". Other lines are skipped; a __NR_ line
// whose number does not parse is an error naming the line.
func ParseUnistd(data []byte) (Names, error) {
	out := Names{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "#define" || !strings.HasPrefix(f[1], "__NR_") {
			continue
		}
		name := strings.TrimPrefix(f[1], "__NR_")
		if name == "" || len(f) != 3 {
			return out, fmt.Errorf("line %d: want \"#define __NR_name number\", got %q", line, sc.Text())
		}
		nr, err := strconv.Atoi(f[2])
		if err != nil || nr < 0 {
			return out, fmt.Errorf("line %d: syscall %s: bad number %q", line, name, f[2])
		}
		out[nr] = name
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// Merge returns the names of a and b, b winning where both have a number.
func Merge(a, b Names) Names {
	out := make(Names, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
