package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/deliver"
)

// TestBrowser_Destinations drives the destinations page in headless
// chromium against a real worker whose destination fails until its
// circuit breaker (2 failures in a row) opens: the page shows the breaker
// open with its next probe, the limits, the failures in a row, the parked
// delivery and the last errors; Pause and Resume work from the page; and
// the page does not scroll sideways on a phone.
func TestBrowser_Destinations(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	ctx := newBrowser(t)
	dir := artifacts(t)
	store := mustOpenStore(t)
	now := time.Now().UTC()
	mustInsert(t, store,
		newEvent("evt_fail_1", "invoice.paid", "in_1", now.Add(-2*time.Second), hookbox.StatePending, ""),
		newEvent("evt_fail_2", "invoice.paid", "in_2", now.Add(-time.Second), hookbox.StatePending, ""))
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(app.Close)
	h, err := deliver.NewHTTP("app", app.URL, "whsec_browser_test_destination", deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dest := deliver.Controlled(h, deliver.Controls{MaxInFlight: 4, Rate: 20, Burst: 5, BreakerFailures: 2, BreakerProbe: time.Hour})
	act := console.NewActivity()
	worker := &deliver.Worker{Queue: store, Destinations: []deliver.Destination{dest}, PollInterval: 50 * time.Millisecond,
		OnAttempt: act.RecordAttempt, Retry: hookbox.RetryPolicy{Base: 20 * time.Millisecond, Cap: 40 * time.Millisecond, MaxAttempts: 20, Window: time.Hour}}
	if err := worker.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		worker.Shutdown(sctx)
	})
	status := func() map[string]console.DestinationStatus {
		out := map[string]console.DestinationStatus{}
		for name, s := range worker.Status() {
			c := s.Controls
			out[name] = console.DestinationStatus{MaxInFlight: c.MaxInFlight, Rate: c.Rate, Burst: c.Burst,
				BreakerFailures: c.BreakerFailures, BreakerProbe: c.BreakerProbe, InFlight: s.InFlight, Failures: s.Failures}
		}
		return out
	}
	waitFor(t, "the breaker to open and park both events", 15*time.Second, func() bool {
		n, err := store.CountParked(context.Background())
		return err == nil && n["app"][hookbox.HoldBreaker] == 2
	})
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Activity: act, Destinations: []string{"app"},
		WakeFunc: worker.Wake, DestinationStatusFunc: status})

	browse(t, ctx, "log in", chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), testToken), chromedp.Submit(chromedp.ID("token")), chromedp.WaitVisible(chromedp.ID("overview")))
	browse(t, ctx, "destinations", chromedp.Navigate(ts.URL+"/destinations"), chromedp.WaitVisible(chromedp.CSS("table.destinations")))
	row := textOf(t, ctx, `tr.destination[data-destination="app"]`)
	for _, w := range []string{"breaker open", "next probe", "rate: 20/s, burst 5", "max in flight: 4 per process",
		"breaker: after 2 failures in a row, a probe every 1h0m0s", "2 breaker", "Pause"} {
		if !strings.Contains(row, w) {
			t.Errorf("app's row lacks %q: %q", w, row)
		}
	}
	errs := textOf(t, ctx, `tr.last-errors[data-destination="app"]`)
	if !strings.Contains(errs, "evt_fail_2") || !strings.Contains(errs, "evt_fail_1") || !strings.Contains(errs, "status 503") {
		t.Errorf("last errors: %q", errs)
	}
	screenshot(t, ctx, dir, "destinations-breaker")

	browse(t, ctx, "pause", chromedp.Click(chromedp.CSS(`form[action="/destinations/pause"] button`)), chromedp.WaitVisible(chromedp.CSS(".flash-ok")))
	if row = textOf(t, ctx, `tr.destination[data-destination="app"]`); !strings.Contains(row, "paused") || !strings.Contains(row, "breaker open") || !strings.Contains(row, "Resume") {
		t.Errorf("after Pause: %q", row)
	}
	screenshot(t, ctx, dir, "destinations-paused")
	browse(t, ctx, "resume", chromedp.Click(chromedp.CSS(`form[action="/destinations/resume"] button`)))
	waitFor(t, "the page after Resume", 10*time.Second, func() bool {
		return get(t, ctx, chromedp.Evaluate[bool](`(document.querySelector(".flash-ok") || {textContent: ""}).textContent.includes("Resumed")`))
	})
	if row = textOf(t, ctx, `tr.destination[data-destination="app"]`); strings.Contains(row, "paused") || !strings.Contains(row, "breaker open") {
		t.Errorf("after Resume: %q", row)
	}
	if st, _ := store.DestinationStates(context.Background()); !st["app"].PausedAt.IsZero() {
		t.Errorf("still paused after Resume: %+v", st["app"])
	}

	browse(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(ts.URL+"/destinations"), chromedp.WaitVisible(chromedp.CSS("table.destinations")))
	if get(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
		t.Errorf("the destinations page scrolls sideways on a phone")
	}
	screenshot(t, ctx, dir, "destinations-phone")
}
