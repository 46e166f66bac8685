package pyagent

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"testing/fstest"
	"time"
)

func procEntry(m fstest.MapFS, pid int, uid int, exe, cmdline string) {
	d := strconv.Itoa(pid)
	m[d+"/status"] = &fstest.MapFile{Data: []byte("Name:\tx\nUid:\t" + strconv.Itoa(uid) + "\t" + strconv.Itoa(uid) + "\t0\t0\n")}
	if exe != "" {
		m[d+"/exe"] = &fstest.MapFile{Data: []byte(exe), Mode: fs.ModeSymlink | 0o777}
	}
	m[d+"/cmdline"] = &fstest.MapFile{Data: []byte(cmdline)}
}

func TestListPythonsFromProcFS(t *testing.T) {
	m := fstest.MapFS{}
	procEntry(m, 10, 1000, "/usr/bin/python3.11", "python3\x00app.py\x00--x\x00")
	procEntry(m, 11, 1000, "/usr/bin/bash", "bash\x00")
	procEntry(m, 12, 0, "/root/.pyenv/versions/3.12.1/bin/python3.12", "python3\x00-m\x00http.server\x00")
	procEntry(m, 13, 1000, "/opt/py/bin/python3.13 (deleted)", "python3.13\x00w.py\x00")
	procEntry(m, 14, 1000, "", "python3\x00unreadable.py\x00") // exe link not readable
	procEntry(m, 15, 1000, "/usr/bin/python3-config", "python3-config\x00")
	m["self"] = &fstest.MapFile{Data: []byte("10"), Mode: fs.ModeSymlink}
	m["meminfo"] = &fstest.MapFile{Data: []byte("MemTotal: 1 kB\n")}
	m["16/cmdline"] = &fstest.MapFile{Data: []byte("python3\x00")} // gone mid-read: no status

	probed := map[string]int{}
	probe := func(_ context.Context, exe string) (Interpreter, error) {
		probed[exe]++
		return Interpreter{Version: "3.11.2"}, nil
	}
	got, err := ListPythons(context.Background(), m, 1000, probe)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range got {
		pids = append(pids, p.PID)
	}
	if want := []int{10, 13, 14}; !equalInts(pids, want) {
		t.Fatalf("pids %v, want %v (user 1000's Pythons)", pids, want)
	}
	if got[0].Command != "python3 app.py --x" || got[0].Exe != "/usr/bin/python3.11" || got[0].Version != "3.11.2" {
		t.Errorf("process 10: %+v", got[0])
	}
	if got[1].Exe != "/opt/py/bin/python3.13" {
		t.Errorf("deleted exe: %q", got[1].Exe)
	}
	all, err := ListPythons(context.Background(), m, 0, nil)
	if err != nil || len(all) != 4 {
		t.Errorf("root sees %d Pythons (%v), want 4", len(all), err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// On this machine: a Python started here is listed, with its version.
func TestListPythonsHere(t *testing.T) {
	it := anyPython(t)
	cmd := exec.Command(it.Path, "-c", "import time; time.sleep(30)")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(200 * time.Millisecond)
	got, err := ListPythons(context.Background(), os.DirFS("/proc"), os.Geteuid(), Probe)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if p.PID == cmd.Process.Pid {
			if p.Version != it.Version {
				t.Errorf("version %q, want %q", p.Version, it.Version)
			}
			return
		}
	}
	t.Errorf("pid %d not listed among %d processes", cmd.Process.Pid, len(got))
}
