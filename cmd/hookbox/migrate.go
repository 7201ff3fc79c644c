package main

import (
	"context"
	"flag"
	"fmt"
)

// runMigrate applies the store's embedded migrations and exits. serve does
// the same at start (on PostgreSQL under an advisory lock, so replicas may
// start together); this command lets a deploy run them as a separate step.
func runMigrate(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox migrate", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	if err := ef.parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", fset.Arg(0))
	}
	u, err := parseDB(*db)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, u, false)
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "migrations applied: %s\n", u)
	return nil
}
