package syscalls

import (
	"path"
	"strings"
)

// MatchComm reports whether a process name matches pattern: a shell glob
// (path.Match) when the pattern has *, ? or [, else a substring. An empty
// pattern matches everything.
func MatchComm(pattern, comm string) bool {
	if pattern == "" {
		return true
	}
	if strings.ContainsAny(pattern, "*?[") {
		ok, err := path.Match(pattern, comm)
		return err == nil && ok
	}
	return strings.Contains(comm, pattern)
}
