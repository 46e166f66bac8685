package app

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"flowscape/sources/registry"
)

func cmdSources(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("sources", "flowscape sources", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tAVAILABLE\tDETAIL")
	for _, in := range registry.Default().Describe(context.Background()) {
		avail, detail := "yes", in.Detail
		if !in.Available {
			avail, detail = "no", in.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Name, in.Kind, avail, detail)
		fmt.Fprintf(tw, "\t\t\t%s\n", in.Summary)
	}
	if err := tw.Flush(); err != nil {
		return errorf(stderr, "%v", err)
	}
	return 0
}
