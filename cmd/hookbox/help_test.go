package main

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelp_ExitsZero ensures "hookbox COMMAND -h" and "--help" print the
// command's help and exit 0 for every command and subcommand, while a
// command line without a command exits 2 and a bad flag exits 1.
func TestHelp_ExitsZero(t *testing.T) {
	for _, tc := range []struct {
		cmd  []string
		want string // in the help printed
	}{
		{[]string{"serve"}, "Usage: hookbox serve"},
		{[]string{"send"}, "-count"},
		{[]string{"sign"}, "-timestamp"},
		{[]string{"events"}, "hookbox events list"},
		{[]string{"events", "list"}, "-limit"},
		{[]string{"events", "show"}, "-raw"},
		{[]string{"events", "replay"}, "-state"},
		{[]string{"reconcile"}, "Usage: hookbox reconcile"},
		{[]string{"stripe"}, "Usage: hookbox stripe endpoints COMMAND"},
		{[]string{"stripe", "endpoints"}, "Usage: hookbox stripe endpoints COMMAND"},
		{[]string{"stripe", "endpoints", "list"}, "-json"},
		{[]string{"stripe", "endpoints", "create"}, "-secret-file"},
		{[]string{"stripe", "endpoints", "update"}, "-disabled"},
		{[]string{"stripe", "endpoints", "delete"}, "delete ID"},
		{[]string{"stripe", "endpoints", "check"}, "-public-url"},
		{[]string{"config"}, "Usage: hookbox config check FILE"},
		{[]string{"config", "check"}, "Usage: hookbox config check FILE"},
		{[]string{"migrate"}, "-db"},
		{[]string{"healthcheck"}, "Usage: hookbox healthcheck"},
		{[]string{"version"}, "hookbox"},
		{[]string{"help"}, "Usage:"},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string(nil), tc.cmd...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				env, out, errb := testEnv(nil)
				err := run(context.Background(), env, args)
				if code := exitCode(err); code != 0 {
					t.Fatalf("exit code %d (err %v), want 0", code, err)
				}
				if got := out.String() + errb.String(); !strings.Contains(got, tc.want) {
					t.Errorf("help lacks %q:\n%s", tc.want, got)
				}
			})
		}
	}
	env, _, errb := testEnv(nil)
	if code := exitCode(run(context.Background(), env, nil)); code != 2 || !strings.Contains(errb.String(), "Usage:") {
		t.Errorf("no command: exit code %d, stderr %q; want 2 and the usage", code, errb.String())
	}
	env, _, _ = testEnv(nil)
	if code := exitCode(run(context.Background(), env, []string{"events", "list", "--no-such-flag"})); code != 1 {
		t.Errorf("a bad flag: exit code %d, want 1", code)
	}
	if code := exitCode(errors.Join(errors.New("x"), flag.ErrHelp)); code != 0 {
		t.Errorf("a wrapped flag.ErrHelp: exit code %d, want 0", code)
	}
}

// TestHelp_Serve ensures serve's help describes the command, names every
// secret variable and its _FILE form, names postgres:// in --db and lists
// what the admin listener serves.
func TestHelp_Serve(t *testing.T) {
	env, _, errb := testEnv(nil)
	if err := run(context.Background(), env, []string{"serve", "--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	help := errb.String()
	for _, want := range []string{
		"Runs the webhook receiver",
		"STRIPE_WEBHOOK_SECRET,", "STRIPE_WEBHOOK_SECRET_FILE",
		"HOOKBOX_ADMIN_TOKEN,", "HOOKBOX_ADMIN_TOKEN_FILE",
		"HOOKBOX_FORWARD_SECRET,", "HOOKBOX_FORWARD_SECRET_FILE",
		"STRIPE_API_KEY,", "STRIPE_API_KEY_FILE",
		"postgres://",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	_, admin, _ := strings.Cut(help, "\n  -admin-listen")
	admin, _, _ = strings.Cut(admin, "\n  -")
	for _, want := range []string{"console", "/api/", "/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
		if !strings.Contains(admin, want) {
			t.Errorf("--admin-listen's help lacks %q: %s", want, admin)
		}
	}
	for _, cmd := range [][]string{{"events", "list"}, {"events", "show"}, {"events", "replay"}, {"migrate"}, {"reconcile"}} {
		env, _, errb := testEnv(nil)
		run(context.Background(), env, append(cmd, "-h"))
		_, db, _ := strings.Cut(errb.String(), "\n  -db")
		db, _, _ = strings.Cut(db, "\n  -")
		if !strings.Contains(db, "postgres://") {
			t.Errorf("%s: --db help lacks postgres://: %s", strings.Join(cmd, " "), db)
		}
	}
}
