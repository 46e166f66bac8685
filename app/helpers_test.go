package app

import "flowscape/tracer"

func funcCallsOf(s *Session, name string) int64 {
	var n int64
	for _, g := range s.Trace.Callgraph().Nodes {
		if g.Frame.Func == name {
			n += g.Calls
		}
	}
	return n
}

func nodeAt(file string, line int) tracer.Node {
	return tracer.Node{Frame: tracer.Frame{File: file, Func: "f", Line: line}, Line: int32(line)}
}
