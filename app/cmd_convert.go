package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"flowscape/sources/replay"
	"flowscape/tracer"
)

const convertSynopsis = "flowscape convert [--from FMT] [--to FMT] [--limit N] IN OUT"

func formatNames() string {
	names := make([]string, len(tracer.FileFormats))
	for i, f := range tracer.FileFormats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// cmdConvert reads a trace or profile file in one format and writes it in
// another.
func cmdConvert(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("convert", convertSynopsis, stderr)
	from := fs.String("from", "", "the format of IN: "+formatNames()+" (default: guessed from its content and name)")
	to := fs.String("to", "", "the format of OUT (default: guessed from its name: *.json chrome, *.speedscope.json speedscope, callgrind.out.* callgrind, *.folded collapsed)")
	limit := fs.Int("limit", 0, "keep at most `N` events (0: 20 million); beyond it calls are still counted (callgrind output stays exact) but not written")
	// flags may come before, between or after IN and OUT
	var pos []string
	for {
		if code, ok := parseFlags(fs, args); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "flowscape convert: want IN and OUT, got %d arguments (%s)\n", len(pos), strings.Join(pos, " "))
		fs.Usage()
		return 2
	}
	in, out := pos[0], pos[1]
	var inFormat, outFormat tracer.FileFormat
	var err error
	if *from != "" {
		if inFormat, err = tracer.ParseFileFormat(*from); err != nil {
			return errorf(stderr, "--from: %v", err)
		}
	}
	if *to != "" {
		if outFormat, err = tracer.ParseFileFormat(*to); err != nil {
			return errorf(stderr, "--to: %v", err)
		}
	} else if outFormat = tracer.FormatFromName(out); outFormat == "" {
		return errorf(stderr, "cannot tell the format of %s from its name: give it with --to (%s)", out, formatNames())
	}

	t := tracer.NewTrace(*limit)
	rep, err := replay.Open(context.Background(), in, replay.Options{Format: inFormat}, t)
	for _, n := range rep.Notes {
		fmt.Fprintf(stderr, "flowscape: %s: %s\n", in, n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowscape: %v\n", err)
		if t.Stats().Events == 0 {
			return 1
		}
		fmt.Fprintf(stderr, "flowscape: converting the %d events read before the fault\n", t.Stats().Events)
	}
	if st := t.Stats(); st.Dropped > 0 {
		fmt.Fprintf(stderr, "flowscape: the event limit (%d) was hit: %d events not kept; %s has the calls kept (raise --limit for all)\n", st.Limit, st.Dropped, out)
	}
	if werr := writeFormat(out, outFormat, t, stdout); werr != nil {
		return errorf(stderr, "%v", werr) // it names the file
	}
	st := t.Stats()
	if out != "-" {
		fmt.Fprintf(stderr, "flowscape: %s (%s) → %s (%s): %d events from %d threads, %d functions\n", in, rep.Format, out, outFormat, st.Events, st.Threads, st.Frames)
	}
	if err != nil {
		return 1
	}
	return 0
}

// writeFormat writes t to path ("-": stdout) in format f.
func writeFormat(path string, f tracer.FileFormat, t *tracer.Trace, stdout io.Writer) error {
	return writeTo(path, stdout, func(w io.Writer) error { return tracer.Export(w, f, t) })
}
