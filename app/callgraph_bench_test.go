package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flowscape/internal/gvlayout"
	"flowscape/sources/pyagent"
	"flowscape/tracer"
)

var (
	tourOnce  sync.Once
	tourTrace *tracer.Trace
	tourErr   string
)

// tour traces testdata/stdlib_tour.py (about a thousand functions) with the
// first interpreter found, once per test binary.
func tour(b *testing.B) *tracer.Trace {
	b.Helper()
	tourOnce.Do(func() {
		var python string
		for _, c := range pyagent.Discover(context.Background()) {
			if c.Supported() {
				python = c.Path
				break
			}
		}
		if python == "" {
			return
		}
		prog, _ := filepath.Abs("testdata/stdlib_tour.py")
		out := filepath.Join(os.TempDir(), fmt.Sprintf("flowscape-tour-%d.json", os.Getpid()))
		defer os.Remove(out)
		var stderr bytes.Buffer
		if code := run([]string{"trace", "-o", out, "--", python, prog}, nil, &bytes.Buffer{}, &stderr); code != 0 {
			tourErr = stderr.String()
			return
		}
		tr, ok := loadTraceFile(out, &stderr)
		if !ok {
			tourErr = stderr.String()
			return
		}
		tourTrace = tr
	})
	if tourErr != "" {
		b.Fatalf("tracing the stdlib tour: %s", tourErr)
	}
	if tourTrace == nil {
		b.Skip("no Python 3.8 or newer to trace the stdlib tour with")
	}
	return tourTrace
}

// BenchmarkCallgraphLayout lays out the trimmed callgraph of a real trace
// (80 and 300 functions) with go-graphviz (WebAssembly) and with Debian's
// native dot on the same DOT, alternating, and reports both times and their
// ratio.
func BenchmarkCallgraphLayout(b *testing.B) {
	tr := tour(b)
	native, err := exec.LookPath("dot")
	if err != nil {
		b.Skip("Graphviz's dot is not installed (apt-get install graphviz) to compare with")
	}
	for _, n := range []int{80, 300} {
		b.Run(fmt.Sprintf("%d-nodes", n), func(b *testing.B) {
			g, rep := tr.Callgraph().Trim(tracer.TrimOptions{MaxNodes: n})
			var dot strings.Builder
			if err := g.WriteDOT(&dot, tracer.DotOptions{Total: rep.Total}); err != nil {
				b.Fatal(err)
			}
			src := []byte(dot.String())
			ctx := context.Background()
			if _, err := gvlayout.Run(ctx, src, "dot"); err != nil { // warm the WebAssembly instance
				b.Fatal(err)
			}
			var wasm, nat time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := gvlayout.Run(ctx, src, "dot"); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				cmd := exec.Command(native, "-Tjson")
				cmd.Stdin = bytes.NewReader(src)
				if out, err := cmd.Output(); err != nil || len(out) == 0 {
					b.Fatalf("dot -Tjson: %v", err)
				}
				wasm += t1.Sub(t0)
				nat += time.Since(t1)
			}
			b.ReportMetric(float64(wasm.Milliseconds())/float64(b.N), "ms-gographviz/op")
			b.ReportMetric(float64(nat.Milliseconds())/float64(b.N), "ms-native-dot/op")
			b.ReportMetric(float64(wasm)/float64(nat), "gographviz/native")
			b.ReportMetric(float64(len(g.Nodes)), "nodes")
		})
	}
}
