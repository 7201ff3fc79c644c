// Command hookbox receives Stripe webhooks: it verifies, deduplicates and
// durably stores every event, then processes it. Run "hookbox help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hookbox/hookbox/internal/gctune"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environ{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if len(os.Args) > 1 && os.Args[1] == "serve" && os.Getenv("GOGC") == "" {
		// The collector starts at 64 MB while the live heap is small
		// (internal/gctune); GOGC, when set, is the operator's choice.
		gctune.Start(gctune.DefaultMinHeap)
	}
	err := run(ctx, env, os.Args[1:])
	code := exitCode(err)
	if code == 1 {
		fmt.Fprintln(os.Stderr, "hookbox:", err)
	}
	stop()
	os.Exit(code)
}

// errUsage is run's error for a command line without a command: the usage
// went to stderr, and the exit code is 2.
var errUsage = errors.New("no command given")

// exitCode maps run's error to the process's exit code: 0 for success and
// for a help request ("hookbox COMMAND -h" or --help: flag.ErrHelp, the
// help was printed), 2 for a missing command, 1 for any other error.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		return 1
	}
}

// environ is what a command sees of the process: its streams and environment.
// Tests provide their own.
type environ struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

const usage = `hookbox receives Stripe webhooks: verified, deduplicated, durable.

Usage:
  hookbox serve [flags]          run the webhook receiver
  hookbox send [flags] URL       post realistic signed events (also the load tool)
  hookbox sign [flags] [FILE]    print a Stripe-Signature header for a body
  hookbox events list [flags]    list stored events
  hookbox events show ID         show one stored event, its deliveries and attempts
  hookbox events replay ID...    deliver events again (or --state dead [--type T] [--since 24h])
  hookbox events export [flags]  write events as JSON Lines, exact bodies included
  hookbox destinations ...       list, pause and resume destinations (kept in the store)
  hookbox backup FILE            copy the SQLite store consistently while serve runs
  hookbox reconcile [flags]      recover events Stripe never delivered, from its events API
  hookbox stripe endpoints ...   list, create, update, delete and check Stripe's webhook endpoints
  hookbox config check FILE      validate a --config file and print what serve would run
  hookbox migrate [--db URL]     apply the store's migrations
  hookbox healthcheck [--url U]  exit 0 when serve's /readyz answers 200 (container HEALTHCHECK)
  hookbox version                print version and dependency versions

Run "hookbox COMMAND -h" (or --help) for a command's flags.
`

// run dispatches to a subcommand. It blocks until the command is done;
// "serve" returns when ctx is cancelled.
func run(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, env, rest)
	case "send":
		return runSend(ctx, env, rest)
	case "sign":
		return runSign(ctx, env, rest)
	case "events":
		return runEvents(ctx, env, rest)
	case "destinations":
		return runDestinations(ctx, env, rest)
	case "reconcile":
		return runReconcile(ctx, env, rest)
	case "stripe":
		return runStripe(ctx, env, rest)
	case "config":
		return runConfig(ctx, env, rest)
	case "migrate":
		return runMigrate(ctx, env, rest)
	case "backup":
		return runBackup(ctx, env, rest)
	case "healthcheck":
		return runHealthcheck(ctx, env, rest)
	case "version", "--version", "-version":
		return runVersion(ctx, env, rest)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	default:
		fmt.Fprint(env.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
