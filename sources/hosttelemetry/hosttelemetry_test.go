package hosttelemetry

import (
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources/hostland"
)

func machine(stat, disk, net, cgUsage, cgMem string) fstest.MapFS {
	return fstest.MapFS{
		"proc/sys/kernel/hostname":                        {Data: []byte("box\n")},
		"proc/stat":                                       {Data: []byte(stat)},
		"proc/meminfo":                                    {Data: []byte("MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n")},
		"proc/loadavg":                                    {Data: []byte("1.50 1.00 0.50 2/300 4000\n")},
		"proc/diskstats":                                  {Data: []byte(disk)},
		"proc/net/dev":                                    {Data: []byte("Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" + net)},
		"sys/fs/cgroup/cgroup.controllers":                {Data: []byte("cpu memory\n")},
		"sys/fs/cgroup/cpu.stat":                          {Data: []byte("usage_usec 1\n")},
		"sys/fs/cgroup/system.slice/cpu.stat":             {Data: []byte("usage_usec " + cgUsage + "\nuser_usec 1\n")},
		"sys/fs/cgroup/system.slice/memory.current":       {Data: []byte(cgMem)},
		"sys/fs/cgroup/system.slice/x.service/cpu.stat":   {Data: []byte("usage_usec 5\n")},
		"sys/fs/cgroup/system.slice/x.service/memory.max": {Data: []byte("max\n")},
	}
}

func byKey(samples []telemetry.Sample) map[string]float64 {
	m := map[string]float64{}
	for _, s := range samples {
		m[s.Key.Kind+"="+s.Key.Value+" "+s.Metric] = s.V
	}
	return m
}

func TestCollectRatesFromCounters(t *testing.T) {
	fsys := machine(
		"cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\ncpu1 50 0 50 350 50 0 0 0 0 0\nintr 1 2 3\n",
		"   8       0 vda 10 0 2000 5 20 0 4000 9 0 1000 14 0 0 0 0\n",
		"  eth0: 1000 10 1 2 0 0 0 0 5000 20 3 4 0 0 0 0\n",
		"1000000", "4096\n")
	c := &Collector{FS: fsys}
	t0 := time.Unix(1000, 0)
	first, rep := c.Collect(t0)
	got := byKey(first)
	// Gauges come at once; rates need a second read.
	if len(first) != 3 || got["hostname=box mem_used_pct"] != 75 || got["hostname=box load1"] != 1.5 || got["cgroup=/system.slice cgroup_mem_bytes"] != 4096 {
		t.Fatalf("first read: %v (report %v)", got, rep)
	}
	// Two seconds later: cpu0 busy 150 of 250 ticks, cpu1 idle, the
	// machine busy 200 of 300; vda read
	// 2048 sectors, busy 1 s of 2; eth0 got 2000 bytes; the cgroup used
	// 0.5 s of CPU; its memory counter shrank (a gauge: fine).
	fsys["proc/stat"] = &fstest.MapFile{Data: []byte("cpu  250 0 150 750 150 0 0 0 0 0\ncpu0 150 0 100 400 100 0 0 0 0 0\ncpu1 50 0 50 450 150 0 0 0 0 0\n")}
	fsys["proc/diskstats"] = &fstest.MapFile{Data: []byte("   8       0 vda 20 0 4048 5 20 0 4000 9 0 2000 14 0 0 0 0\n")}
	fsys["proc/net/dev"] = &fstest.MapFile{Data: []byte("  eth0: 3000 30 1 3 0 0 0 0 5000 20 3 4 0 0 0 0\n")}
	fsys["sys/fs/cgroup/system.slice/cpu.stat"] = &fstest.MapFile{Data: []byte("usage_usec 1500000\n")}
	fsys["sys/fs/cgroup/system.slice/memory.current"] = &fstest.MapFile{Data: []byte("2048\n")}
	second, rep := c.Collect(t0.Add(2 * time.Second))
	got = byKey(second)
	want := map[string]float64{
		"cpu=0 cpu_busy_pct":                            60,
		"cpu=1 cpu_busy_pct":                            0,
		"hostname=box cpu_busy_pct":                     100 * 200.0 / 300,
		"device=vda disk_read_bytes_s":                  2048 * 512 / 2,
		"device=vda disk_write_bytes_s":                 0,
		"device=vda disk_busy_pct":                      50,
		"device=eth0 net_rx_bytes_s":                    1000,
		"device=eth0 net_tx_bytes_s":                    0,
		"device=eth0 net_errors_s":                      0,
		"device=eth0 net_drops_s":                       0.5,
		"cgroup=/system.slice cgroup_cpu_pct":           25,
		"cgroup=/system.slice cgroup_mem_bytes":         2048,
		"cgroup=/system.slice/x.service cgroup_cpu_pct": 0,
		"hostname=box mem_used_pct":                     75,
		"hostname=box load1":                            1.5,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d samples, want %d: %v", len(got), len(want), got)
	}
	if rep.Skipped != 0 || rep.Resets != 0 {
		t.Errorf("report %v", rep)
	}
	// A counter that goes back (interface re-created) gives no rate and
	// is counted; the next read has one again.
	fsys["proc/net/dev"] = &fstest.MapFile{Data: []byte("  eth0: 10 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")}
	third, rep := c.Collect(t0.Add(4 * time.Second))
	if _, ok := byKey(third)["device=eth0 net_rx_bytes_s"]; ok || rep.Resets == 0 {
		t.Errorf("after a reset: %v, report %v", byKey(third), rep)
	}
	fourth, _ := c.Collect(t0.Add(6 * time.Second))
	if v, ok := byKey(fourth)["device=eth0 net_rx_bytes_s"]; !ok || v != 0 {
		t.Errorf("after the reset, rx rate %v %v", v, ok)
	}
}

func TestCollectBadFiles(t *testing.T) {
	fsys := machine("cpu0 1 x 3 4 5\n", "8 0 vda a b c d e f g h i j k\n", "  eth0: 1 2 3\n", "1", "x")
	c := &Collector{FS: fsys}
	c.Collect(time.Unix(0, 0))
	_, rep := c.Collect(time.Unix(1, 0))
	if rep.Skipped < 2 || len(rep.Problems) == 0 {
		t.Errorf("report %+v: want the bad /proc/stat and /proc/diskstats lines counted", rep)
	}
	// The v2 hierarchy beside v1 controllers is found too.
	moved := fstest.MapFS{}
	for k, v := range fsys {
		if rest, ok := strings.CutPrefix(k, "sys/fs/cgroup/"); ok {
			delete(fsys, k)
			moved["sys/fs/cgroup/unified/"+rest] = v
		}
	}
	maps.Copy(fsys, moved)
	if s, _ := c.Collect(time.Unix(2, 0)); !hasKey(s, "cgroup=/system.slice/x.service cgroup_cpu_pct") {
		t.Errorf("hybrid cgroups: %v", byKey(s))
	}
	// v1 controllers: cpuacct.usage in ns and memory.usage_in_bytes, for
	// the cgroups v2 does not hold.
	fsys["sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage"] = &fstest.MapFile{Data: []byte("1000000000\n")}
	fsys["sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes"] = &fstest.MapFile{Data: []byte("4096\n")}
	fsys["sys/fs/cgroup/cpuacct/system.slice/cpuacct.usage"] = &fstest.MapFile{Data: []byte("5\n")}
	c.Collect(time.Unix(10, 0))
	fsys["sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage"] = &fstest.MapFile{Data: []byte("1500000000\n")}
	v1s, _ := c.Collect(time.Unix(11, 0))
	v1 := byKey(v1s)
	if v1["cgroup=/docker/abc cgroup_cpu_pct"] != 50 || v1["cgroup=/docker/abc cgroup_mem_bytes"] != 4096 {
		t.Errorf("v1 cgroups: %v", v1)
	}
	if n := countKey(v1s, "cgroup=/system.slice cgroup_cpu_pct"); n != 1 {
		t.Errorf("/system.slice appears %d times: v1 must not repeat what v2 has", n)
	}
	delete(fsys, "proc/stat")
	if s, _ := c.Collect(time.Unix(3, 0)); len(s) == 0 {
		t.Error("no samples at all once /proc/stat is gone: the rest should still be read")
	}
}

// On this machine, the samples join the nodes of its own landscape: every
// CPU, the machine, the interfaces and the disks.
func TestJoinsThisMachinesLandscape(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc here:", err)
	}
	fsys := os.DirFS("/")
	g, _ := hostland.Scan(fsys)
	c := &Collector{FS: fsys}
	c.Collect(time.Now())
	time.Sleep(300 * time.Millisecond)
	samples, rep := c.Collect(time.Now())
	s := telemetry.NewStore(g, telemetry.DefaultConfig())
	s.Add(samples...)
	joined := map[string]map[string]bool{} // node type → metrics
	for _, n := range g.Nodes {
		for _, sv := range s.Series(n.ID) {
			if joined[n.Type] == nil {
				joined[n.Type] = map[string]bool{}
			}
			joined[n.Type][sv.Metric] = true
		}
	}
	threads := 0
	for _, n := range g.Nodes {
		if n.Type == "thread" {
			threads++
			if len(s.Series(n.ID)) == 0 {
				t.Errorf("CPU node %s (cpu=%s) has no series", n.ID, n.Attrs[landscape.KeyCPU])
			}
		}
	}
	if threads == 0 || !joined["machine"][MemUsed] || !joined["machine"][CPUBusy] {
		t.Errorf("joined %v (report %v)", joined, rep)
	}
	for _, sm := range samples {
		if sm.Metric == CPUBusy && (sm.V < 0 || sm.V > 100) {
			t.Errorf("%v = %v", sm.Key, sm.V)
		}
	}
	t.Logf("joined by node type: %v; unjoined series: %d", joined, len(s.Unjoined()))
}

func hasKey(s []telemetry.Sample, k string) bool {
	_, ok := byKey(s)[k]
	return ok
}

// A CPU of this machine's landscape that goes from idle to spinning turns
// critical within three 2 s reads, and what contains it or runs on the
// machine is marked impacted via it. The counters are fed through an
// fstest.MapFS (the shared test machine is too busy for a real spinner
// to stand out); the landscape is this machine's.
func TestBusyCPUTurnsCriticalWithinSeconds(t *testing.T) {
	if _, err := os.Stat("/sys/devices/system/cpu"); err != nil {
		t.Skip("no /sys here:", err)
	}
	g, _ := hostland.Scan(os.DirFS("/"))
	var cpu1 string
	for _, n := range g.Nodes {
		if n.Type == "thread" && n.Attrs[landscape.KeyCPU] == "1" {
			cpu1 = n.ID
		}
	}
	if cpu1 == "" {
		t.Skip("this machine has no cpu1")
	}
	cfg := telemetry.DefaultConfig()
	cfg.Floors = Floors()
	s := telemetry.NewStore(g, cfg)
	fsys := fstest.MapFS{"proc/sys/kernel/hostname": {Data: []byte("x")}}
	c := &Collector{FS: fsys}
	rngBusy := []float64{4, 7, 3, 6, 5, 2, 8, 5, 4, 6}
	var user, idle [2]float64
	t0 := time.Unix(1_800_000_000, 0)
	var at time.Time
	read := func(i int, busy1 float64) {
		// 200 ticks per 2 s per CPU: cpu0 stays light, cpu1 as given.
		for k, b := range []float64{rngBusy[i%10], busy1} {
			user[k] += 2 * b
			idle[k] += 200 - 2*b
		}
		fsys["proc/stat"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("cpu0 %.0f 0 0 %.0f 0 0 0 0 0 0\ncpu1 %.0f 0 0 %.0f 0 0 0 0 0 0\n", user[0], idle[0], user[1], idle[1]))}
		at = t0.Add(time.Duration(i) * 2 * time.Second)
		smp, _ := c.Collect(at)
		s.Add(smp...)
	}
	for i := range 60 {
		read(i, rngBusy[(i+3)%10])
	}
	if a := s.Assess(at.UnixMilli(), 0); a.State(cpu1).Level != telemetry.OK {
		t.Fatalf("idle cpu1: %+v", a.State(cpu1))
	}
	for i := 60; i < 63; i++ {
		read(i, 100)
	}
	a := s.Assess(at.UnixMilli(), 0)
	st := a.State(cpu1)
	if st.Level != telemetry.Critical || st.Metric != CPUBusy || st.Rank != 1 {
		t.Fatalf("6 s after cpu1 started spinning: %+v, want critical on %s, ranked first", st, CPUBusy)
	}
	host := g.Lookup(landscape.JoinKey{Kind: landscape.KeyHostname, Value: hostnameOf(g)})
	if len(host) == 1 {
		if h := a.State(host[0]); !slices.Contains(h.ImpactedBy, cpu1) {
			t.Errorf("the machine %s: %+v, want impacted by %s", host[0], h, cpu1)
		}
	}
	impacted := 0
	for _, n := range a.Nodes {
		if slices.Contains(n.ImpactedBy, cpu1) {
			impacted++
		}
	}
	t.Logf("%s critical (%.0f σ); %d nodes impacted via it", cpu1, st.Score, impacted)
}

func hostnameOf(g *landscape.Graph) string {
	for _, n := range g.Nodes {
		if n.Type == "machine" {
			return n.Attrs[landscape.KeyHostname]
		}
	}
	return ""
}

// FuzzCollect feeds arbitrary /proc/stat, /proc/diskstats and
// /proc/net/dev text: reads never panic and never give a CPU busy share
// outside 0–100 %.
func FuzzCollect(f *testing.F) {
	f.Add("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n", "   8       0 vda 10 0 2000 5 20 0 4000 9 0 1000 14 0 0 0 0\n", "  eth0: 1000 10 1 2 0 0 0 0 5000 20 3 4 0 0 0 0\n")
	f.Add("cpu0 1 x 3 4 5\n", "8 0 vda a b c d e f g h i j k\n", "  eth0: 1 2 3\n")
	f.Add("cpu0 -5 0 0 -7 0\n", "", ":\n")
	f.Fuzz(func(t *testing.T, stat, disk, net string) {
		fsys := machine(stat, disk, net, "1", "1")
		c := &Collector{FS: fsys}
		c.Collect(time.Unix(0, 0))
		fsys["proc/stat"] = &fstest.MapFile{Data: []byte(stat + "\n" + stat)}
		smp, _ := c.Collect(time.Unix(1, 0))
		for _, s := range smp {
			if s.Metric == CPUBusy && (s.V < 0 || s.V > 100 || math.IsNaN(s.V)) {
				t.Fatalf("%v = %v", s.Key, s.V)
			}
		}
	})
}

func countKey(samples []telemetry.Sample, k string) int {
	n := 0
	for _, s := range samples {
		if s.Key.Kind+"="+s.Key.Value+" "+s.Metric == k {
			n++
		}
	}
	return n
}
