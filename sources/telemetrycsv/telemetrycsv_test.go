package telemetrycsv

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
)

var rowTests = []struct {
	line    string
	want    telemetry.Sample
	ok      bool
	wantErr string
}{
	{"timestamp,node,metric,value", telemetry.Sample{}, false, ""},
	{"", telemetry.Sample{}, false, ""},
	{"# comment", telemetry.Sample{}, false, ""},
	{"1700000000,rack0-host1,cpu_busy_pct,42.5", telemetry.Sample{Key: landscape.JoinKey{Kind: telemetry.KeyID, Value: "rack0-host1"}, Metric: "cpu_busy_pct", T: 1700000000000, V: 42.5}, true, ""},
	{"1700000000.25,cpu=3,cpu_busy_pct,1", telemetry.Sample{Key: landscape.JoinKey{Kind: landscape.KeyCPU, Value: "3"}, Metric: "cpu_busy_pct", T: 1700000000250, V: 1}, true, ""},
	{"1700000000123, device=eth0 ,rx_bytes_per_s,1e6", telemetry.Sample{Key: landscape.JoinKey{Kind: landscape.KeyDevice, Value: "eth0"}, Metric: "rx_bytes_per_s", T: 1700000000123, V: 1e6}, true, ""},
	{`2023-11-14T22:13:20Z,"hostname=h1",mem_used_pct,50`, telemetry.Sample{Key: landscape.JoinKey{Kind: landscape.KeyHostname, Value: "h1"}, Metric: "mem_used_pct", T: 1700000000000, V: 50}, true, ""},
	{"1700000000,weird=x,m,1", telemetry.Sample{Key: landscape.JoinKey{Kind: telemetry.KeyID, Value: "weird=x"}, Metric: "m", T: 1700000000000, V: 1}, true, ""},
	{"1700000000,n,m", telemetry.Sample{}, false, "3 fields"},
	{"yesterday,n,m,1", telemetry.Sample{}, false, "neither RFC 3339 nor Unix time"},
	{"1700000000,n,m,lots", telemetry.Sample{}, false, `value "lots" is not a number`},
	{"1700000000,,m,1", telemetry.Sample{}, false, "empty node"},
	{"1700000000,n,,1", telemetry.Sample{}, false, "empty metric"},
	{"-5,n,m,1", telemetry.Sample{}, false, "out of range"},
}

func TestParseRow(t *testing.T) {
	for _, tt := range rowTests {
		got, ok, err := ParseRow(tt.line)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRow(%q) error = %v, want %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("ParseRow(%q) = %+v, %v, %v; want %+v, %v", tt.line, got, ok, err, tt.want, tt.ok)
		}
	}
	// NaN is a number here; the store skips and counts it.
	if s, ok, err := ParseRow("1,n,m,NaN"); !ok || err != nil || !math.IsNaN(s.V) {
		t.Errorf("NaN row: %+v %v %v", s, ok, err)
	}
}

func FuzzParseRow(f *testing.F) {
	for _, tt := range rowTests {
		f.Add(tt.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, ok, err := ParseRow(line)
		if err != nil && ok {
			t.Fatalf("ok with an error: %v", err)
		}
		if ok && (s.Metric == "" || s.Key.Value == "" && s.Key.Kind == telemetry.KeyID) {
			t.Fatalf("sample without metric or node: %+v", s)
		}
	})
}

func TestReadCountsBadRowsWithLineNumbers(t *testing.T) {
	in := "timestamp,node,metric,value\r\n1,a,m,1\r\nbad row\n2,a,m,x\n\n3,a,m,3" // no final newline
	got, rep, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].V != 3 || rep.Rows != 2 || rep.Bad != 2 {
		t.Fatalf("Read = %+v, %+v", got, rep)
	}
	if rep.Some[0].Line != 3 || rep.Some[1].Line != 4 || !strings.Contains(rep.String(), "line 3: 1 fields") {
		t.Errorf("bad rows %+v; report %q", rep.Some, rep.String())
	}
}

func TestWatcherFollowsAppendsAndReplacement(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(path, []byte("1,a,m,1\n2,a,m,2\n3,a,m"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []telemetry.Sample
	var last Report
	reports := make(chan struct{}, 100)
	w := &Watcher{Path: path,
		OnRows:   func(s []telemetry.Sample) { mu.Lock(); got = append(got, s...); mu.Unlock() },
		OnReport: func(r Report) { mu.Lock(); last = r; mu.Unlock(); reports <- struct{}{} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wait := func(cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-reports:
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out; have %+v, report %+v", got, last)
			}
		}
	}
	wait(func() bool { return len(got) == 2 })
	// The unfinished third row is completed by the append.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(",3\nbroken\n4,a,m,4\n")
	f.Close()
	wait(func() bool { return len(got) == 4 && last.Bad == 1 })
	if got[2].V != 3 || got[3].T != 4000 || last.Some[0].Line != 4 {
		t.Errorf("after append: %+v, %+v", got, last)
	}
	// An atomic replace is read from the start.
	tmp := filepath.Join(dir, "t.csv.tmp")
	os.WriteFile(tmp, []byte("10,b,m,10\n"), 0o644)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	wait(func() bool { return len(got) == 5 })
	if got[4].Key.Value != "b" || last.Bad != 0 || last.Rows != 1 {
		t.Errorf("after replace: %+v, %+v", got[4], last)
	}
}
