package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

const testSecret = "whsec_receiver_test_secret_0123456789abcdef"

// clock is a test clock: real time moved by a settable offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Store(int64(d)) }
func mustOpenSQLite(t testing.TB) hookbox.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustOpenPostgres(t testing.TB) hookbox.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.SchemaDSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stores runs f on each store: SQLite always, PostgreSQL when the test
// server answers (pgtest skips loudly otherwise, and fails under CI).
func stores(t *testing.T, f func(t *testing.T, open func(testing.TB) hookbox.Store)) {
	t.Run("SQLite", func(t *testing.T) { f(t, mustOpenSQLite) })
	t.Run("PostgreSQL", func(t *testing.T) { f(t, mustOpenPostgres) })
}

func mustOpen(t testing.TB, opts receiver.Options) *receiver.Receiver {
	t.Helper()
	r, err := receiver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Open(context.Background()); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func event(id string) []byte {
	return []byte(`{"id":"` + id + `","object":"event","type":"invoice.paid","created":1764201234,"livemode":false,"data":{"object":{"id":"in_1"}}}`)
}

// post sends a signed event to path and returns the status and body.
func post(t testing.TB, h http.Handler, path string, body []byte) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, strings.TrimSpace(w.Body.String())
}

func waitState(t testing.TB, s hookbox.Store, id string, want hookbox.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, err := s.FindEventByID(context.Background(), id)
		if err == nil && ev.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s (%v, %v)", id, want, ev, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOptions_Validate ensures each rule of a receiver's configuration
// refuses what it should with an EINVALID error naming the flag, and that
// zero values (the defaults) pass.
func TestOptions_Validate(t *testing.T) {
	slow, _ := deliver.NewHTTP("slow", "http://127.0.0.1:9/", testSecret, deliver.HTTPOptions{Timeout: 8 * time.Second})
	ep := receiver.Endpoint{Name: "stripe", Secrets: []string{testSecret}}
	withDest := ep
	withDest.Destinations = []deliver.Destination{slow}
	base := receiver.Options{Endpoints: []receiver.Endpoint{ep}}
	for _, tc := range []struct {
		name string
		edit func(*receiver.Options)
		want string // "" = valid
	}{
		{"Defaults", func(o *receiver.Options) {}, ""},
		{"NoEndpoint", func(o *receiver.Options) { o.Endpoints = nil }, "no endpoint"},
		{"BadName", func(o *receiver.Options) { o.Endpoints[0].Name = "Bad/Name" }, "endpoint name"},
		{"Twice", func(o *receiver.Options) { o.Endpoints = append(o.Endpoints, ep) }, "declared twice"},
		{"NoSecret", func(o *receiver.Options) { o.Endpoints[0].Secrets = nil }, "no secrets"},
		{"NegativeTolerance", func(o *receiver.Options) { o.Endpoints[0].Tolerance = -time.Second }, "--tolerance"},
		{"DestinationTwice", func(o *receiver.Options) {
			o.Endpoints = []receiver.Endpoint{withDest, {Name: "b", Secrets: []string{testSecret}, Destinations: []deliver.Destination{slow}}}
		}, "used twice"},
		{"Mode", func(o *receiver.Options) { o.Mode = "fast" }, "--mode"},
		{"SyncWithoutDestination", func(o *receiver.Options) { o.Mode = receiver.ModeSync }, "--mode sync needs a destination"},
		{"SyncWithDestination", func(o *receiver.Options) { o.Mode = receiver.ModeSync; o.Endpoints = []receiver.Endpoint{withDest} }, ""},
		{"RetryCapBelowBase", func(o *receiver.Options) { o.Retry.Base, o.Retry.Cap = time.Minute, time.Second }, "--retry-cap"},
		{"NegativeAttempts", func(o *receiver.Options) { o.Retry.MaxAttempts = -1 }, "--max-attempts"},
		{"Linger", func(o *receiver.Options) { o.Linger = 2 * time.Second }, "--batch-linger"},
		{"NegativeRetention", func(o *receiver.Options) { o.Retention = -time.Hour }, "--retention"},
		{"KeepIDsShort", func(o *receiver.Options) { o.KeepIDs = 7 * 24 * time.Hour }, "--keep-ids"},
		{"KeepIDsBelowRetention", func(o *receiver.Options) { o.Retention, o.KeepIDs = 60*24*time.Hour, 40*24*time.Hour }, "--keep-ids"},
		{"LeaseShorterThanTimeout", func(o *receiver.Options) { o.Endpoints = []receiver.Endpoint{withDest}; o.Lease = 9 * time.Second }, "--delivery-lease"},
		{"Proxies", func(o *receiver.Options) { o.TrustedProxies = "nonsense" }, "--trusted-proxies"},
		{"Allowlist", func(o *receiver.Options) { o.Allowlist = "maybe" }, "--ip-allowlist"},
		{"CertWithoutKey", func(o *receiver.Options) { o.TLSCert = "c.pem" }, "--tls-cert and --tls-key"},
		{"RedirectWithoutTLS", func(o *receiver.Options) { o.RedirectListen = ":80" }, "--http-redirect-listen"},
		{"AdminOffLoopbackWithoutToken", func(o *receiver.Options) { o.AdminListen = "0.0.0.0:8081" }, "HOOKBOX_ADMIN_TOKEN"},
		{"AdminOffLoopbackWithToken", func(o *receiver.Options) { o.AdminListen = "0.0.0.0:8081"; o.AdminToken = strings.Repeat("t", 32) }, ""},
		{"ShortToken", func(o *receiver.Options) { o.AdminToken = "short" }, "too short"},
		{"ReconcileEvery", func(o *receiver.Options) { o.Reconcile = &receiver.ReconcileOptions{Key: "rk_test_x"} }, "--reconcile-every"},
		{"ReconcileSince", func(o *receiver.Options) {
			o.Reconcile = &receiver.ReconcileOptions{Key: "rk_test_0123456789", Every: time.Hour, Since: 40 * 24 * time.Hour}
		}, "30 days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Endpoints = append([]receiver.Endpoint(nil), base.Endpoints...)
			tc.edit(&o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid options refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			case err != nil && hookbox.ErrorCode(err) != hookbox.EINVALID:
				t.Fatalf("code %q", hookbox.ErrorCode(err))
			}
		})
	}
}

// TestOptions_Warnings ensures weak but allowed settings are warned about
// at start, without the secret: a secret with less key material than
// Stripe's, one that is not a whsec_ secret, a tolerance above 15 minutes.
func TestOptions_Warnings(t *testing.T) {
	o := receiver.Options{Endpoints: []receiver.Endpoint{
		{Name: "a", Secrets: []string{"whsec_short", testSecret}, Tolerance: time.Hour},
	}}
	ws := strings.Join(o.Warnings(), "\n")
	for _, want := range []string{"#0 has fewer than 32 characters", "tolerance 1h0m0s is above 15m0s"} {
		if !strings.Contains(ws, want) {
			t.Errorf("no warning %q in:\n%s", want, ws)
		}
	}
	if strings.Contains(ws, "#1") || strings.Contains(ws, "whsec_short") {
		t.Errorf("warned about the good secret, or printed a secret:\n%s", ws)
	}
	if !receiver.WeakSecret("whsec_0123456789") || receiver.WeakSecret(testSecret) {
		t.Error("WeakSecret")
	}
}

// TestRoute ensures an endpoint's destinations get only that endpoint's
// events and its livemode, and that events without an endpoint (older
// rows, reconciled events) go to the default (first) endpoint only.
func TestRoute(t *testing.T) {
	d, _ := deliver.NewHTTP("d", "http://127.0.0.1:9/", testSecret, deliver.HTTPOptions{})
	def := receiver.Route(d, receiver.Endpoint{Name: "stripe"}, true)
	live := receiver.Route(d, receiver.Endpoint{Name: "connect", Livemode: deliver.LivemodeLive}, false)
	for _, tc := range []struct {
		ev        hookbox.Event
		def, live bool
	}{
		{hookbox.Event{Endpoint: "stripe"}, true, false},
		{hookbox.Event{Endpoint: ""}, true, false},
		{hookbox.Event{Endpoint: "connect", Livemode: true}, false, true},
		{hookbox.Event{Endpoint: "connect", Livemode: false}, false, false},
	} {
		if got := def.Accepts(&tc.ev); got != tc.def {
			t.Errorf("default endpoint, %+v: %v", tc.ev, got)
		}
		if got := live.Accepts(&tc.ev); got != tc.live {
			t.Errorf("connect endpoint, %+v: %v", tc.ev, got)
		}
	}
}

// failingStore is the real store with inserts that fail on demand (a full
// disk): a fault injected at the edge, not a mock.
type failingStore struct {
	hookbox.Store
	fail atomic.Bool
}

func (s *failingStore) InsertEvents(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
	if s.fail.Load() {
		return nil, hookbox.Errorf(hookbox.EUNAVAILABLE, "disk full")
	}
	return s.Store.InsertEvents(ctx, evs)
}

// TestReady_FailingCommits ensures /readyz turns 503 when commits fail
// while the store still answers pings (a full disk), stays 503 while they
// fail, and turns 200 again when one succeeds, or after a few seconds
// without traffic so that the load balancer sends some again.
func TestReady_FailingCommits(t *testing.T) {
	clk := &clock{}
	s := &failingStore{Store: mustOpenSQLite(t)}
	r := mustOpen(t, receiver.Options{Store: s, NowFunc: clk.now, Endpoints: []receiver.Endpoint{{Name: "stripe", Secrets: []string{testSecret}}}})
	readyz := func() (int, string) {
		w := httptest.NewRecorder()
		r.AdminHandler().ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/readyz", nil))
		var body struct{ Status string }
		json.NewDecoder(w.Body).Decode(&body)
		return w.Code, body.Status
	}
	if code, _ := readyz(); code != 200 {
		t.Fatalf("ready at start: %d", code)
	}
	s.fail.Store(true)
	if code, _ := post(t, r.Handler(), receiver.DefaultPath, event("evt_full_1")); code != 503 {
		t.Fatalf("webhook on a failing store: %d", code)
	}
	if code, status := readyz(); code != 503 || status != "store failing" {
		t.Fatalf("readyz while commits fail: %d %q", code, status)
	}
	clk.advance(10 * time.Second) // no traffic for a while: try again
	if code, _ := readyz(); code != 200 {
		t.Fatalf("readyz after the hold: %d", code)
	}
	post(t, r.Handler(), receiver.DefaultPath, event("evt_full_2"))
	if code, _ := readyz(); code != 503 {
		t.Fatalf("readyz after another failure: %d", code)
	}
	s.fail.Store(false)
	if code, _ := post(t, r.Handler(), receiver.DefaultPath, event("evt_full_3")); code != 200 {
		t.Fatalf("webhook once the store recovered: %d", code)
	}
	if code, _ := readyz(); code != 200 {
		t.Fatalf("readyz after a commit succeeded: %d", code)
	}
}

// TestRetention ensures retention as the receiver runs it, on its clock
// and on both stores: a delivered event's body is emptied after Retention
// while its id still dedupes a late Stripe resend on day 89, its row is
// deleted after KeepIDs, and a pending event is never pruned.
func TestRetention(t *testing.T) {
	stores(t, func(t *testing.T, open func(testing.TB) hookbox.Store) {
		clk := &clock{}
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
		defer app.Close()
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
		defer down.Close()
		d, _ := deliver.NewHTTP("app", app.URL, testSecret, deliver.HTTPOptions{NowFunc: clk.now})
		failing, _ := deliver.NewHTTP("down", down.URL, testSecret, deliver.HTTPOptions{NowFunc: clk.now})
		day := 24 * time.Hour
		r := mustOpen(t, receiver.Options{Store: open(t), NowFunc: clk.now, Endpoints: []receiver.Endpoint{
			{Name: "stripe", Secrets: []string{testSecret}, Destinations: []deliver.Destination{d}},
			// Failing, with its next attempt 500 days or more away: pending.
			{Name: "nowhere", Secrets: []string{testSecret}, Destinations: []deliver.Destination{failing}},
		}, Retry: hookbox.RetryPolicy{Base: 1000 * day, Cap: 1000 * day, Window: 2000 * day}})
		s := r.Store()
		if code, _ := post(t, r.Handler(), receiver.DefaultPath, event("evt_old")); code != 200 {
			t.Fatal(code)
		}
		if code, _ := post(t, r.Handler(), "/webhooks/nowhere", event("evt_pending")); code != 200 {
			t.Fatal(code)
		}
		waitState(t, s, "evt_old", hookbox.StateDelivered)
		// evt_pending has failed its first attempt and waits 500 days or
		// more: pending, not due in this test.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			ev, err := s.FindEventByID(context.Background(), "evt_pending")
			if err == nil && ev.State == hookbox.StatePending && ev.Attempts >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("evt_pending never failed its first attempt: %+v %v", ev, err)
			}
		}
		prune := func(at time.Duration) (int, int) {
			clk.advance(at)
			bodies, rows, err := r.Prune(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return bodies, rows
		}
		if b, n := prune(29 * day); b != 0 || n != 0 {
			t.Fatalf("day 29: %d bodies, %d rows pruned", b, n)
		}
		if b, n := prune(31 * day); b != 1 || n != 0 {
			t.Fatalf("day 31: %d bodies, %d rows pruned, want 1, 0", b, n)
		}
		if ev, err := s.FindEventByID(context.Background(), "evt_old"); err != nil || len(ev.Body) != 0 {
			t.Fatalf("day 31: body kept (%v)", err)
		}
		prune(89 * day)
		if code, body := post(t, r.Handler(), receiver.DefaultPath, event("evt_old")); code != 200 || !strings.Contains(body, `"duplicate":true`) {
			t.Fatalf("late resend on day 89: %d %s", code, body)
		}
		if b, n := prune(91 * day); n != 1 {
			t.Fatalf("day 91: %d bodies, %d rows deleted, want 1 row", b, n)
		}
		if _, err := s.FindEventByID(context.Background(), "evt_old"); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
			t.Fatalf("day 91: row kept (%v)", err)
		}
		prune(400 * day)
		if ev, err := s.FindEventByID(context.Background(), "evt_pending"); err != nil || len(ev.Body) == 0 || ev.State != hookbox.StatePending {
			t.Fatalf("pending event pruned: %+v, %v", ev, err)
		}
	})
}

// TestRetention_Loop ensures Open starts the retention loop itself: with
// the clock past Retention, a delivered event's body is emptied without
// anyone calling Prune (a receiver that never started the loop would
// keep it forever).
func TestRetention_Loop(t *testing.T) {
	clk := &clock{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer app.Close()
	d, _ := deliver.NewHTTP("app", app.URL, testSecret, deliver.HTTPOptions{NowFunc: clk.now})
	r := mustOpen(t, receiver.Options{Store: mustOpenSQLite(t), NowFunc: clk.now, RetentionEvery: 20 * time.Millisecond,
		Endpoints: []receiver.Endpoint{{Name: "stripe", Secrets: []string{testSecret}, Destinations: []deliver.Destination{d}}}})
	if code, _ := post(t, r.Handler(), receiver.DefaultPath, event("evt_swept")); code != 200 {
		t.Fatal(code)
	}
	waitState(t, r.Store(), "evt_swept", hookbox.StateDelivered)
	clk.advance(31 * 24 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, err := r.Store().FindEventByID(context.Background(), "evt_swept")
		if err == nil && len(ev.Body) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("body still there 10 s after it passed retention (%v): the loop does not run", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailingStore_LogsQuietly ensures a store that fails every commit (a
// full disk) writes a few "store commit failed" lines and a count, not one
// line per webhook.
func TestFailingStore_LogsQuietly(t *testing.T) {
	var logs lockedBuf
	s := &failingStore{Store: mustOpenSQLite(t)}
	s.fail.Store(true)
	r := mustOpen(t, receiver.Options{Store: s, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Endpoints: []receiver.Endpoint{{Name: "stripe", Secrets: []string{testSecret}}}})
	for i := range 200 {
		if code, _ := post(t, r.Handler(), receiver.DefaultPath, event(fmt.Sprintf("evt_full_%d", i))); code != 503 {
			t.Fatalf("webhook on a failing store: %d", code)
		}
	}
	if n := strings.Count(logs.String(), "store commit failed"); n == 0 || n > 10 {
		t.Fatalf("%d store-failure lines for 200 webhooks", n)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
