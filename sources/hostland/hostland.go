// Package hostland is the landscape source for this machine: its hardware
// (NUMA nodes, CPU packages, cores, hardware threads, memory, disks and
// partitions, network interfaces), its virtual layer (cgroups and
// containers, virtual interfaces and bridges, loop, device-mapper and RAM
// block devices) and its services (systemd service units; without systemd,
// the process groups that listen on sockets), read from /sys and /proc
// through an fs.FS and refreshed periodically into a versioned landscape.
package hostland

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"flowscape/landscape"
	"flowscape/sources"
)

// Name is the source's name in the registry and on the command line.
const Name = "local"

// Report says what a scan could not read. Unreadable entries are skipped
// and counted; the rest of the scan goes on.
type Report struct {
	Skipped  int      // entries that could not be read
	Problems []string // the first few, "path: error"
}

const maxProblems = 20

func (r *Report) skip(p string, err error) {
	r.Skipped++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, "/"+p+": "+errText(err))
	}
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// String is a one-line summary for a status bar.
func (r Report) String() string {
	if r.Skipped == 0 {
		return "all of /sys and /proc that was needed could be read"
	}
	s := fmt.Sprintf("%d entries of /sys and /proc could not be read and were skipped", r.Skipped)
	if len(r.Problems) > 0 {
		s += " (first: " + r.Problems[0] + ")"
	}
	return s
}

// scanner reads one snapshot.
type scanner struct {
	fsys  fs.FS
	rep   Report
	host  string
	nodes []landscape.Node
	edges []landscape.Edge
	ids   map[string]bool
}

// Scan reads this machine from fsys, whose root is the file system root
// (paths are "sys/…" and "proc/…"; use os.DirFS("/")).
func Scan(fsys fs.FS) (*landscape.Graph, Report) {
	s := &scanner{fsys: fsys, ids: map[string]bool{}}
	s.machine()
	s.cpus()
	s.numa()
	s.blocks()
	s.nets()
	cg := s.cgroups()
	s.services(cg)
	return landscape.NewGraph(s.nodes, s.edges), s.rep
}

// expected reports whether err just means "not there" or "not
// applicable" (a down interface's speed), which is not worth counting.
func expected(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOTSUP)
}

// read returns a file's trimmed content, "" when absent; other errors are
// counted.
func (s *scanner) read(p string) string {
	b, err := fs.ReadFile(s.fsys, p)
	if err != nil {
		if !expected(err) {
			s.rep.skip(p, err)
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

// exists reports whether p is there, even as a link to something this
// file system does not hold (sysfs's "device" links).
func (s *scanner) exists(p string) bool {
	if _, err := fs.Stat(s.fsys, p); err == nil {
		return true
	}
	_, err := fs.ReadLink(s.fsys, p)
	return err == nil
}

func (s *scanner) readDir(p string) []fs.DirEntry {
	es, err := fs.ReadDir(s.fsys, p)
	if err != nil && !expected(err) {
		s.rep.skip(p, err)
	}
	return es
}

func (s *scanner) id(parts ...string) string { return s.host + "/" + strings.Join(parts, "/") }

func (s *scanner) add(n landscape.Node) {
	if s.ids[n.ID] {
		return
	}
	s.ids[n.ID] = true
	s.nodes = append(s.nodes, n)
}

func (s *scanner) link(src, dst, label string) {
	s.edges = append(s.edges, landscape.Edge{Source: src, Target: dst, Label: label})
}

func attrs(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

// keyValues reads "Key: value" lines (cpuinfo, meminfo).
func keyValues(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; !dup {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// kib turns "5728460 kB" into a byte count in text.
func kib(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return ""
	}
	return strconv.FormatInt(n*1024, 10)
}

func (s *scanner) machine() {
	s.host = s.read("proc/sys/kernel/hostname")
	if s.host == "" {
		s.host = "localhost"
	}
	mem := keyValues(s.read("proc/meminfo"))
	cpu := keyValues(s.read("proc/cpuinfo"))
	s.add(landscape.Node{ID: s.host, Layer: landscape.Physical, Category: landscape.Compute, Type: "machine", Name: s.host,
		Attrs: attrs(landscape.KeyHostname, s.host, "kernel", s.read("proc/sys/kernel/osrelease"),
			"os", s.read("proc/sys/kernel/ostype"), "memory_bytes", kib(mem["MemTotal"]), "cpu_model", cpu["model name"])})
	if b := kib(mem["MemTotal"]); b != "" {
		id := s.id("memory")
		s.add(landscape.Node{ID: id, Layer: landscape.Physical, Category: landscape.Compute, Type: "memory", Name: "memory " + humanBytes(b),
			Attrs: attrs("bytes", b, "swap_bytes", kib(mem["SwapTotal"]), "hugepage_size", mem["Hugepagesize"])})
		s.link(s.host, id, landscape.Contains)
	}
}

// humanBytes writes a byte count in text as 16 GiB, 512 MiB, ….
func humanBytes(v string) string {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if n < 1024 || u == "TiB" {
			if n == float64(int64(n)) {
				return fmt.Sprintf("%d %s", int64(n), u)
			}
			return fmt.Sprintf("%.1f %s", n, u)
		}
		n /= 1024
	}
	return v
}

// numbered lists the entries of dir named prefix<N>, in numeric order.
func (s *scanner) numbered(dir, prefix string) []int {
	var out []int
	for _, e := range s.readDir(dir) {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func (s *scanner) cpus() {
	const base = "sys/devices/system/cpu"
	cpuinfo := s.read("proc/cpuinfo")
	model := map[string]string{} // physical id → model name
	for block := range strings.SplitSeq(cpuinfo, "\n\n") {
		kv := keyValues(block)
		if kv["model name"] != "" {
			model[kv["physical id"]] = kv["model name"]
		}
	}
	for _, n := range s.numbered(base, "cpu") {
		dir := fmt.Sprintf("%s/cpu%d", base, n)
		cpu := strconv.Itoa(n)
		if s.read(dir+"/online") == "0" {
			continue // offline: no topology
		}
		pkg := s.read(dir + "/topology/physical_package_id")
		core := s.read(dir + "/topology/core_id")
		if pkg == "" || pkg == "-1" {
			pkg = "0"
		}
		if core == "" {
			core = cpu
		}
		pid := s.id("package" + pkg)
		name := model[pkg]
		if name == "" {
			name = model[""]
		}
		s.add(landscape.Node{ID: pid, Layer: landscape.Physical, Category: landscape.Compute, Type: "package", Name: "package " + pkg,
			Attrs: attrs("package_id", pkg, "model", name)})
		if !s.hasEdge(s.host, pid) {
			s.link(s.host, pid, landscape.Contains)
		}
		cid := pid + "/core" + core
		s.add(landscape.Node{ID: cid, Layer: landscape.Physical, Category: landscape.Compute, Type: "core", Name: "core " + core,
			Attrs: attrs("core_id", core, "package_id", pkg)})
		if !s.hasEdge(pid, cid) {
			s.link(pid, cid, landscape.Contains)
		}
		tid := s.id("cpu" + cpu)
		s.add(landscape.Node{ID: tid, Layer: landscape.Physical, Category: landscape.Compute, Type: "thread", Name: "cpu" + cpu,
			Attrs: attrs(landscape.KeyCPU, cpu, "core_id", core, "package_id", pkg, "siblings", s.read(dir+"/topology/thread_siblings_list"))})
		s.link(cid, tid, landscape.Contains)
	}
}

func (s *scanner) hasEdge(src, dst string) bool {
	for _, e := range s.edges {
		if e.Source == src && e.Target == dst {
			return true
		}
	}
	return false
}

func (s *scanner) numa() {
	const base = "sys/devices/system/node"
	for _, n := range s.numbered(base, "node") {
		dir := fmt.Sprintf("%s/node%d", base, n)
		node := strconv.Itoa(n)
		mem := ""
		for line := range strings.SplitSeq(s.read(dir+"/meminfo"), "\n") {
			// "Node 0 MemTotal:        5728460 kB"
			if _, v, ok := strings.Cut(line, "MemTotal:"); ok {
				mem = kib(strings.TrimSpace(v))
			}
		}
		id := s.id("numa" + node)
		s.add(landscape.Node{ID: id, Layer: landscape.Physical, Category: landscape.Compute, Type: "numa", Name: "NUMA node " + node,
			Attrs: attrs("node", node, "cpus", s.read(dir+"/cpulist"), "memory_bytes", mem)})
		s.link(s.host, id, landscape.Contains)
	}
}

func (s *scanner) blocks() {
	const base = "sys/class/block"
	type dev struct{ name, dir string }
	var parts []dev
	for _, e := range s.readDir(base) {
		name := e.Name()
		dir := base + "/" + name
		if s.exists(dir + "/partition") {
			parts = append(parts, dev{name, dir})
			continue
		}
		size := s.sizeBytes(dir)
		a := attrs(landscape.KeyDevice, name, "size_bytes", size, "dev", s.read(dir+"/dev"),
			"removable", s.read(dir+"/removable"), "read_only", s.read(dir+"/ro"),
			"rotational", s.read(dir+"/queue/rotational"), "model", s.read(dir+"/device/model"), "serial", s.read(dir+"/serial"))
		id := s.id("block", name)
		n := landscape.Node{ID: id, Category: landscape.Storage, Name: name, Attrs: a}
		switch {
		case strings.HasPrefix(name, "loop"):
			backing := s.read(dir + "/loop/backing_file")
			if backing == "" && (size == "" || size == "0") {
				continue // an unused loop device, as lsblk hides it
			}
			n.Layer, n.Type = landscape.Virtual, "loop"
			n.Attrs["backing_file"] = backing
		case s.exists(dir + "/dm"):
			n.Layer, n.Type = landscape.Virtual, "dm"
			if dm := s.read(dir + "/dm/name"); dm != "" {
				n.Name = dm + " (" + name + ")"
				n.Attrs["dm_name"] = dm
			}
		case s.exists(dir + "/device"):
			n.Layer, n.Type = landscape.Physical, "disk"
		default:
			n.Layer, n.Type = landscape.Virtual, "ramdisk"
		}
		if size != "" {
			n.Name += " " + humanBytes(size)
		}
		s.add(n)
		slaves := s.readDir(dir + "/slaves")
		for _, sl := range slaves {
			s.link(id, s.id("block", sl.Name()), landscape.Requires)
		}
		switch {
		case n.Layer == landscape.Physical:
			s.link(s.host, id, landscape.Contains)
		case len(slaves) == 0:
			s.link(id, s.host, landscape.RunsOn)
		}
	}
	for _, p := range parts {
		size := s.sizeBytes(p.dir)
		id := s.id("block", p.name)
		parent := ""
		// The partition's directory sits in its disk's: find the disk by
		// the longest disk name that prefixes the partition's.
		for _, n := range s.nodes {
			if d := n.Attrs[landscape.KeyDevice]; d != "" && n.Category == landscape.Storage && strings.HasPrefix(p.name, d) && len(d) > len(parent) {
				parent = d
			}
		}
		layer := landscape.Physical
		if parent != "" {
			if pn := s.node(s.id("block", parent)); pn != nil {
				layer = pn.Layer
			}
		}
		s.add(landscape.Node{ID: id, Layer: layer, Category: landscape.Storage, Type: "partition", Name: p.name + " " + humanBytes(size),
			Attrs: attrs(landscape.KeyDevice, p.name, "size_bytes", size, "dev", s.read(p.dir+"/dev"), "partition", s.read(p.dir+"/partition"))})
		if parent != "" {
			s.link(s.id("block", parent), id, landscape.Contains)
		} else {
			s.link(s.host, id, landscape.Contains)
		}
	}
	// Device-mapper targets may name partitions read after them: drop
	// links to devices that do not exist.
	s.edges = slices.DeleteFunc(s.edges, func(e landscape.Edge) bool { return !s.ids[e.Source] || !s.ids[e.Target] })
}

func (s *scanner) node(id string) *landscape.Node {
	for i := range s.nodes {
		if s.nodes[i].ID == id {
			return &s.nodes[i]
		}
	}
	return nil
}

// sizeBytes reads a block device's size (in 512-byte sectors) in bytes.
func (s *scanner) sizeBytes(dir string) string {
	n, err := strconv.ParseInt(s.read(dir+"/size"), 10, 64)
	if err != nil {
		return ""
	}
	return strconv.FormatInt(n*512, 10)
}

func (s *scanner) nets() {
	const base = "sys/class/net"
	type member struct{ iface, bridge string }
	var members []member
	for _, e := range s.readDir(base) {
		name := e.Name()
		dir := base + "/" + name
		if !s.exists(dir + "/address") {
			continue // bonding_masters and other files
		}
		speed := s.read(dir + "/speed")
		if strings.HasPrefix(speed, "-") {
			speed = "" // unknown
		}
		a := attrs(landscape.KeyDevice, name, landscape.KeyMAC, s.read(dir+"/address"), "state", s.read(dir+"/operstate"),
			"speed_mbps", speed, "mtu", s.read(dir+"/mtu"), "ifindex", s.read(dir+"/ifindex"))
		id := s.id("net", name)
		n := landscape.Node{ID: id, Category: landscape.Network, Name: name, Attrs: a}
		switch {
		case s.exists(dir + "/device"):
			n.Layer, n.Type = landscape.Physical, "nic"
		case s.exists(dir + "/bridge"):
			n.Layer, n.Type = landscape.Virtual, "bridge"
		case name == "lo":
			n.Layer, n.Type = landscape.Virtual, "loopback"
		default:
			n.Layer, n.Type = landscape.Virtual, "vnic"
		}
		if n.Attrs["state"] != "" {
			n.Name += " (" + n.Attrs["state"] + ")"
		}
		s.add(n)
		if n.Layer == landscape.Physical {
			s.link(s.host, id, landscape.Contains)
		}
		if n.Type == "bridge" {
			for _, m := range s.readDir(dir + "/brif") {
				members = append(members, member{m.Name(), name})
			}
		}
	}
	attached := map[string]bool{}
	for _, m := range members {
		s.link(s.id("net", m.iface), s.id("net", m.bridge), landscape.AttachedTo)
		attached[m.iface] = true
	}
	for _, n := range s.nodes {
		if n.Category == landscape.Network && n.Layer == landscape.Virtual && !attached[n.Attrs[landscape.KeyDevice]] {
			s.link(n.ID, s.host, landscape.RunsOn)
		}
	}
}

// proc is what the scan needs of one process.
type proc struct {
	pid, pgid int
	comm      string
	cgroup    string // path in the unified hierarchy, or the first v1 one that is not "/"
}

// processes reads every process's name, group and cgroup.
func (s *scanner) processes() []proc {
	var out []proc
	denied := 0
	for _, e := range s.readDir("proc") {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := "proc/" + e.Name()
		stat, err := fs.ReadFile(s.fsys, dir+"/stat")
		if err != nil {
			if !expected(err) {
				denied++
			}
			continue // gone meanwhile
		}
		p := proc{pid: pid}
		// "pid (comm) state ppid pgrp …": comm may hold spaces and parens.
		if i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')'); i >= 0 && j > i {
			p.comm = string(stat[i+1 : j])
			if f := strings.Fields(string(stat[j+1:])); len(f) > 2 {
				p.pgid, _ = strconv.Atoi(f[2])
			}
		}
		b, _ := fs.ReadFile(s.fsys, dir+"/cgroup")
		p.cgroup = cgroupOf(string(b))
		out = append(out, p)
	}
	if denied > 0 {
		s.rep.skip("proc/*/stat", fmt.Errorf("%d processes could not be read", denied))
	}
	return out
}

// cgroupOf picks a process's cgroup from /proc/PID/cgroup: the unified
// hierarchy's path ("0::/x") when it is not the root, else the first v1
// hierarchy's that is not.
func cgroupOf(text string) string {
	v1 := ""
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		p := path.Clean("/" + parts[2])
		if p == "/" {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			return p
		}
		if v1 == "" && !strings.HasPrefix(parts[1], "name=") {
			v1 = p
		}
	}
	return v1
}

// containerRuntime says whether a cgroup's name is a container's.
func containerRuntime(p string) string {
	base := path.Base(p)
	switch {
	case strings.HasPrefix(base, "docker-") || strings.Contains(p, "/docker/"):
		return "docker"
	case strings.HasPrefix(base, "libpod-") || strings.Contains(p, "/libpod"):
		return "podman"
	case strings.HasPrefix(base, "cri-containerd-") || strings.Contains(p, "kubepods"):
		return "kubernetes"
	case strings.HasPrefix(base, "lxc.payload") || strings.Contains(p, "/lxc/"):
		return "lxc"
	case strings.HasPrefix(base, "machine-") && strings.HasSuffix(base, ".scope"):
		return "systemd-machined"
	}
	return ""
}

// cgroups adds a node for every cgroup that holds a process, and its
// ancestors. It returns the processes read.
func (s *scanner) cgroups() []proc {
	procs := s.processes()
	count := map[string]int{}
	for _, p := range procs {
		if p.cgroup != "" {
			count[p.cgroup]++
		}
	}
	paths := map[string]bool{}
	for p := range count {
		for q := p; q != "/" && q != "." && q != ""; q = path.Dir(q) {
			paths[q] = true
		}
	}
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}) {
		id := s.id("cgroup" + p)
		typ, name := "cgroup", path.Base(p)
		rt := containerRuntime(p)
		if rt != "" {
			typ = "container"
			if len(name) > 24 {
				name = name[:24] + "…"
			}
		}
		s.add(landscape.Node{ID: id, Layer: landscape.Virtual, Category: landscape.Compute, Type: typ, Name: name,
			Attrs: attrs(landscape.KeyCgroup, p, "runtime", rt)})
		if parent := path.Dir(p); parent != "/" {
			s.link(s.id("cgroup"+parent), id, landscape.Contains)
		} else {
			s.link(id, s.host, landscape.RunsOn)
		}
	}
	return procs
}

// listener is a listening socket from /proc/net/*.
type listener struct {
	proto, addr string
}

// sockets reads the listening TCP sockets and the bound, unconnected UDP
// ones, by inode.
func (s *scanner) sockets() map[string]listener {
	out := map[string]listener{}
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		text := s.read("proc/net/" + proto)
		sc := bufio.NewScanner(strings.NewReader(text))
		sc.Scan() // header
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 10 {
				continue
			}
			listening := f[3] == "0A" // TCP_LISTEN
			if strings.HasPrefix(proto, "udp") {
				listening = f[3] == "07" && strings.HasSuffix(f[2], ":0000")
			}
			if !listening || f[9] == "0" {
				continue
			}
			out[f[9]] = listener{strings.TrimSuffix(proto, "6"), hexAddr(f[1])}
		}
	}
	return out
}

// hexAddr turns /proc/net's "0100007F:1F90" into "127.0.0.1:8080".
func hexAddr(s string) string {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return s
	}
	var ip []byte
	for i := 0; i+8 <= len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return s
		}
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24)) // little-endian words
	}
	switch len(ip) {
	case 4:
		return fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], port)
	case 16:
		allZero := !slices.ContainsFunc(ip, func(b byte) bool { return b != 0 })
		if allZero {
			return fmt.Sprintf("[::]:%d", port)
		}
		var parts []string
		for i := 0; i < 16; i += 2 {
			parts = append(parts, strconv.FormatUint(uint64(ip[i])<<8|uint64(ip[i+1]), 16))
		}
		return fmt.Sprintf("[%s]:%d", strings.Join(parts, ":"), port)
	}
	return s
}

// services adds one service per process group (or systemd unit) that
// listens on a socket, running on its cgroup (or the machine), and one per
// listening socket whose owner is not visible here.
func (s *scanner) services(procs []proc) {
	socks := s.sockets()
	byPID := map[int]*proc{}
	for i := range procs {
		byPID[procs[i].pid] = &procs[i]
	}
	type svc struct {
		name, cgroup string
		pids         []int
		listen       []string
	}
	svcs := map[string]*svc{}
	owned := map[string]bool{}
	denied := 0
	for _, p := range procs {
		if len(socks) == 0 {
			break // no listening socket: no open files to look through
		}
		dir := fmt.Sprintf("proc/%d/fd", p.pid)
		fds, err := fs.ReadDir(s.fsys, dir)
		if err != nil {
			if !expected(err) {
				denied++
			}
			continue
		}
		var listen []string
		for _, fd := range fds {
			target, err := fs.ReadLink(s.fsys, dir+"/"+fd.Name())
			if err != nil {
				continue
			}
			inode, ok := strings.CutPrefix(target, "socket:[")
			if !ok {
				continue
			}
			if l, ok := socks[strings.TrimSuffix(inode, "]")]; ok {
				listen = append(listen, l.proto+" "+l.addr)
				owned[strings.TrimSuffix(inode, "]")] = true
			}
		}
		if len(listen) == 0 {
			continue
		}
		key, name := "", p.comm
		if unit := path.Base(p.cgroup); strings.HasSuffix(unit, ".service") {
			key, name = unit, unit
		} else {
			leader := byPID[p.pgid]
			if leader != nil {
				name = leader.comm
			}
			key = fmt.Sprintf("%s-%d", name, p.pgid)
		}
		v := svcs[key]
		if v == nil {
			v = &svc{name: name, cgroup: p.cgroup}
			svcs[key] = v
		}
		v.pids = append(v.pids, p.pid)
		v.listen = append(v.listen, listen...)
	}
	if denied > 0 {
		s.rep.skip("proc/*/fd", fmt.Errorf("the open files of %d processes could not be read (not root?)", denied))
	}
	// Under systemd every service unit with a process is a service, even
	// one that listens on nothing.
	if s.exists("run/systemd/system") {
		for _, p := range procs {
			unit := path.Base(p.cgroup)
			if !strings.HasSuffix(unit, ".service") {
				continue
			}
			v := svcs[unit]
			if v == nil {
				v = &svc{name: unit, cgroup: p.cgroup}
				svcs[unit] = v
			}
			if !slices.Contains(v.pids, p.pid) {
				v.pids = append(v.pids, p.pid)
			}
		}
	}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range svcs {
			if !yield(k) {
				return
			}
		}
	}) {
		v := svcs[key]
		slices.Sort(v.pids)
		slices.Sort(v.listen)
		v.listen = slices.Compact(v.listen)
		id := s.id("service", key)
		a := attrs("listen", strings.Join(v.listen, ", "), "pid", strconv.Itoa(v.pids[0]), "processes", strconv.Itoa(len(v.pids)), landscape.KeyCgroup, v.cgroup)
		if strings.HasSuffix(key, ".service") {
			a["unit"] = key
		}
		s.add(landscape.Node{ID: id, Layer: landscape.Service, Category: landscape.Compute, Type: "service", Name: v.name, Attrs: a})
		on := s.host
		if v.cgroup != "" && s.ids[s.id("cgroup"+v.cgroup)] {
			on = s.id("cgroup" + v.cgroup)
		}
		s.link(id, on, landscape.RunsOn)
	}
	for inode, l := range socks {
		if owned[inode] {
			continue
		}
		id := s.id("socket", l.proto, l.addr)
		s.add(landscape.Node{ID: id, Layer: landscape.Service, Category: landscape.Network, Type: "listener", Name: l.proto + " " + l.addr,
			Attrs: attrs("listen", l.proto+" "+l.addr, "owner", "not visible from here (another pid namespace, or not root)")})
		if !s.hasEdge(id, s.host) {
			s.link(id, s.host, landscape.RunsOn)
		}
	}
}

// Source scans this machine every Interval into Land, recording changes
// as new versions.
type Source struct {
	FS       fs.FS                        // the file system root; nil means os.DirFS("/")
	Interval time.Duration                // between scans; 0 means 10 s
	Land     *landscape.Landscape         // where versions go
	Now      func() landscape.Time        // the clock; nil means time.Now
	OnScan   func(landscape.Diff, Report) // called after each scan, from Run's goroutine
	// Keep is how long changes are remembered; older versions are
	// forgotten so that the history stays bounded. 0 means 24 hours.
	Keep time.Duration
}

// ScanOnce scans now and records the result; it returns what changed.
func (s *Source) ScanOnce() (landscape.Diff, Report) {
	fsys := s.FS
	if fsys == nil {
		fsys = os.DirFS("/")
	}
	now := landscape.Time(time.Now().Unix())
	if s.Now != nil {
		now = s.Now()
	}
	g, rep := Scan(fsys)
	d := s.Land.Record(now, g)
	keep := s.Keep
	if keep <= 0 {
		keep = 24 * time.Hour
	}
	s.Land.Prune(now - landscape.Time(keep/time.Second))
	if s.OnScan != nil {
		s.OnScan(d, rep)
	}
	return d, rep
}

// Run scans at once and then every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = 10 * time.Second
	}
	s.ScanOnce()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.ScanOnce()
		}
	}
}

// Backend describes the source for the registry.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info checks that /sys and /proc can be read.
func (Backend) Info(ctx context.Context) sources.Info {
	in := sources.Info{Name: Name, Kind: sources.KindLandscape,
		Summary: "this machine's landscape from /sys and /proc: CPUs, NUMA, memory, disks, interfaces, cgroups, listening services"}
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		in.Reason = "/sys is not mounted: " + errText(err)
		return in
	}
	g, rep := Scan(os.DirFS("/"))
	in.Available = true
	in.Detail = fmt.Sprintf("%d nodes, %d edges", len(g.Nodes), len(g.Edges))
	if rep.Skipped > 0 {
		in.Reason = rep.String()
	}
	return in
}
