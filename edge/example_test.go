package edge_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/hookbox/hookbox/edge"
)

func ExampleProxies_ClientAddr() {
	proxies, err := edge.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		panic(err)
	}
	// Through the trusted load balancer: the forged leftmost entry is skipped.
	r := httptest.NewRequest("POST", "/webhooks/stripe", nil)
	r.RemoteAddr = "10.0.0.2:41000"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 3.18.12.63")
	fmt.Println(proxies.ClientAddr(r))

	// Straight from the internet: X-Forwarded-For is not believed.
	r.RemoteAddr = "203.0.113.7:5555"
	fmt.Println(proxies.ClientAddr(r))
	// Output:
	// 3.18.12.63
	// 203.0.113.7
}

// Example wires the pieces in front of a webhook handler the way
// "hookbox serve" does: one client address function for all of them, and
// the failure limiter fed from the handler's results.
func Example() {
	proxies, _ := edge.ParseTrustedProxies("10.0.0.0/8")
	allow, _ := edge.NewAllowlist(edge.ModeEnforce, edge.AllowlistOptions{
		ClientAddrFunc: proxies.ClientAddr,
		Logger:         slog.New(slog.DiscardHandler),
	})
	limiter, _ := edge.NewFailureLimiter(edge.DefaultMaxFailures, edge.DefaultFailureWindow, edge.LimiterOptions{
		ClientAddrFunc: proxies.ClientAddr,
		ExemptFunc:     allow.Allows,
	})
	// Stands for ingest.Handler, whose OnResult would call
	// limiter.Failed(r.Client) when r.Outcome is ingest.OutcomeRejected.
	webhook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"received":true}`)
	})
	mux := http.NewServeMux()
	mux.Handle("/webhooks/stripe", edge.RequireHTTPS(allow.Middleware(limiter.Middleware(webhook)), proxies))
	public := edge.HSTS(mux, edge.DefaultHSTSMaxAge, proxies)

	for _, from := range []string{"3.18.12.63", "203.0.113.7"} {
		r := httptest.NewRequest("POST", "/webhooks/stripe", nil)
		r.RemoteAddr = "10.0.0.2:41000"
		r.Header.Set("X-Forwarded-For", from)
		r.Header.Set("X-Forwarded-Proto", "https")
		w := httptest.NewRecorder()
		public.ServeHTTP(w, r)
		fmt.Println(from, w.Code, w.Header().Get("Strict-Transport-Security"))
	}
	// Output:
	// 3.18.12.63 200 max-age=31536000
	// 203.0.113.7 403 max-age=31536000
}
