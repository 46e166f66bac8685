package pyagent

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/user"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Process is a running Python process that could be attached to.
type Process struct {
	PID     int
	UID     int
	User    string
	Exe     string // the interpreter's path
	Version string // its Python version, when it could be learnt
	Command string // the command line, arguments joined by spaces
}

var pythonExe = regexp.MustCompile(`^python[0-9.]*(d|m|dm)?$`)

// ListPythons lists the Python processes in procfs (a /proc file system,
// os.DirFS("/proc") on this machine) that uid may trace (every one when uid
// is 0), by pid. The version comes from running each distinct interpreter
// once (probe; nil skips it).
func ListPythons(ctx context.Context, procfs fs.FS, uid int, probe func(ctx context.Context, exe string) (Interpreter, error)) ([]Process, error) {
	entries, err := fs.ReadDir(procfs, ".")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	versions := map[string]string{}
	names := map[int]string{}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		p, ok := readProcess(procfs, pid)
		if !ok || (uid != 0 && p.UID != uid) {
			continue
		}
		if v, seen := versions[p.Exe]; seen {
			p.Version = v
		} else if probe != nil {
			if it, err := probe(ctx, "/proc/"+e.Name()+"/exe"); err == nil {
				p.Version = it.Version
			}
			versions[p.Exe] = p.Version
		}
		if n, seen := names[p.UID]; seen {
			p.User = n
		} else {
			p.User = strconv.Itoa(p.UID)
			if u, err := user.LookupId(p.User); err == nil {
				p.User = u.Username
			}
			names[p.UID] = p.User
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// readProcess reads one process's owner, executable and command line, and
// whether it is a Python interpreter (by its executable's name).
func readProcess(procfs fs.FS, pid int) (Process, bool) {
	dir := strconv.Itoa(pid)
	status, err := fs.ReadFile(procfs, dir+"/status")
	if err != nil {
		return Process{}, false
	}
	p := Process{PID: pid, UID: -1}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				p.UID, _ = strconv.Atoi(f[0])
			}
		}
	}
	if exe, err := fs.ReadLink(procfs, dir+"/exe"); err == nil {
		p.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	cmdline, _ := fs.ReadFile(procfs, dir+"/cmdline")
	args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	p.Command = strings.Join(args, " ")
	name := path.Base(p.Exe)
	if p.Exe == "" && len(args) > 0 {
		name = path.Base(args[0]) // the link is unreadable: judge by argv[0]
	}
	if !pythonExe.MatchString(name) || p.UID < 0 {
		return Process{}, false
	}
	return p, true
}
