package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"text/tabwriter"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func runVersion(ctx context.Context, env *environ, args []string) error {
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprintf(env.Stdout, "hookbox %s\n", buildVersion())
	if !ok {
		return nil
	}
	fmt.Fprintf(env.Stdout, "go      %s\n", bi.GoVersion)
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
			fmt.Fprintf(env.Stdout, "%-7s %s\n", s.Key[4:], s.Value)
		}
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\ndependencies:")
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v += " => " + d.Replace.Path + " " + d.Replace.Version
		}
		fmt.Fprintf(tw, "  %s\t%s\n", d.Path, v)
	}
	return tw.Flush()
}
