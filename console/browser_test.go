package console_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/deliver"
)

var updateDocs = flag.Bool("update-docs", false, "write the overview screenshot to docs/console.png")

// chromiumPath returns Debian's chromium (HOOKBOX_CHROMIUM overrides). The
// browser tests skip loudly without it, and fail under CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HOOKBOX_CHROMIUM"), "chromium", "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: CI must install it (apt-get install -y chromium)")
	}
	t.Skip("SKIPPING BROWSER TESTS: chromium not found (apt-get install -y chromium, or set HOOKBOX_CHROMIUM)")
	return ""
}

// newBrowser starts a headless chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go: HOOKBOX_ARTIFACTS or a temp dir.
func artifacts(t *testing.T) string {
	dir := os.Getenv("HOOKBOX_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse runs steps and fails the test on error.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func textOf(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return get(t, ctx, chromedp.Text(chromedp.CSS(css)))
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) []byte {
	t.Helper()
	png := get(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	return png
}

// TestBrowser drives the console in headless chromium: log in, filter,
// open an event, replay a dead event and see it delivered by a real
// worker, replay by filter with its confirmation, list the blocked events,
// skip one and see the later event of its object delivered, hostile
// payloads inert, and a cross-site form POST refused. Screenshots of each
// page are kept.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	ctx := newBrowser(t)
	dir := artifacts(t)
	t.Logf("screenshots in %s", dir)

	store := mustOpenStore(t)
	now := time.Now().UTC()
	var evs []*hookbox.Event
	for i := range 30 {
		typ := []string{"payment_intent.succeeded", "invoice.paid", "customer.updated"}[i%3]
		evs = append(evs, newEvent(fmt.Sprintf("evt_1Ok%04d", i), typ, fmt.Sprintf("pi_%04d", i), now.Add(-time.Duration(30-i)*time.Minute), hookbox.StateDelivered, ""))
	}
	evs = append(evs,
		newEvent("evt_dead_one", "invoice.payment_failed", "in_dead1", now.Add(-5*time.Minute), hookbox.StateDead, ""),
		newEvent("evt_dead_two", "invoice.payment_failed", "in_dead2", now.Add(-4*time.Minute), hookbox.StateDead, ""),
		newEvent("evt_dead_three", "charge.failed", "ch_dead3", now.Add(-3*time.Minute), hookbox.StateDead, ""),
		newEvent("evt_dead_four", "invoice.payment_failed", "in_dead4", now.Add(-3*time.Minute), hookbox.StateDead, ""),
	)
	xss := newEvent("evt_hostile", "customer.updated", "cus_x", now.Add(-2*time.Minute), hookbox.StateDelivered,
		`"metadata":{"note":"<script>window.xss=1</script>","name":"\"><img src=x onerror=window.xss=2>"}`)
	xss.Headers["User-Agent"] = `"><img src=x onerror=window.xss=3>`
	evs = append(evs, xss)
	mustInsert(t, store, evs...)
	// An object whose oldest event went dead: the next one waits behind it.
	head := newEvent("evt_order_head", "customer.subscription.updated", "sub_order", now.Add(-90*time.Second), hookbox.StatePending, "")
	next := newEvent("evt_order_next", "customer.subscription.deleted", "sub_order", now.Add(-80*time.Second), hookbox.StatePending, "")
	head.OrderKey = hookbox.OrderKeyOf("stripe", "", false, "sub_order")
	next.OrderKey = head.OrderKey
	mustInsert(t, store, head)
	kill(t, store, "evt_order_head", now.Add(-70*time.Second))
	mustInsert(t, store, next)

	// The destination and the worker that delivers replayed events.
	var delivered atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(app.Close)
	dest, err := deliver.NewHTTP("app", app.URL, "whsec_browser_test_destination", deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	act := console.NewActivity()
	worker := &deliver.Worker{Queue: store, Destinations: []deliver.Destination{dest}, PollInterval: 100 * time.Millisecond,
		OnAttempt: act.RecordAttempt}
	if err := worker.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		worker.Shutdown(sctx)
	})
	for i := range 120 {
		at := now.Add(-time.Duration(i) * 30 * time.Second)
		for range i%7 + 1 {
			act.Record("accepted", "", i%2, at)
		}
		if i%11 == 0 {
			act.Record("rejected", "too_old", -1, at)
		}
	}
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Activity: act, Destinations: []string{"app"}, WakeFunc: worker.Wake})

	var text string
	t.Run("Login", func(t *testing.T) {
		browse(t, ctx, "open", chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")))
		screenshot(t, ctx, dir, "login")
		browse(t, ctx, "wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.CSS(".flash-error")))
		if text = textOf(t, ctx, ".flash-error"); !strings.Contains(text, "not the admin token") {
			t.Fatalf("wrong token: %q", text)
		}
		browse(t, ctx, "log in", chromedp.SendKeys(chromedp.ID("token"), testToken), chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.ID("overview")))
		if text = textOf(t, ctx, "#overview"); !strings.Contains(text, "dead") || !strings.Contains(text, "#1") {
			t.Fatalf("overview: %q", text)
		}
		png := screenshot(t, ctx, dir, "overview")
		if *updateDocs {
			if err := os.WriteFile("../docs/console.png", png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("Filter", func(t *testing.T) {
		browse(t, ctx, "events", chromedp.Navigate(ts.URL+"/events"), chromedp.WaitVisible(chromedp.ID("f-state")),
			chromedp.SetValue(chromedp.ID("f-state"), "dead"), chromedp.SendKeys(chromedp.ID("f-type"), "invoice.*"),
			chromedp.Submit(chromedp.ID("f-type")))
		waitFor(t, "the filtered list", 10*time.Second, func() bool {
			return strings.Contains(get(t, ctx, chromedp.Location()), "state=dead")
		})
		browse(t, ctx, "filtered", chromedp.WaitVisible(chromedp.CSS(`a[href="/events/evt_dead_one"]`)))
		text = textOf(t, ctx, "#rows")
		if !strings.Contains(text, "evt_dead_two") || strings.Contains(text, "evt_dead_three") || strings.Contains(text, "evt_1Ok") {
			t.Fatalf("filtered list: %q", text)
		}
		screenshot(t, ctx, dir, "events-filtered")
	})
	t.Run("Detail", func(t *testing.T) {
		browse(t, ctx, "open event", chromedp.Click(chromedp.CSS(`a[href="/events/evt_dead_one"]`)), chromedp.WaitVisible(chromedp.ID("payload")))
		if loc := get(t, ctx, chromedp.Location()); loc != ts.URL+"/events/evt_dead_one" {
			t.Fatalf("location %q", loc)
		}
		screenshot(t, ctx, dir, "event-dead")
	})
	t.Run("ReplayDelivered", func(t *testing.T) {
		browse(t, ctx, "replay", chromedp.Click(chromedp.CSS(`form.replay button`)), chromedp.WaitVisible(chromedp.CSS(".flash-ok")))
		if text = textOf(t, ctx, ".flash-ok"); !strings.Contains(text, "Replayed") {
			t.Fatalf("flash: %q", text)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			browse(t, ctx, "reload", chromedp.Navigate(ts.URL+"/events/evt_dead_one"), chromedp.WaitVisible(chromedp.ID("attempts")))
			if text = textOf(t, ctx, "dl.facts"); strings.Contains(text, "delivered") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not delivered: %q", text)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if text = textOf(t, ctx, "table.attempts"); !strings.Contains(text, "200") || delivered.Load() != 1 {
			t.Fatalf("attempts: %q, destination got %d", text, delivered.Load())
		}
		screenshot(t, ctx, dir, "event-delivered")
	})
	t.Run("ReplayFilter", func(t *testing.T) {
		browse(t, ctx, "confirm", chromedp.Navigate(ts.URL+"/events?state=dead&type=invoice.*"), chromedp.WaitVisible(chromedp.CSS(`a[href^="/events/replay?"]`)),
			chromedp.Click(chromedp.CSS(`a[href^="/events/replay?"]`)), chromedp.WaitVisible(chromedp.ID("confirm-text")))
		if text = textOf(t, ctx, "#confirm-text"); !strings.Contains(text, "2 events") {
			t.Fatalf("confirmation: %q", text)
		}
		screenshot(t, ctx, dir, "replay-confirm")
		browse(t, ctx, "replay", chromedp.Click(chromedp.CSS(`form.confirm button`)), chromedp.WaitVisible(chromedp.CSS(".flash-ok")))
		if text = textOf(t, ctx, ".flash-ok"); !strings.Contains(text, "Replayed 2 events") {
			t.Fatalf("result: %q", text)
		}
		waitFor(t, "replayed events delivered", 15*time.Second, func() bool { return delivered.Load() == 3 })
	})
	t.Run("SkipBlocked", func(t *testing.T) {
		browse(t, ctx, "events", chromedp.Navigate(ts.URL+"/events"), chromedp.WaitVisible(chromedp.ID("f-blocked")),
			chromedp.Click(chromedp.ID("f-blocked")), chromedp.Submit(chromedp.ID("f-type")))
		waitFor(t, "the blocked list", 10*time.Second, func() bool {
			return strings.Contains(get(t, ctx, chromedp.Location()), "blocked=true")
		})
		browse(t, ctx, "blocked list", chromedp.WaitVisible(chromedp.CSS(`a[href="/events/evt_order_head"]`)))
		text = textOf(t, ctx, "#rows")
		if !strings.Contains(text, "blocked") || strings.Contains(text, "evt_order_next") || strings.Contains(text, "evt_dead_three") {
			t.Fatalf("blocked list: %q", text)
		}
		screenshot(t, ctx, dir, "events-blocked")
		browse(t, ctx, "open blocked event", chromedp.Click(chromedp.CSS(`a[href="/events/evt_order_head"]`)),
			chromedp.WaitVisible(chromedp.ID("blocked-note")))
		if text = textOf(t, ctx, "#blocked-note"); !strings.Contains(text, "the later events of this object wait") {
			t.Fatalf("blocked notice: %q", text)
		}
		if text = textOf(t, ctx, "dl.facts"); !strings.Contains(text, head.OrderKey) {
			t.Fatalf("facts lack the order key: %q", text)
		}
		screenshot(t, ctx, dir, "event-blocked")
		// The worker has been polling all along: the next event waited.
		if ev, err := store.FindEventByID(context.Background(), "evt_order_next"); err != nil || ev.State != hookbox.StatePending {
			t.Fatalf("evt_order_next before the skip: %v %v", ev.State, err)
		}
		sent := delivered.Load()
		browse(t, ctx, "skip", chromedp.SendKeys(chromedp.CSS(`form.skip-event input[name=reason]`), "bad data upstream"),
			chromedp.Click(chromedp.CSS(`form.skip-event button`)), chromedp.WaitVisible(chromedp.CSS(".flash-ok")))
		if text = textOf(t, ctx, ".flash-ok"); !strings.Contains(text, "Skipped") {
			t.Fatalf("flash: %q", text)
		}
		if text = textOf(t, ctx, `section[aria-labelledby="deliveries"] table`); !strings.Contains(text, "skipped") || !strings.Contains(text, "bad data upstream") {
			t.Fatalf("deliveries after the skip: %q", text)
		}
		if get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("blocked-note") !== null || document.querySelector("form.skip-event") !== null`)) {
			t.Fatalf("the page still says blocked, or still offers Skip")
		}
		screenshot(t, ctx, dir, "event-skipped")
		// The later event of the object goes on, to the destination.
		deadline := time.Now().Add(15 * time.Second)
		for {
			browse(t, ctx, "next event", chromedp.Navigate(ts.URL+"/events/evt_order_next"), chromedp.WaitVisible(chromedp.ID("attempts")))
			if text = textOf(t, ctx, "dl.facts"); strings.Contains(text, "delivered") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("evt_order_next not delivered after the skip: %q", text)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := delivered.Load(); got != sent+1 {
			t.Fatalf("destination got %d requests after the skip, want 1", got-sent)
		}
	})
	t.Run("HostileInert", func(t *testing.T) {
		browse(t, ctx, "hostile", chromedp.Navigate(ts.URL+"/events/evt_hostile"), chromedp.WaitVisible(chromedp.ID("payload")),
			chromedp.Sleep(300*time.Millisecond))
		xssSet := get(t, ctx, chromedp.Evaluate[bool](`window.xss !== undefined`))
		imgs := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('img').length`))
		if xssSet || imgs != 0 {
			t.Fatalf("payload executed: xss=%v imgs=%d", xssSet, imgs)
		}
		text = get(t, ctx, chromedp.Evaluate[string](`document.body.textContent`))
		if !strings.Contains(text, `<script>window.xss=1</script>`) || !strings.Contains(text, `onerror=window.xss=2>`) {
			t.Fatalf("hostile values not shown as text")
		}
		screenshot(t, ctx, dir, "event-hostile")
	})
	t.Run("CrossSitePOST", func(t *testing.T) {
		// A page on another origin (localhost vs 127.0.0.1) that posts a
		// form to the replay endpoint as soon as it loads, with the
		// session cookie the browser holds.
		target := ts.URL + "/events/evt_dead_three/replay"
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s"><input name="x" value="1"></form>
<script>document.getElementById("f").submit()</script>`, target)
		}))
		t.Cleanup(evil.Close)
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		browse(t, ctx, "evil page", chromedp.Navigate(evilURL))
		waitFor(t, "the forged POST", 10*time.Second, func() bool { return get(t, ctx, chromedp.Location()) == target })
		browse(t, ctx, "result", chromedp.WaitReady(chromedp.CSS("body")))
		if body := textOf(t, ctx, "body"); !strings.Contains(body, "cross-origin request refused") {
			t.Fatalf("cross-site POST answered %q", body)
		}
		ev, err := store.FindEventByID(context.Background(), "evt_dead_three")
		if err != nil || ev.State != hookbox.StateDead {
			t.Fatalf("cross-site POST replayed the event: %v %v", ev.State, err)
		}
		screenshot(t, ctx, dir, "csrf-refused")
	})
	t.Run("Phone", func(t *testing.T) {
		browse(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.Navigate(ts.URL+"/events"), chromedp.WaitVisible(chromedp.ID("rows")))
		if get(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
			t.Errorf("the events page scrolls sideways on a phone")
		}
		screenshot(t, ctx, dir, "events-phone")
		browse(t, ctx, "phone detail", chromedp.Navigate(ts.URL+"/events/evt_dead_one"), chromedp.WaitVisible(chromedp.ID("payload")))
		screenshot(t, ctx, dir, "event-phone")
	})
}
