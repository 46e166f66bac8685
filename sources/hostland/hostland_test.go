package hostland_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"flowscape/landscape"
	"flowscape/sources/hostland"
)

// The file contents below are copied from real machines (a 2-socket
// server with SMT, this 2-vCPU VM); the trees are odd on purpose.

const cpuinfo = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
physical id	: 0
core id		: 0

processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
physical id	: 1
core id		: 0
`

const meminfo = "MemTotal:       25276502016 kB\nMemFree:         3924708 kB\nSwapTotal:             0 kB\nHugepagesize:       2048 kB\n"

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s + "\n")} }
func dir() *fstest.MapFile          { return &fstest.MapFile{Mode: fs.ModeDir | 0o755} }
func link(to string) *fstest.MapFile {
	return &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(to)}
}

func cpu(m fstest.MapFS, n, pkg, core int, online string) {
	d := "sys/devices/system/cpu/cpu" + strconv.Itoa(n)
	if online != "" {
		m[d+"/online"] = file(online)
	}
	if online == "0" {
		m[d+"/uevent"] = file("")
		return
	}
	m[d+"/topology/physical_package_id"] = file(strconv.Itoa(pkg))
	m[d+"/topology/core_id"] = file(strconv.Itoa(core))
}

// server is a two-socket machine with SMT (two threads per core), one CPU
// offline, an NVMe disk with partitions under LVM, a loop device, an
// unused loop device, a bridge with a veth, a down NIC, cgroup v2 with a
// docker container and a systemd service listening on a socket.
func server() fstest.MapFS {
	m := fstest.MapFS{
		"proc/sys/kernel/hostname":                 file("rack1-node7"),
		"proc/sys/kernel/osrelease":                file("6.1.0-18-amd64"),
		"proc/meminfo":                             file(meminfo),
		"proc/cpuinfo":                             file(cpuinfo),
		"sys/devices/system/cpu/online":            file("0-6"),
		"sys/devices/system/node/node0/cpulist":    file("0-3"),
		"sys/devices/system/node/node0/meminfo":    file("Node 0 MemTotal:       16384 kB"),
		"sys/devices/system/node/node1/cpulist":    file("4-7"),
		"sys/devices/system/node/node1/meminfo":    file("Node 1 MemTotal:       16384 kB"),
		"sys/devices/system/node/possible":         file("0-1"),
		"sys/class/block/nvme0n1/size":             file("1000215216"),
		"sys/class/block/nvme0n1/device/model":     file("Samsung SSD 980 PRO 1TB"),
		"sys/class/block/nvme0n1/queue/rotational": file("0"),
		"sys/class/block/nvme0n1p1/partition":      file("1"),
		"sys/class/block/nvme0n1p1/size":           file("1048576"),
		"sys/class/block/nvme0n1p2/partition":      file("2"),
		"sys/class/block/nvme0n1p2/size":           file("999164559"),
		"sys/class/block/dm-0/size":                file("999161856"),
		"sys/class/block/dm-0/dm/name":             file("vg0-root"),
		"sys/class/block/dm-0/slaves/nvme0n1p2":    dir(),
		"sys/class/block/loop0/size":               file("131072"),
		"sys/class/block/loop0/loop/backing_file":  file("/var/lib/snapd/snaps/core_1.snap"),
		"sys/class/block/loop1/size":               file("0"),
		"sys/class/net/eno1/address":               file("3c:ec:ef:00:11:22"),
		"sys/class/net/eno1/operstate":             file("up"),
		"sys/class/net/eno1/speed":                 file("10000"),
		"sys/class/net/eno1/device":                link("../../../0000:18:00.0"),
		"sys/class/net/eno2/address":               file("3c:ec:ef:00:11:23"),
		"sys/class/net/eno2/operstate":             file("down"),
		"sys/class/net/eno2/speed":                 file("-1"),
		"sys/class/net/eno2/device":                link("../../../0000:18:00.1"),
		"sys/class/net/docker0/address":            file("02:42:ac:11:00:01"),
		"sys/class/net/docker0/operstate":          file("up"),
		"sys/class/net/docker0/bridge/stp_state":   file("0"),
		"sys/class/net/docker0/brif/veth1a2b":      dir(),
		"sys/class/net/veth1a2b/address":           file("ae:01:02:03:04:05"),
		"sys/class/net/veth1a2b/operstate":         file("up"),
		"sys/class/net/bonding_masters":            file(""),
		"proc/net/tcp": file("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
			"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n" +
			"   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 100 0 0 10 0\n" +
			"   2: 0100007F:9C40 0100007F:0016 01 00000000:00000000 00:00000000 00000000     0        0 6161 1 0000000000000000 100 0 0 10 0\n" +
			"   3: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7777 1 0000000000000000 100 0 0 10 0"),
		"proc/net/tcp6": file("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
			"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0 10 0"),
		// sshd: systemd unit, listening on 22 (v4 and v6).
		"proc/100/stat":   file("100 (sshd) S 1 100 100 0 -1 4194560 0 0 0 0"),
		"proc/100/cgroup": file("0::/system.slice/ssh.service"),
		"proc/100/fd/3":   link("socket:[4242]"),
		"proc/100/fd/4":   link("socket:[4243]"),
		"proc/100/fd/0":   link("/dev/null"),
		// A container's web server (two processes of one group) on 8080.
		"proc/200/stat":   file("200 (python3 (web)) S 150 200 200 0 -1 4194560 0 0 0 0"),
		"proc/200/cgroup": file("0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope"),
		"proc/200/fd/5":   link("socket:[5151]"),
		"proc/201/stat":   file("201 (worker) S 200 200 200 0 -1 4194560 0 0 0 0"),
		"proc/201/cgroup": file("0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope"),
		"proc/201/fd/5":   link("socket:[5151]"),
		// A process without sockets, in the root cgroup.
		"proc/1/stat":   file("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0"),
		"proc/1/cgroup": file("0::/"),
		"proc/self":     link("1"),
	}
	// Package 0: cores 0 and 1, two threads each; package 1: core 0 with
	// two threads and core 1 with one online thread (cpu7 offline).
	for _, c := range []struct{ n, pkg, core int }{{0, 0, 0}, {1, 0, 1}, {2, 0, 0}, {3, 0, 1}, {4, 1, 0}, {5, 1, 1}, {6, 1, 0}} {
		online := "1"
		if c.n == 0 {
			online = "" // cpu0 often has no online file
		}
		cpu(m, c.n, c.pkg, c.core, online)
	}
	cpu(m, 7, 1, 1, "0")
	return m
}

func types(g *landscape.Graph) map[string]int { return g.CountByType() }

func hasEdge(g *landscape.Graph, src, dst, label string) bool {
	return slices.Contains(g.Edges, landscape.Edge{Source: src, Target: dst, Label: label})
}

func TestScanServer(t *testing.T) {
	g, rep := hostland.Scan(server())
	if err := g.Validate(); err != nil {
		t.Fatalf("invalid graph: %v", err)
	}
	if rep.Skipped != 0 {
		t.Errorf("skipped %d: %v", rep.Skipped, rep.Problems)
	}
	want := map[string]int{"machine": 1, "numa": 2, "package": 2, "core": 4, "thread": 7, "memory": 1,
		"disk": 1, "partition": 2, "dm": 1, "loop": 1, "nic": 2, "bridge": 1, "vnic": 1, "container": 1, "cgroup": 2, "service": 2}
	got := types(g)
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("%d nodes of type %s, want %d (all: %v)", got[typ], typ, n, got)
		}
	}
	h := "rack1-node7"
	m := g.Node(h)
	if m == nil || m.Attrs["kernel"] != "6.1.0-18-amd64" || m.Attrs["memory_bytes"] != strconv.FormatInt(25276502016*1024, 10) {
		t.Fatalf("machine %+v", m)
	}
	for _, e := range [][3]string{
		{h, h + "/package1", landscape.Contains},
		{h + "/package1", h + "/package1/core0", landscape.Contains},
		{h + "/package1/core0", h + "/cpu6", landscape.Contains},
		{h + "/block/nvme0n1", h + "/block/nvme0n1p2", landscape.Contains},
		{h + "/block/dm-0", h + "/block/nvme0n1p2", landscape.Requires},
		{h + "/net/veth1a2b", h + "/net/docker0", landscape.AttachedTo},
		{h + "/service/ssh.service", h + "/cgroup/system.slice/ssh.service", landscape.RunsOn},
		{h + "/cgroup/system.slice", h + "/cgroup/system.slice/ssh.service", landscape.Contains},
		{h + "/cgroup/system.slice", h, landscape.RunsOn},
	} {
		if !hasEdge(g, e[0], e[1], e[2]) {
			t.Errorf("no edge %s -%s-> %s", e[0], e[2], e[1])
		}
	}
	if n := g.Node(h + "/cpu6"); n == nil || n.Attrs[landscape.KeyCPU] != "6" {
		t.Errorf("cpu6 %+v", n)
	}
	if g.Node(h+"/cpu7") != nil {
		t.Error("offline cpu7 listed")
	}
	if g.Node(h+"/block/loop1") != nil {
		t.Error("unused loop1 listed")
	}
	if n := g.Node(h + "/block/dm-0"); n == nil || !strings.HasPrefix(n.Name, "vg0-root") || n.Layer != landscape.Virtual {
		t.Errorf("dm-0 %+v", n)
	}
	if n := g.Node(h + "/net/eno2"); n == nil || n.Attrs["speed_mbps"] != "" || n.Attrs["state"] != "down" || n.Attrs[landscape.KeyMAC] != "3c:ec:ef:00:11:23" {
		t.Errorf("eno2 %+v: want down, no speed", n)
	}
	if n := g.Node(h + "/net/eno1"); n == nil || n.Attrs["speed_mbps"] != "10000" || n.Layer != landscape.Physical {
		t.Errorf("eno1 %+v", n)
	}
	ssh := g.Node(h + "/service/ssh.service")
	if ssh == nil || ssh.Attrs["listen"] != "tcp 0.0.0.0:22, tcp [::]:22" {
		t.Errorf("ssh %+v", ssh)
	}
	var web *landscape.Node
	for i := range g.Nodes {
		if g.Nodes[i].Type == "service" && g.Nodes[i].Name == "python3 (web)" {
			web = &g.Nodes[i]
		}
	}
	if web == nil || web.Attrs["processes"] != "2" || web.Attrs["listen"] != "tcp 127.0.0.1:8080" {
		t.Fatalf("web service %+v (nodes %v)", web, types(g))
	}
	ctr := h + "/cgroup/system.slice/docker-0123456789abcdef0123456789abcdef.scope"
	if !hasEdge(g, web.ID, ctr, landscape.RunsOn) || g.Node(ctr).Attrs["runtime"] != "docker" {
		t.Errorf("web service does not run on its docker container")
	}
	// Port 3000 has no visible owner: it is listed on its own.
	if n := g.Node(h + "/socket/tcp/0.0.0.0:3000"); n == nil || n.Layer != landscape.Service {
		t.Errorf("unowned listener: %+v", n)
	}
}

// denyFS fails with permission denied for paths with one of the prefixes.
type denyFS struct {
	fs.FS
	deny []string
}

func (d denyFS) Open(name string) (fs.File, error) {
	for _, p := range d.deny {
		if strings.HasPrefix(name, p) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
	}
	return d.FS.Open(name)
}

func (d denyFS) ReadLink(name string) (string, error)   { return fs.ReadLink(d.FS, name) }
func (d denyFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(d.FS, name) }

func TestSystemdServicesWithoutSockets(t *testing.T) {
	m := server()
	m["proc/300/stat"] = file("300 (cron) S 1 300 300 0 -1 4194560 0 0 0 0")
	m["proc/300/cgroup"] = file("0::/system.slice/cron.service")
	h := "rack1-node7"
	g, _ := hostland.Scan(m)
	if g.Node(h+"/service/cron.service") != nil {
		t.Error("without systemd, a process that listens on nothing is a service")
	}
	m["run/systemd/system"] = dir()
	g, _ = hostland.Scan(m)
	cron := g.Node(h + "/service/cron.service")
	if cron == nil || cron.Attrs["unit"] != "cron.service" || cron.Attrs["listen"] != "" {
		t.Fatalf("cron under systemd: %+v", cron)
	}
	if !hasEdge(g, cron.ID, h+"/cgroup/system.slice/cron.service", landscape.RunsOn) {
		t.Error("cron.service does not run on its cgroup")
	}
	if ssh := g.Node(h + "/service/ssh.service"); ssh == nil || ssh.Attrs["listen"] == "" {
		t.Errorf("ssh under systemd: %+v", ssh)
	}
	if err := g.Validate(); err != nil {
		t.Error(err)
	}
}

func TestUnreadableEntriesAreSkippedAndCounted(t *testing.T) {
	g, rep := hostland.Scan(denyFS{server(), []string{"sys/class/net/eno1/speed", "proc/100/fd", "sys/class/block"}})
	if rep.Skipped < 3 || len(rep.Problems) < 3 {
		t.Fatalf("report %+v: want the three denied entries", rep)
	}
	if !strings.Contains(rep.String(), "permission denied") {
		t.Errorf("report %q does not say why", rep.String())
	}
	if n := g.Node("rack1-node7/net/eno1"); n == nil || n.Attrs["speed_mbps"] != "" {
		t.Errorf("eno1 %+v: want it without speed", n)
	}
	if got := types(g); got["disk"] != 0 || got["thread"] != 7 || got["nic"] != 2 {
		t.Errorf("types %v: want no disks, the rest still there", got)
	}
	if err := g.Validate(); err != nil {
		t.Error(err)
	}
}

func TestEmptyTree(t *testing.T) {
	g, _ := hostland.Scan(fstest.MapFS{})
	if len(g.Nodes) != 1 || g.Nodes[0].Type != "machine" {
		t.Errorf("empty tree: %+v, want just the machine", g.Nodes)
	}
}

func TestSourceRecordsChanges(t *testing.T) {
	m := server()
	l := landscape.New()
	now := landscape.Time(100)
	src := &hostland.Source{FS: m, Land: l, Now: func() landscape.Time { return now }}
	if d, _ := src.ScanOnce(); len(d.AddedNodes) == 0 {
		t.Fatal("first scan added nothing")
	}
	now = 110
	if d, _ := src.ScanOnce(); !d.Empty() {
		t.Errorf("nothing changed but %v", d)
	}
	now = 120
	m["sys/class/net/eno2/operstate"] = file("up")
	delete(m, "proc/200/fd/5")
	delete(m, "proc/201/fd/5")
	d, _ := src.ScanOnce()
	if len(d.Changed) != 1 || d.Changed[0].After.ID != "rack1-node7/net/eno2" {
		t.Errorf("changed %+v, want eno2", d.Changed)
	}
	var removed []string
	for _, n := range d.RemovedNodes {
		removed = append(removed, n.Type)
	}
	if !slices.Equal(removed, []string{"service"}) {
		// Port 8080 now has no owner: it comes back as a bare listener.
		t.Errorf("removed %v, want the web service", removed)
	}
	h := l.History("rack1-node7/net/eno2")
	if len(h) != 2 || h[0].Attrs["state"] != "down" || h[1].Attrs["state"] != "up" || h[0].To != 120 {
		t.Errorf("eno2 history %+v", h)
	}
	if got := l.At(115).Node("rack1-node7/net/eno2").Attrs["state"]; got != "down" {
		t.Errorf("eno2 at 115: %q", got)
	}
	// Changes older than Keep are forgotten.
	src.Keep = 5 * time.Second
	now = 130
	src.ScanOnce()
	if h := l.History("rack1-node7/net/eno2"); len(h) != 1 || h[0].Attrs["state"] != "up" {
		t.Errorf("eno2 history after 5 s of keeping: %+v", h)
	}
}

// The real thing: this machine's /sys and /proc, checked against
// util-linux and iproute2.

func realScan(t *testing.T) *landscape.Graph {
	t.Helper()
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		t.Skip("no /sys here")
	}
	g, rep := hostland.Scan(os.DirFS("/"))
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d nodes, %d edges; %s", len(g.Nodes), len(g.Edges), rep)
	return g
}

func tool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	out, err := exec.Command(p, args...).Output()
	if err != nil {
		t.Skipf("%s %v: %v", name, args, err)
	}
	return out
}

func TestRealCPUsMatchLscpuAndNproc(t *testing.T) {
	g := realScan(t)
	nproc, _ := strconv.Atoi(strings.TrimSpace(string(tool(t, "nproc", "--all"))))
	var lscpu struct {
		Cpus []struct {
			CPU    any `json:"cpu"`
			Core   any `json:"core"`
			Socket any `json:"socket"`
			Online any `json:"online"`
		} `json:"cpus"`
	}
	if err := json.Unmarshal(tool(t, "lscpu", "-J", "-e=CPU,CORE,SOCKET,ONLINE"), &lscpu); err != nil {
		t.Fatal(err)
	}
	online := 0
	sockets := map[string]bool{}
	cores := map[string]bool{}
	for _, c := range lscpu.Cpus {
		// Older lscpu writes numbers and "yes"/"no"; newer ones JSON
		// numbers and booleans.
		if o := fmt.Sprint(c.Online); o == "no" || o == "false" {
			continue
		}
		online++
		sockets[fmt.Sprint(c.Socket)] = true
		cores[fmt.Sprint(c.Socket, "/", c.Core)] = true
		if ids := g.Lookup(landscape.JoinKey{Kind: landscape.KeyCPU, Value: fmt.Sprint(c.CPU)}); len(ids) != 1 {
			t.Errorf("lscpu's cpu %s is not in the landscape", c.CPU)
		}
	}
	got := types(g)
	if got["thread"] != online || online > nproc {
		t.Errorf("%d threads; lscpu says %d online, nproc --all %d", got["thread"], online, nproc)
	}
	if got["package"] != len(sockets) || got["core"] != len(cores) {
		t.Errorf("%d packages, %d cores; lscpu says %d, %d", got["package"], got["core"], len(sockets), len(cores))
	}
}

func TestRealBlockDevicesMatchLsblk(t *testing.T) {
	g := realScan(t)
	var out struct {
		Blockdevices []lsblkDev `json:"blockdevices"`
	}
	if err := json.Unmarshal(tool(t, "lsblk", "-J", "-b", "-o", "NAME,SIZE,TYPE"), &out); err != nil {
		t.Fatal(err)
	}
	var walk func([]lsblkDev)
	n := 0
	walk = func(ds []lsblkDev) {
		for _, d := range ds {
			n++
			ids := g.Lookup(landscape.JoinKey{Kind: landscape.KeyDevice, Value: d.Name})
			if len(ids) != 1 {
				t.Errorf("lsblk's %s: %d nodes", d.Name, len(ids))
				continue
			}
			if size := g.Node(ids[0]).Attrs["size_bytes"]; size != strconv.FormatInt(d.Size, 10) {
				t.Errorf("%s: size %s, lsblk says %d", d.Name, size, d.Size)
			}
			walk(d.Children)
		}
	}
	walk(out.Blockdevices)
	if n == 0 {
		t.Skip("lsblk lists no block devices")
	}
}

type lsblkDev struct {
	Name     string     `json:"name"`
	Size     int64      `json:"size"`
	Type     string     `json:"type"`
	Children []lsblkDev `json:"children"`
}

func TestRealInterfacesMatchIPLink(t *testing.T) {
	g := realScan(t)
	var links []struct {
		Ifname    string `json:"ifname"`
		Address   string `json:"address"`
		Operstate string `json:"operstate"`
	}
	if err := json.Unmarshal(tool(t, "ip", "-j", "link"), &links); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		ids := g.Lookup(landscape.JoinKey{Kind: landscape.KeyDevice, Value: l.Ifname})
		if len(ids) != 1 {
			t.Errorf("ip link's %s: %d nodes", l.Ifname, len(ids))
			continue
		}
		n := g.Node(ids[0])
		if n.Attrs[landscape.KeyMAC] != l.Address {
			t.Errorf("%s: MAC %q, ip says %q", l.Ifname, n.Attrs[landscape.KeyMAC], l.Address)
		}
		if !strings.EqualFold(n.Attrs["state"], l.Operstate) {
			t.Errorf("%s: state %q, ip says %q", l.Ifname, n.Attrs["state"], l.Operstate)
		}
	}
}

func TestBackendInfo(t *testing.T) {
	in := hostland.Backend{}.Info(t.Context())
	if in.Name != hostland.Name || in.Summary == "" {
		t.Errorf("info %+v", in)
	}
	if _, err := os.Stat("/sys/devices/system/cpu"); err == nil && !in.Available {
		t.Errorf("not available on a machine with /sys: %s", in.Reason)
	}
}

// FuzzScan feeds arbitrary contents to the /proc and /sys files the scan
// parses: it must not panic, and what it returns must be valid.
func FuzzScan(f *testing.F) {
	m := server()
	for _, p := range []string{"proc/net/tcp", "proc/200/stat", "proc/200/cgroup", "proc/meminfo", "proc/cpuinfo", "sys/devices/system/node/node0/meminfo"} {
		f.Add(p, string(m[p].Data))
	}
	f.Add("proc/net/udp", "  sl  local_address rem_address   st\n 1: 00000000:0035 00000000:0000 07 0 0 0 0 0 0 999\n")
	f.Add("proc/net/tcp6", "h\n 0: 00000000000000000000000001000000:0016 0:0 0A 0 0 0 0 0 0 4243\n")
	f.Fuzz(func(t *testing.T, path, content string) {
		switch path {
		case "proc/net/tcp", "proc/net/tcp6", "proc/net/udp", "proc/200/stat", "proc/200/cgroup",
			"proc/meminfo", "proc/cpuinfo", "sys/devices/system/node/node0/meminfo":
		default:
			return
		}
		m := server()
		m[path] = &fstest.MapFile{Data: []byte(content)}
		g, _ := hostland.Scan(m)
		if err := g.Validate(); err != nil {
			t.Fatalf("invalid graph from %s = %q: %v", path, content, err)
		}
	})
}

// BenchmarkScanThisMachine scans the real /sys and /proc.
func BenchmarkScanThisMachine(b *testing.B) {
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		b.Skip("no /sys here")
	}
	fsys := os.DirFS("/")
	for b.Loop() {
		hostland.Scan(fsys)
	}
}
