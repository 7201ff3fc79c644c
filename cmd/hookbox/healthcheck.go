package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// defaultAdminListen is serve's --admin-listen default, which healthcheck
// derives its URL from when HOOKBOX_ADMIN_LISTEN is unset.
const defaultAdminListen = "127.0.0.1:8081"

// defaultHealthcheckTimeout bounds one health check. /readyz may take up to
// 2s itself (its store ping's limit), so the check waits a little longer.
const defaultHealthcheckTimeout = 3 * time.Second

// runHealthcheck asks serve's /readyz whether it takes webhooks: it returns
// nil (exit 0) on 200 and an error (exit 1) on anything else, a refused
// connection or the timeout. It is what a container's HEALTHCHECK runs, so
// that an image without a shell or curl can check itself.
func runHealthcheck(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox healthcheck", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	fset.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: hookbox healthcheck [--url URL] [--timeout D]\n\n"+
			"Exits 0 when serve's /readyz answers 200, 1 otherwise (for a container's HEALTHCHECK).\n\n")
		fset.PrintDefaults()
	}
	url := fset.String("url", "", "the readiness URL (default: /readyz on HOOKBOX_ADMIN_LISTEN, or "+defaultAdminListen+"; an unspecified host such as 0.0.0.0 is asked on loopback)")
	timeout := fset.Duration("timeout", defaultHealthcheckTimeout, "give up after this long")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fset.Arg(0))
	}
	if *timeout <= 0 {
		return errors.New("healthcheck: --timeout must be positive")
	}
	if *url == "" {
		u, err := readyzURL(env.Getenv("HOOKBOX_ADMIN_LISTEN"))
		if err != nil {
			return err
		}
		*url = u
	}
	status, err := checkReady(ctx, *url, *timeout)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintln(env.Stdout, status)
	return nil
}

// readyzURL returns the /readyz URL of an admin listen address. An
// unspecified host (":8081", "0.0.0.0", "[::]") listens on loopback too, and
// loopback is where a check from inside the container reaches it.
func readyzURL(listen string) (string, error) {
	if listen == "" {
		listen = defaultAdminListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("healthcheck: HOOKBOX_ADMIN_LISTEN=%q: %v", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// checkReady GETs url and returns its status line when it answers 200. Any
// other answer is an error holding the status and the start of the body
// ({"status":"store stalled"}), which a container runtime keeps in its
// health log.
func checkReady(ctx context.Context, url string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	// The check talks to this host's own listener: never through an
	// HTTP_PROXY that the container sets for its forwards.
	// A redirect is not a 200 from /readyz.
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	line := strings.TrimSpace(resp.Status + " " + strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, line)
	}
	return line, nil
}
