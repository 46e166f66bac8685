// Package hosttelemetry is the telemetry source for this machine, read
// from /proc and /sys through an fs.FS: busy time per CPU and for the
// machine, memory in use, disk I/O and busy time per block device, bytes,
// errors and drops per network interface, and CPU and memory per cgroup
// (v2). Counters become rates between two reads; a counter that went back
// (a reset, a device replaced) is skipped for that interval and counted.
// Samples carry the join keys of the local landscape (sources/hostland):
// cpu index, hostname, device name and cgroup path.
package hosttelemetry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources"
)

// Name is the source's name in the registry.
const Name = "local-telemetry"

// Metric names.
const (
	CPUBusy      = "cpu_busy_pct"       // per CPU and for the machine: % of time not idle
	MemUsed      = "mem_used_pct"       // machine: % of memory not available
	Load1        = "load1"              // machine: 1-minute load average
	DiskRead     = "disk_read_bytes_s"  // per block device
	DiskWrite    = "disk_write_bytes_s" // per block device
	DiskBusy     = "disk_busy_pct"      // per block device: % of time with I/O in flight
	NetRx        = "net_rx_bytes_s"     // per interface
	NetTx        = "net_tx_bytes_s"     // per interface
	NetErrors    = "net_errors_s"       // per interface: receive and transmit errors
	NetDrops     = "net_drops_s"        // per interface: dropped packets
	CgroupCPU    = "cgroup_cpu_pct"     // per cgroup: % of one CPU
	CgroupMemory = "cgroup_mem_bytes"   // per cgroup
)

// Floors are the smallest standard deviations worth alarming on for this
// source's metrics (telemetry.Config.Floors): an idle CPU's 0.5 % blip or a
// few bytes on a quiet interface are not anomalies.
func Floors() map[string]float64 {
	return map[string]float64{
		CPUBusy: 3, MemUsed: 0.5, Load1: 0.2,
		DiskRead: 64 << 10, DiskWrite: 64 << 10, DiskBusy: 2,
		NetRx: 16 << 10, NetTx: 16 << 10, NetErrors: 0.5, NetDrops: 0.5,
		CgroupCPU: 3, CgroupMemory: 8 << 20,
	}
}

// Report says what one read could not use.
type Report struct {
	Skipped  int      // files that could not be read or parsed
	Resets   int      // counters that went back: no rate for that interval
	Problems []string // the first few
}

const maxProblems = 10

func (r *Report) skip(p string, err error) {
	r.Skipped++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, "/"+p+": "+err.Error())
	}
}

// String is a one-line summary.
func (r Report) String() string {
	if r.Skipped == 0 && r.Resets == 0 {
		return "all counters read"
	}
	s := fmt.Sprintf("%d files of /proc and /sys could not be read, %d counters reset", r.Skipped, r.Resets)
	if len(r.Problems) > 0 {
		s += " (first: " + r.Problems[0] + ")"
	}
	return s
}

// counter is one counter's last value.
type counterKey struct {
	key    landscape.JoinKey
	metric string
	part   int
}

// Collector reads counters and turns them into samples. Its first Collect
// only records counters (and reports the gauges).
type Collector struct {
	FS   fs.FS // the file system root (paths "proc/…", "sys/…")
	prev map[counterKey]float64
	at   time.Time
	// MaxCgroups bounds the cgroups read (0: 400).
	MaxCgroups int
}

// Collect reads everything once at now.
func (c *Collector) Collect(now time.Time) ([]telemetry.Sample, Report) {
	var rep Report
	cur := map[counterKey]float64{}
	var out []telemetry.Sample
	ms := now.UnixMilli()
	dt := 0.0
	if c.prev != nil {
		dt = now.Sub(c.at).Seconds()
	}
	gauge := func(k landscape.JoinKey, metric string, v float64) {
		out = append(out, telemetry.Sample{Key: k, Metric: metric, T: ms, V: v})
	}
	// delta records counters and returns their increase since the last
	// read (ok false on the first read or a reset).
	delta := func(k landscape.JoinKey, metric string, part int, v float64) (float64, bool) {
		ck := counterKey{k, metric, part}
		cur[ck] = v
		old, seen := c.prev[ck]
		if !seen || dt <= 0 {
			return 0, false
		}
		if v < old {
			rep.Resets++
			return 0, false
		}
		return v - old, true
	}
	rate := func(k landscape.JoinKey, metric string, v, scale float64) {
		if d, ok := delta(k, metric, 0, v); ok {
			gauge(k, metric, d*scale/dt)
		}
	}

	host := c.read("proc/sys/kernel/hostname", &rep)
	if host == "" {
		host = "localhost"
	}
	hk := landscape.JoinKey{Kind: landscape.KeyHostname, Value: host}

	// CPU: "cpuN user nice system idle iowait irq softirq steal …".
	for line := range strings.SplitSeq(c.read("proc/stat", &rep), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		var total, idle float64
		for i, s := range f[1:min(len(f), 9)] { // guest time is already in user
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				rep.skip("proc/stat", fmt.Errorf("%s: %q is not a number", f[0], s))
				total = -1
				break
			}
			total += v
			if i == 3 || i == 4 {
				idle += v
			}
		}
		if total < 0 {
			continue
		}
		k := hk
		if f[0] != "cpu" {
			k = landscape.JoinKey{Kind: landscape.KeyCPU, Value: f[0][3:]}
		}
		dTotal, ok1 := delta(k, CPUBusy, 0, total)
		dIdle, ok2 := delta(k, CPUBusy, 1, idle)
		if ok1 && ok2 && dTotal > 0 {
			if dIdle > dTotal { // another field went back
				rep.Resets++
				continue
			}
			gauge(k, CPUBusy, 100*(dTotal-dIdle)/dTotal)
		}
	}

	// Memory and load.
	mem := map[string]float64{}
	for line := range strings.SplitSeq(c.read("proc/meminfo", &rep), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if f := strings.Fields(v); ok && len(f) > 0 {
			if n, err := strconv.ParseFloat(f[0], 64); err == nil {
				mem[k] = n
			}
		}
	}
	if t, a := mem["MemTotal"], mem["MemAvailable"]; t > 0 {
		gauge(hk, MemUsed, 100*(t-a)/t)
	}
	if f := strings.Fields(c.read("proc/loadavg", &rep)); len(f) > 0 {
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			gauge(hk, Load1, v)
		}
	}

	// Disks: "major minor name reads merged sectors ms writes merged
	// sectors ms in-flight io-ms weighted-ms …".
	for line := range strings.SplitSeq(c.read("proc/diskstats", &rep), "\n") {
		f := strings.Fields(line)
		if len(f) < 14 {
			continue
		}
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return -1
			}
			return v
		}
		rd, wr, io := num(5), num(9), num(12)
		if rd < 0 || wr < 0 || io < 0 {
			rep.skip("proc/diskstats", fmt.Errorf("%s: bad numbers", f[2]))
			continue
		}
		k := landscape.JoinKey{Kind: landscape.KeyDevice, Value: f[2]}
		rate(k, DiskRead, rd, 512)
		rate(k, DiskWrite, wr, 512)
		if d, ok := delta(k, DiskBusy, 0, io); ok {
			gauge(k, DiskBusy, min(100, d/10/dt)) // ms per s → %
		}
	}

	// Network: "iface: rx bytes packets errs drop fifo frame compressed
	// multicast tx bytes packets errs drop …".
	for line := range strings.SplitSeq(c.read("proc/net/dev", &rep), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 16 {
			continue
		}
		var v [16]float64
		bad := false
		for i := range v {
			n, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				bad = true
				break
			}
			v[i] = n
		}
		if bad {
			rep.skip("proc/net/dev", fmt.Errorf("%s: bad numbers", strings.TrimSpace(name)))
			continue
		}
		k := landscape.JoinKey{Kind: landscape.KeyDevice, Value: strings.TrimSpace(name)}
		rate(k, NetRx, v[0], 1)
		rate(k, NetTx, v[8], 1)
		rate(k, NetErrors, v[2]+v[10], 1)
		rate(k, NetDrops, v[3]+v[11], 1)
	}

	// cgroups v2.
	c.cgroups(&rep, func(p string, usec, memBytes float64, hasMem bool) {
		k := landscape.JoinKey{Kind: landscape.KeyCgroup, Value: p}
		if usec >= 0 {
			rate(k, CgroupCPU, usec, 100/1e6)
		}
		if hasMem {
			gauge(k, CgroupMemory, memBytes)
		}
	})

	c.prev, c.at = cur, now
	return out, rep
}

// expected reports whether err just means "not there".
func expected(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EINVAL)
}

func (c *Collector) read(p string, rep *Report) string {
	b, err := fs.ReadFile(c.fsys(), p)
	if err != nil {
		if !expected(err) {
			rep.skip(p, err)
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (c *Collector) fsys() fs.FS {
	if c.FS == nil {
		return os.DirFS("/")
	}
	return c.FS
}

// cgroups walks the cgroup trees breadth first, calling f with each
// cgroup's path ("/system.slice/x.service"), CPU usage in µs (-1 when
// unknown) and memory in use: the v2 hierarchy, and on a machine that
// still has v1 controllers, the cpuacct and memory ones for the cgroups
// v2 does not hold.
func (c *Collector) cgroups(rep *Report, f func(p string, usec, mem float64, hasMem bool)) {
	limit := c.MaxCgroups
	if limit <= 0 {
		limit = 400
	}
	seen := map[string]bool{}
	// The v2 hierarchy: at the top, or beside v1 controllers ("hybrid").
	for _, root := range []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"} {
		if _, err := fs.Stat(c.fsys(), root+"/cgroup.controllers"); err != nil {
			continue
		}
		c.walk(root, limit, rep, func(p, dir string) {
			usec := -1.0
			for line := range strings.SplitSeq(c.read(dir+"/cpu.stat", rep), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					if x, err := strconv.ParseFloat(v, 64); err == nil {
						usec = x
					}
				}
			}
			mem, err := strconv.ParseFloat(c.read(dir+"/memory.current", rep), 64)
			seen[p] = true
			f(p, usec, mem, err == nil)
		})
		break
	}
	// v1: cpuacct.usage (ns) and memory.usage_in_bytes.
	type v1 struct {
		usec, mem float64
		hasMem    bool
	}
	found := map[string]*v1{}
	var order []string
	get := func(p string) *v1 {
		if found[p] == nil {
			found[p] = &v1{usec: -1}
			order = append(order, p)
		}
		return found[p]
	}
	c.walk("sys/fs/cgroup/cpuacct", limit, rep, func(p, dir string) {
		if ns, err := strconv.ParseFloat(c.read(dir+"/cpuacct.usage", rep), 64); err == nil && !seen[p] {
			get(p).usec = ns / 1000
		}
	})
	c.walk("sys/fs/cgroup/memory", limit, rep, func(p, dir string) {
		if b, err := strconv.ParseFloat(c.read(dir+"/memory.usage_in_bytes", rep), 64); err == nil && !seen[p] {
			g := get(p)
			g.mem, g.hasMem = b, true
		}
	})
	for _, p := range order {
		v := found[p]
		f(p, v.usec, v.mem, v.hasMem)
	}
}

// walk visits the cgroups under root breadth first (not root itself), at
// most limit of them.
func (c *Collector) walk(root string, limit int, rep *Report, visit func(p, dir string)) {
	if _, err := fs.Stat(c.fsys(), root); err != nil {
		return
	}
	queue := []string{"/"}
	for n := 0; len(queue) > 0 && n < limit; n++ {
		p := queue[0]
		queue = queue[1:]
		dir := path.Join(root, p)
		if p != "/" {
			visit(p, dir)
		}
		es, err := fs.ReadDir(c.fsys(), dir)
		if err != nil {
			if !expected(err) {
				rep.skip(dir, err)
			}
			continue
		}
		for _, e := range es {
			if e.IsDir() {
				queue = append(queue, path.Join(p, e.Name()))
			}
		}
	}
}

// Source reads this machine every Interval.
type Source struct {
	FS        fs.FS
	Interval  time.Duration // 0 means 2 s
	OnSamples func([]telemetry.Sample, Report)
}

// Run collects at once and then every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = 2 * time.Second
	}
	c := &Collector{FS: s.FS}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		samples, rep := c.Collect(time.Now())
		if s.OnSamples != nil {
			s.OnSamples(samples, rep)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Backend describes the source for the registry.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info checks that /proc/stat can be read.
func (Backend) Info(context.Context) sources.Info {
	in := sources.Info{Name: Name, Kind: sources.KindTelemetry,
		Summary: "this machine's CPU per core, memory, disk I/O, network and cgroup usage from /proc and /sys, every 2 s"}
	if _, err := os.ReadFile("/proc/stat"); err != nil {
		in.Reason = "/proc/stat cannot be read: " + err.Error()
		return in
	}
	in.Available = true
	_, err1 := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	_, err2 := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers")
	if err1 != nil && err2 != nil {
		in.Reason = "no cgroup v2 hierarchy at /sys/fs/cgroup: no per-cgroup usage"
	}
	return in
}
