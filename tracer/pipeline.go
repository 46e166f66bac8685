package tracer

import "slices"

// pipeDepth is how many batches a pipeRecorder holds before the reader
// waits for the recorder.
const pipeDepth = 8

// pipeRecorder gives what a file reader produces to a Recorder on another
// goroutine, so that reading the file and applying its events overlap.
// Calls reach the recorder in order; close waits until all have.
type pipeRecorder struct {
	rec  Recorder
	end  EndOrderRecorder // rec, when it takes calls in end order
	ch   chan func()
	free chan []Event
	done chan struct{}
}

var _ SourceRecorder = (*pipeRecorder)(nil)

func newPipeRecorder(rec Recorder) *pipeRecorder {
	p := &pipeRecorder{
		rec:  rec,
		ch:   make(chan func(), pipeDepth),
		free: make(chan []Event, pipeDepth+2),
		done: make(chan struct{}),
	}
	p.end, _ = rec.(EndOrderRecorder)
	go func() {
		defer close(p.done)
		for fn := range p.ch {
			fn()
		}
	}()
	return p
}

// close waits until every call reached the recorder.
func (p *pipeRecorder) close() {
	close(p.ch)
	<-p.done
}

func (p *pipeRecorder) Process(pi ProcessInfo) {
	pi.Command = slices.Clone(pi.Command)
	p.ch <- func() { p.rec.Process(pi) }
}

func (p *pipeRecorder) Frames(fs []Frame) {
	fs = slices.Clone(fs)
	p.ch <- func() { p.rec.Frames(fs) }
}

func (p *pipeRecorder) Thread(t Thread) {
	p.ch <- func() { p.rec.Thread(t) }
}

func (p *pipeRecorder) Events(tid uint32, evs []Event) {
	var buf []Event
	select {
	case buf = <-p.free:
	default:
	}
	buf = append(buf[:0], evs...)
	p.ch <- func() {
		p.rec.Events(tid, buf)
		select {
		case p.free <- buf:
		default:
		}
	}
}

func (p *pipeRecorder) EmbeddedSource(path, text string) {
	if sr, ok := p.rec.(SourceRecorder); ok {
		p.ch <- func() { sr.EmbeddedSource(path, text) }
	}
}

// Marks passes instants and counter samples on, when the recorder keeps
// them.
func (p *pipeRecorder) Marks(instants []Instant, counters []CounterSample) {
	if mr, ok := p.rec.(MarkRecorder); ok {
		instants, counters = slices.Clone(instants), slices.Clone(counters)
		p.ch <- func() { mr.Marks(instants, counters) }
	}
}

// Returned passes calls given in end order on, when the recorder takes
// them (see endOrder).
func (p *pipeRecorder) Returned(tid uint32, calls []CallSpan) {
	if p.end != nil {
		calls = slices.Clone(calls)
		p.ch <- func() { p.end.Returned(tid, calls) }
	}
}

// Settle passes Settle on, when the recorder takes calls in end order.
func (p *pipeRecorder) Settle(tid uint32) {
	if p.end != nil {
		p.ch <- func() { p.end.Settle(tid) }
	}
}

// endOrder reports whether the recorder takes calls in end order.
func (p *pipeRecorder) endOrder() bool { return p.end != nil }
