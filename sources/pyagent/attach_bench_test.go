package pyagent

import (
	"bufio"
	"context"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flowscape/tracer"
)

// rateTarget calls work() in a loop on its main thread and a worker, and
// prints how many calls the main thread made per 100 ms of its own CPU time
// (time.thread_time: other processes on a busy machine do not count).
const rateTarget = `import threading, time
def work(n):
    s = 0
    for i in range(n):
        s += i
    return s
def worker():
    while True:
        work(50)
        time.sleep(0.0002)
threading.Thread(target=worker, daemon=True).start()
print("ready", flush=True)
while True:
    end = time.thread_time() + 0.1
    k = 0
    while time.thread_time() < end:
        work(50)
        k += 1
    print(k, flush=True)
`

// rates collects the target's per-100 ms call counts.
type rates struct {
	mu sync.Mutex
	v  []float64
}

func (r *rates) since(n int) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.v[min(n, len(r.v)):]...)
}

func (r *rates) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkAttach measures, on a busy two-thread target, with each
// injector: the time from
// Run to the first event (attach), from the cancel to Run's return
// (detach), and the target's speed (calls per CPU second of its main
// thread) after detach against before attach (1.00 = back to full speed).
func BenchmarkAttach(b *testing.B) {
	if _, err := exec.LookPath("gdb"); err != nil {
		b.Skip("gdb is not installed")
	}
	injectors := []string{"gdb"}
	if nativeInject {
		injectors = []string{"native", "gdb"}
	}
	for _, it := range benchInterpreters(b) {
		for _, inj := range injectors {
			b.Run(it.Version+"/"+inj, func(b *testing.B) {
				cmd := exec.Command(it.Path, "-c", rateTarget)
				out, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
				var r rates
				ready := make(chan struct{})
				go func() {
					sc := bufio.NewScanner(out)
					for sc.Scan() {
						if sc.Text() == "ready" {
							close(ready)
							continue
						}
						if v, err := strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64); err == nil {
							r.mu.Lock()
							r.v = append(r.v, v)
							r.mu.Unlock()
						}
					}
				}()
				<-ready
				var attachT, detachT time.Duration
				var speed float64
				for range b.N {
					for n0 := r.len(); r.len() < n0+10; { // ten fresh windows
						time.Sleep(20 * time.Millisecond)
					}
					before := median(r.since(r.len() - 10))
					a, err := NewAttacher(context.Background(), AttachConfig{PID: cmd.Process.Pid, Injector: inj})
					if err != nil {
						b.Fatal(err)
					}
					tr := tracer.NewTrace(1_000_000)
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan error, 1)
					start := time.Now()
					go func() { done <- a.Run(ctx, tr) }()
					for tr.Stats().Events == 0 {
						time.Sleep(time.Millisecond)
					}
					attachT += time.Since(start)
					time.Sleep(time.Second)
					start = time.Now()
					cancel()
					<-done
					detachT += time.Since(start)
					n := r.len()
					for r.len() < n+11 {
						time.Sleep(20 * time.Millisecond)
					}
					after := median(r.since(n + 1)[:10]) // skip the window the detach fell in
					speed += after / before
				}
				b.ReportMetric(float64(attachT.Milliseconds())/float64(b.N), "ms-attach")
				b.ReportMetric(float64(detachT.Milliseconds())/float64(b.N), "ms-detach")
				b.ReportMetric(speed/float64(b.N), "speed-after/before")
			})
		}
	}
}
