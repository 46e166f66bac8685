package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"flowscape/landscape"
	"flowscape/sources/hostland"
	"flowscape/sources/openstack"
)

const landscapeSynopsis = "flowscape landscape [--source local|file:PATH|openstack] [--os-cloud NAME] [--format json|landscaper|dot] [--at TIME] [-o OUT] [FILE]"

func cmdLandscape(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("landscape", landscapeSynopsis, stderr)
	source := fs.String("source", "", "read the landscape from `SOURCE`: local (this machine, the default) file:PATH (landscaper JSON, hwloc XML or Flowscape JSON) or openstack (the cloud clouds.yaml or the OS_* variables name; openstack:NAME for a clouds.yaml entry); several, separated by commas, are merged")
	osCloud := fs.String("os-cloud", "", "with --source openstack: the clouds.yaml entry `NAME` (default: OS_CLOUD, else the OS_* variables)")
	format := fs.String("format", "json", "output `FORMAT`: json (Flowscape), landscaper (node-link JSON) or dot (Graphviz)")
	out := fs.String("o", "", "write to `OUT` instead of standard output")
	at := fs.String("at", "", "write the graph as it was at `TIME` (Unix seconds or RFC 3339) instead of the whole history")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch fs.NArg() {
	case 0:
	case 1:
		if *source != "" {
			fmt.Fprintf(stderr, "flowscape landscape: give either --source or FILE, not both\n")
			return 2
		}
		*source = "file:" + fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "flowscape landscape: want at most one FILE, got %d arguments (%s)\n", fs.NArg(), strings.Join(fs.Args(), " "))
		fs.Usage()
		return 2
	}
	if *osCloud != "" {
		parts := strings.Split(*source, ",")
		found := false
		for i, p := range parts {
			if strings.TrimSpace(p) == openstack.Name {
				parts[i], found = openstack.Name+":"+*osCloud, true
			}
		}
		if !found {
			fmt.Fprintf(stderr, "flowscape landscape: --os-cloud needs --source openstack\n")
			return 2
		}
		*source = strings.Join(parts, ",")
	}
	switch *format {
	case landscape.FormatFlowscape, landscape.FormatLandscaper, landscape.FormatDOT:
	default:
		fmt.Fprintf(stderr, "flowscape landscape: unknown format %q (want json, landscaper or dot)\n", *format)
		return 2
	}
	l, code := loadLandscape(*source, stderr)
	if l == nil {
		return code
	}
	if *at != "" {
		t, err := parseLandscapeTime(*at)
		if err != nil {
			fmt.Fprintf(stderr, "flowscape landscape: --at %q: %v\n", *at, err)
			return 2
		}
		l = landscape.FromGraph(l.At(t), t)
	}
	if err := writeTo(*out, stdout, func(w io.Writer) error { return landscape.Write(w, *format, l) }); err != nil {
		return errorf(stderr, "%v", err)
	}
	if *out == "" || *out == "-" {
		return 0
	}
	n, e := l.Counts()
	fmt.Fprintf(stderr, "flowscape: wrote %d node and %d edge versions to %s\n", n, e, *out)
	return 0
}

// loadLandscape reads the landscape --source names; several, separated by
// commas, are merged as they are at their latest time. On failure it
// prints why and returns nil with the exit status.
func loadLandscape(source string, stderr io.Writer) (*landscape.Landscape, int) {
	parts := strings.Split(source, ",")
	if len(parts) == 1 {
		return loadOne(source, stderr)
	}
	merged := landscape.NewGraph(nil, nil)
	for _, p := range parts {
		l, code := loadOne(strings.TrimSpace(p), stderr)
		if l == nil {
			return nil, code
		}
		merged = merged.Merge(l.Latest())
	}
	if err := merged.Validate(); err != nil {
		return nil, errorf(stderr, "merging %s: %v", source, err)
	}
	return landscape.FromGraph(merged, landscape.Time(time.Now().Unix())), 0
}

func loadOne(source string, stderr io.Writer) (*landscape.Landscape, int) {
	switch {
	case source == "" || source == hostland.Name:
		g, rep := hostland.Scan(os.DirFS("/"))
		if rep.Skipped > 0 {
			fmt.Fprintf(stderr, "flowscape: %s\n", rep)
		}
		return landscape.FromGraph(g, landscape.Time(time.Now().Unix())), 0
	case strings.HasPrefix(source, "file:"):
		path := strings.TrimPrefix(source, "file:")
		l, err := landscape.Load(path)
		if err != nil {
			return nil, errorf(stderr, "%v", err)
		}
		return l, 0
	case source == openstack.Name || strings.HasPrefix(source, openstack.Name+":"):
		return loadOpenStack(strings.TrimPrefix(strings.TrimPrefix(source, openstack.Name), ":"), stderr)
	}
	fmt.Fprintf(stderr, "flowscape landscape: unknown source %q (want local, file:PATH or openstack)\n", source)
	return nil, 2
}

// parseLandscapeTime reads Unix seconds or an RFC 3339 time.
func parseLandscapeTime(s string) (landscape.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return landscape.Time(n), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("want Unix seconds or an RFC 3339 time like 2017-08-15T16:00:00Z")
	}
	return landscape.Time(t.Unix()), nil
}

// loadOpenStack collects the cloud once (cloud "" means OS_CLOUD or the
// OS_* variables).
func loadOpenStack(cloud string, stderr io.Writer) (*landscape.Landscape, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g, rep, err := openstack.Load(ctx, openstack.Config{Cloud: cloud})
	if err != nil {
		return nil, errorf(stderr, "openstack: %v", err)
	}
	fmt.Fprintf(stderr, "flowscape: openstack: %d nodes, %d edges; %s\n", len(g.Nodes), len(g.Edges), rep)
	return landscape.FromGraph(g, landscape.Time(time.Now().Unix())), 0
}
