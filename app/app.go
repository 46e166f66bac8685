// Package app is the Flowscape application: the Fyne window with its tabs,
// toolbar and status bar, the wiring from sources to models to widgets, and
// the headless subcommands.
package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	_ "flowscape/internal/locale" // before fyne reads the locale
)

const usage = `Flowscape shows what programs are doing, live.

Usage:
  flowscape [--tab TAB] [--no-demo] [--python PATH] [--open FILE [--follow]] [--landscape FILE [--telemetry CSV]] [SCRIPT [ARGS...]]
        open the window; by default it traces the bundled demo program and
        maps this machine's landscape coloured by its anomalies (--landscape
        shows a file instead, coloured by --telemetry; demo: a generated cloud)
  flowscape trace [-o FILE] [--c-calls] [--limit N] [--hook auto|c|python] -- PYTHON SCRIPT [ARGS...]
        run SCRIPT under PYTHON, tracing every call; write a Chrome Trace
        Event JSON file (Perfetto and chrome://tracing open it)
  flowscape trace --pid PID [--duration D] [--backend agent|usdt|dtrace] [-o FILE]
        attach to a running Python process and trace it until Ctrl-C or D;
        it runs on after the detach (usdt: count calls from its probes)
  flowscape flow FILE
        print the code flow of a trace file, one line per call and return
  flowscape convert [--from FMT] [--to FMT] [--limit N] IN OUT
        convert between Chrome Trace Event JSON (Perfetto, VizTracer),
        speedscope, callgrind (KCachegrind) and collapsed stacks
        (flamegraph.pl); formats are guessed from content and file names.
        flow and callgraph read every one of these formats too
  flowscape callgraph [--format json|dot|svg|png] [-o OUT] [--top N]
                      [--focus FUNC [--depth K]] [--by inclusive|exclusive] FILE
        the callgraph of a trace file: calls, inclusive, exclusive and
        first-reach time per function, calls and time per edge; as JSON,
        or drawn by Graphviz (top 80 functions unless --top says otherwise)
  flowscape landscape [--source local|file:PATH|openstack] [--os-cloud NAME] [--format json|landscaper|dot] [--at TIME] [-o OUT] [FILE]
        write a landscape (this machine by default, a landscaper JSON,
        hwloc XML or Flowscape JSON file, or an OpenStack cloud) as
        Flowscape JSON, landscaper node-link JSON or Graphviz DOT
  flowscape anomalies --landscape FILE|local --telemetry FILE.csv [--format text|json] [--at TIME] [--season D]
        anomalies per node of a landscape from timestamp,node,metric,value
        telemetry: state, score, metric, first alarm, what it is impacted by,
        and the likely root causes ranked
  flowscape anomalies --evaluate [--nodes N] [--hours H] [--seeds 1,2,3]
        detection rate, false alarms, delay and root-cause accuracy on
        generated landscapes with injected faults
  flowscape sources
        list the data sources and whether they can run on this machine
  flowscape syscalls [--interval 1s] [--count N] [--pid PID | --comm PATTERN | -- COMMAND [ARGS...]]
                     [--by process|syscall] [--format text|json] [--source bpftrace|dtrace|proc]
        syscall counts and rates per process or per syscall, every interval; with
        a COMMAND, count its whole process tree until it exits and print totals
  flowscape help [COMMAND]

Run 'flowscape COMMAND --help' for a command's options.
`

// Main runs Flowscape with the command-line arguments (without the program
// name) and returns the exit status.
func Main(args []string) int {
	return run(args, os.Stdin, os.Stdout, os.Stderr)
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "trace":
			return cmdTrace(args[1:], stdin, stdout, stderr)
		case "flow":
			return cmdFlow(args[1:], stdout, stderr)
		case "convert":
			return cmdConvert(args[1:], stdout, stderr)
		case "callgraph":
			return cmdCallgraph(args[1:], stdout, stderr)
		case "landscape":
			return cmdLandscape(args[1:], stdout, stderr)
		case "anomalies":
			return cmdAnomalies(args[1:], stdout, stderr)
		case "sources":
			return cmdSources(args[1:], stdout, stderr)
		case "syscalls":
			return cmdSyscalls(args[1:], stdin, stdout, stderr)
		case "help", "-h", "-help", "--help":
			if len(args) > 1 {
				return run([]string{args[1], "--help"}, stdin, stdout, stderr)
			}
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	return cmdGUI(args, stderr)
}

// newFlags returns a flag set that prints the command's usage line first.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nOptions:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns an exit status and false when the
// command should not go on (help asked for: 0; bad flags: 2).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

func errorf(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "flowscape: "+format+"\n", a...)
	return 1
}

func oneFile(fs *flag.FlagSet, stderr io.Writer) (string, int, bool) {
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "flowscape %s: want one trace file, got %d arguments (%s)\n", fs.Name(), fs.NArg(), strings.Join(fs.Args(), " "))
		fs.Usage()
		return "", 2, false
	}
	return fs.Arg(0), 0, true
}
