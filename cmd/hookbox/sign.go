package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// runSign prints a Stripe-Signature header for a body read from a file or
// stdin, signed with STRIPE_WEBHOOK_SECRET (or _FILE): handy with curl.
func runSign(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("hookbox sign", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	ts := fs.Int64("timestamp", 0, "unix timestamp to sign at (default: now)")
	full := fs.Bool("header", false, "print \"Stripe-Signature: ...\" instead of the bare value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return errors.New("sign: at most one FILE (default: stdin)")
	}
	secrets, err := readSecrets(env.Getenv, "STRIPE_WEBHOOK_SECRET")
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return errors.New("sign: set STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_FILE")
	}
	var body []byte
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		body, err = os.ReadFile(fs.Arg(0))
	} else {
		body, err = io.ReadAll(io.LimitReader(env.Stdin, 64<<20))
	}
	if err != nil {
		return fmt.Errorf("sign: read body: %w", err)
	}
	t := time.Now()
	if *ts != 0 {
		t = time.Unix(*ts, 0)
	}
	h := stripesig.Sign(body, t, secrets...)
	if *full {
		h = stripesig.HeaderName + ": " + h
	}
	_, err = fmt.Fprintln(env.Stdout, strings.TrimSpace(h))
	return err
}
