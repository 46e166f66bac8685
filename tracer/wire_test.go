package tracer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// wireWriter writes the agent's wire format, as the Python agent does.
type wireWriter struct{ bytes.Buffer }

func (w *wireWriter) record(typ byte, p []byte) {
	var h [5]byte
	h[0] = typ
	binary.LittleEndian.PutUint32(h[1:], uint32(len(p)))
	w.Write(h[:])
	w.Write(p)
}

func (w *wireWriter) json(typ byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.record(typ, b)
}

type wev struct {
	ts    int64
	frame uint32
	pos   int32
	tid   uint32
	kind  Kind
}

func (w *wireWriter) events(posmode byte, evs []wev) {
	n := len(evs)
	p := make([]byte, 5+21*n)
	binary.LittleEndian.PutUint32(p, uint32(n))
	p[4] = posmode
	for i, e := range evs {
		binary.LittleEndian.PutUint64(p[5+8*i:], uint64(e.ts))
		binary.LittleEndian.PutUint32(p[5+8*n+4*i:], e.frame)
		binary.LittleEndian.PutUint32(p[5+12*n+4*i:], uint32(e.pos))
		binary.LittleEndian.PutUint32(p[5+16*n+4*i:], e.tid)
		p[5+20*n+i] = byte(e.kind)
	}
	w.record('E', p)
}

// sampleStream is a small well-formed stream: two threads, one agent
// thread (to be skipped), a frame with a line table.
func sampleStream() []byte {
	var w wireWriter
	w.json('H', map[string]any{"pid": 42, "version": "3.13.0", "executable": "/usr/bin/python3", "mode": "sys.monitoring", "start_ns": 1000, "argv": []string{"a.py"}, "agent_tids": []int{99}})
	w.json('F', []any{
		[]any{1, "a.py", "main", 1, false, []int{0, 10, 1, 10, 20, 2}},
		[]any{2, "a.py", "f", 5, false, nil},
	})
	w.json('T', []any{[]any{7, "MainThread"}, []any{8, "worker"}, []any{99, "flowscape-flusher"}})
	w.events(1, []wev{
		{1100, 1, 0, 7, Call},
		{1200, 2, 0, 8, Call},
		{1300, 2, 3, 8, Return},
		{1400, 1, 12, 7, Return},
		{1500, 1, 0, 99, Call},
	})
	w.json('X', map[string]any{"reason": "exit"})
	return w.Bytes()
}

// recorder collects what a decoder emits.
type recorder struct {
	proc    ProcessInfo
	frames  []Frame
	threads []Thread
	events  map[uint32][]Event
}

var _ Recorder = (*recorder)(nil)

func (r *recorder) Process(p ProcessInfo) { r.proc = p }
func (r *recorder) Frames(fs []Frame)     { r.frames = append(r.frames, fs...) }
func (r *recorder) Thread(t Thread)       { r.threads = append(r.threads, t) }
func (r *recorder) Events(tid uint32, evs []Event) {
	if r.events == nil {
		r.events = map[uint32][]Event{}
	}
	r.events[tid] = append(r.events[tid], evs...)
}

func TestDecoderSample(t *testing.T) {
	var got recorder
	d := NewDecoder(bytes.NewReader(sampleStream()), &got)
	if err := d.Run(); err != nil {
		t.Fatal(err)
	}
	if got.proc.PID != 42 || got.proc.StartNS != 1000 || got.proc.Mode != "sys.monitoring" {
		t.Errorf("process = %+v", got.proc)
	}
	if len(got.frames) != 2 || got.frames[0].Func != "main" || got.frames[1].Line != 5 {
		t.Errorf("frames = %+v", got.frames)
	}
	if len(got.threads) != 2 {
		t.Errorf("threads = %+v, want the agent's own thread left out", got.threads)
	}
	if _, ok := got.events[99]; ok {
		t.Errorf("events of the agent's own thread were kept")
	}
	main := got.events[7]
	want := []Event{{TS: 1100, Frame: 1, Line: 1, Kind: Call}, {TS: 1400, Frame: 1, Line: 2, Kind: Return}}
	if len(main) != 2 || main[0] != want[0] || main[1] != want[1] {
		t.Errorf("main thread events = %+v, want %+v (offsets mapped to lines)", main, want)
	}
	if w := got.events[8]; len(w) != 2 || w[1].Line != 0 {
		t.Errorf("worker events = %+v (no line table: line 0)", w)
	}
	if d.End == nil || d.End.Reason != "exit" {
		t.Errorf("end = %+v", d.End)
	}
}

func TestDecoderBadInput(t *testing.T) {
	good := sampleStream()
	tests := []struct {
		name   string
		stream []byte
		want   string // substring of the error
	}{
		{"truncated header", good[:len(good)-3], "truncated"},
		{"no end record", good[:bytes.LastIndexByte(good, 'X')], "without the agent's end record"},
		{"unknown record", append(append([]byte{}, good[:0]...), 'Q', 0, 0, 0, 0), "unknown record type"},
		{"huge length", []byte{'E', 0xff, 0xff, 0xff, 0xff}, "over the"},
		{"bad json", []byte{'H', 1, 0, 0, 0, '{'}, "record 'H' at byte 0"},
		{"short batch", []byte{'E', 3, 0, 0, 0, 1, 2, 3}, "shorter than its header"},
		{"wrong batch size", []byte{'E', 6, 0, 0, 0, 2, 0, 0, 0, 0, 0}, "should be 47 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got recorder
			err := NewDecoder(bytes.NewReader(tt.stream), &got).Run()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// What came before a fault is kept.
	var got recorder
	cut := good[:bytes.LastIndexByte(good, 'X')]
	err := NewDecoder(bytes.NewReader(cut), &got).Run()
	if !errors.Is(err, ErrNoEnd) || len(got.events[7]) != 2 {
		t.Fatalf("err = %v, events kept = %d, want ErrNoEnd and 2", err, len(got.events[7]))
	}
}

func TestDecoderUnknownKind(t *testing.T) {
	var w wireWriter
	w.events(0, []wev{{1, 1, 1, 1, Kind(9)}})
	err := NewDecoder(bytes.NewReader(w.Bytes()), &recorder{}).Run()
	var we *WireError
	if !errors.As(err, &we) || !strings.Contains(err.Error(), "unknown kind 9") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add(sampleStream())
	f.Add([]byte{'E', 6, 0, 0, 0, 2, 0, 0, 0, 0, 0})
	f.Add([]byte{'F', 2, 0, 0, 0, '[', ']'})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTrace(1000)
		_ = NewDecoder(bytes.NewReader(b), tr).Run()
		_ = tr.Stats()
		_ = tr.Callgraph()
	})
}

// fibStream builds a stream of about n events of fib-like nesting in
// batches of 4096, as the agent sends them.
func fibStream(n int) []byte {
	var w wireWriter
	w.json('H', map[string]any{"pid": 1, "start_ns": 0, "mode": "setprofile"})
	w.json('F', []any{[]any{1, "fib.py", "fib", 1, false, nil}, []any{2, "fib.py", "main", 10, false, nil}})
	var batch []wev
	ts := int64(0)
	emit := func(f uint32, k Kind) {
		ts += 50
		batch = append(batch, wev{ts, f, 2, 1, k})
		if len(batch) == 4096 {
			w.events(0, batch)
			batch = batch[:0]
		}
	}
	var fib func(d int)
	count := 0
	fib = func(d int) {
		emit(1, Call)
		count += 2
		if d > 0 && count < n {
			fib(d - 1)
			fib(d - 2)
		}
		emit(1, Return)
	}
	for count < n {
		emit(2, Call)
		fib(18)
		emit(2, Return)
		count += 2
	}
	if len(batch) > 0 {
		w.events(0, batch)
	}
	w.json('X', map[string]any{"reason": "exit"})
	return w.Bytes()
}

// BenchmarkDecodeApply decodes the agent's stream into a Trace (store, flow
// tree index and callgraph) and reports events/s and the memory retained
// per event. Targets: ≥ 5 M events/s on one core, ≤ 32 B/event.
func BenchmarkDecodeApply(b *testing.B) {
	stream := fibStream(2_000_000)
	var events int64
	var perEvent float64
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr := NewTrace(0)
		d := NewDecoder(bytes.NewReader(stream), tr)
		if err := d.Run(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		events = d.Events
		perEvent = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(events)
		runtime.KeepAlive(tr)
		b.StartTimer()
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(perEvent, "B/event")
}
