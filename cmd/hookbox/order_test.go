package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/stripesig"
)

// orderApp is a destination that checks what an app relying on --order
// object relies on: per Stripe object, events arrive in creation order
// (unless marked Hookbox-Late) and never two at once. Each request is held
// a little, so that two requests of one object would overlap.
type orderApp struct {
	srv  *httptest.Server
	hold time.Duration
	fail func(id string) bool // answer 503 to this event

	mu       sync.Mutex
	inflight map[string]int   // object -> requests in flight
	last     map[string]int64 // object -> created of the last delivered event
	order    map[string][]string
	late     map[string]string // event id -> Hookbox-Late
	bad      []string
	count    atomic.Int64
}

func newOrderApp(t *testing.T, hold time.Duration) *orderApp {
	a := &orderApp{hold: hold, inflight: map[string]int{}, last: map[string]int64{},
		order: map[string][]string{}, late: map[string]string{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *orderApp) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), forwardSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		a.fault("bad signature: " + err.Error())
		http.Error(w, "bad signature", 400)
		return
	}
	var obj struct {
		Data struct {
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		} `json:"data"`
	}
	json.Unmarshal(body, &obj)
	o := obj.Data.Object.ID
	late := r.Header.Get("Hookbox-Late")
	a.mu.Lock()
	a.inflight[o]++
	if a.inflight[o] > 1 {
		a.bad = append(a.bad, fmt.Sprintf("%s: %d requests of object %s at once", ev.ID, a.inflight[o], o))
	}
	a.mu.Unlock()
	time.Sleep(a.hold)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight[o]--
	if a.fail != nil && a.fail(ev.ID) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	if ev.Created < a.last[o] && late == "" {
		a.bad = append(a.bad, fmt.Sprintf("%s (created %d) after an event of %s created %d, without Hookbox-Late", ev.ID, ev.Created, o, a.last[o]))
	}
	if late != "" {
		a.late[ev.ID] = late
	}
	a.last[o] = max(a.last[o], ev.Created)
	a.order[o] = append(a.order[o], ev.ID)
	a.count.Add(1)
	w.WriteHeader(200)
}

func (a *orderApp) fault(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bad = append(a.bad, s)
}

func (a *orderApp) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.bad) > 0 {
		t.Fatalf("the app saw %d violations, first: %v", len(a.bad), a.bad[:min(5, len(a.bad))])
	}
}

func orderVars(t *testing.T, url string, extra ...string) map[string]string {
	vars, _ := deliverVars(t, url)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	vars["HOOKBOX_ORDER"] = "object"
	vars["HOOKBOX_ORDER_WINDOW"] = "400ms"
	vars["HOOKBOX_DELIVERY_CONCURRENCY"] = "16"
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return vars
}

func publicURL(m *receiver.Receiver) string { return "http://" + m.PublicAddr() + receiver.DefaultPath }

// TestOrder_Shuffled ensures that events of many objects, sent shuffled
// and concurrently, reach an app one object at a time in creation order,
// and that an older event sent after its object's newer ones were
// delivered arrives marked late (Hookbox-Late: the newer event's id).
func TestOrder_Shuffled(t *testing.T) {
	a := newOrderApp(t, 3*time.Millisecond)
	const window = 2 * time.Second
	m, _ := mustRunMain(t, orderVars(t, a.srv.URL, "HOOKBOX_ORDER_WINDOW", window.String()))
	const objects, per = 40, 5
	began := time.Now()
	if out, errOut, err := sendTestRun(t, sendTestVars(), "--shuffle", "--objects", fmt.Sprint(objects), "--events-per-object", fmt.Sprint(per),
		"--concurrency", "8", "--seed", "3", "--json", "--quiet", publicURL(m)); err != nil {
		t.Fatalf("send: %v\n%s\n%s", err, out, errOut)
	}
	sent := time.Since(began)
	waitFor(t, "every event delivered", 60*time.Second, func() bool { return a.count.Load() == objects*per })
	a.check(t)
	if len(a.order) != objects {
		t.Fatalf("%d objects delivered, want %d", len(a.order), objects)
	}
	// Sent within the window, nothing is late: the window put every
	// object right. (A machine too loaded to send 200 webhooks in the
	// window makes some late, legitimately: check.go still saw none
	// out of order without Hookbox-Late.)
	a.mu.Lock()
	late := len(a.late)
	a.mu.Unlock()
	if sent < window/2 && late != 0 {
		t.Fatalf("%d late events though all were sent in %v, within the %v window: %v", late, sent, window, a.late)
	}
	t.Logf("sent in %v; %d late", sent, late)

	// A late event: older than what its object already delivered.
	var obj, newest string
	for o, ids := range a.order {
		obj, newest = o, ids[len(ids)-1]
		break
	}
	body := fmt.Appendf(nil, `{"id":"evt_late_1","object":"event","api_version":"2025-10-29.clover","created":1000,"livemode":false,"type":"customer.subscription.updated","data":{"object":{"id":%q,"object":"subscription"}}}`, obj)
	if code, msg := postEvent(t, publicURL(m), body, stripesig.Sign(body, time.Now(), sendTestSecret)); code != 200 {
		t.Fatalf("late event: %d %s", code, msg)
	}
	waitFor(t, "the late event delivered", 20*time.Second, func() bool { return a.count.Load() == objects*per+1 })
	a.check(t)
	a.mu.Lock()
	got, lateSeen := a.late["evt_late_1"], len(a.late)
	a.mu.Unlock()
	if got != newest {
		t.Fatalf("Hookbox-Late = %q, want %q (the newest delivered event of %s)", got, newest, obj)
	}
	// Every event the app received with Hookbox-Late is counted: this one,
	// and those a loaded machine sent after the window.
	metrics := scrapeMetrics(t, m)
	if want := fmt.Sprintf(`hookbox_late_events_total{destination="forward"} %d`, lateSeen); !strings.Contains(metrics, want) {
		t.Fatalf("late counter, want %q:\n%s", want, grepLines(metrics, "hookbox_late"))
	}
}

// TestOrder_DeadHeadBlocks ensures a head that fails until dead holds the
// later events of its object (listed by events list --blocked, counted by
// hookbox_ordered_keys_blocked), other objects go on, and a replay
// delivers the head and then the rest in order; --late skip records a
// late event as skipped.
func TestOrder_DeadHeadBlocks(t *testing.T) {
	a := newOrderApp(t, time.Millisecond)
	var failing atomic.Bool
	failing.Store(true)
	a.fail = func(id string) bool { return failing.Load() && id == "evt_s1_1" }
	vars := orderVars(t, a.srv.URL, "HOOKBOX_MAX_ATTEMPTS", "2", "HOOKBOX_ORDER_WINDOW", "50ms", "HOOKBOX_LATE", "skip")
	m, _ := mustRunMain(t, vars)
	post := func(id, obj string, created int64) {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":%q,"object":"event","created":%d,"livemode":false,"type":"customer.subscription.updated","data":{"object":{"id":%q,"object":"subscription"}}}`, id, created, obj)
		if code, msg := postEvent(t, publicURL(m), body, stripesig.Sign(body, time.Now(), sendTestSecret)); code != 200 {
			t.Fatalf("%s: %d %s", id, code, msg)
		}
	}
	post("evt_s1_1", "sub_1", 100)
	post("evt_s1_2", "sub_1", 200)
	post("evt_s1_3", "sub_1", 300)
	post("evt_s2_1", "sub_2", 100)
	waitFor(t, "evt_s1_1 dead", 20*time.Second, func() bool { return eventState(t, m, "evt_s1_1") == hookbox.StateDead })
	waitFor(t, "the other object delivered", 10*time.Second, func() bool { return eventState(t, m, "evt_s2_1") == hookbox.StateDelivered })
	time.Sleep(200 * time.Millisecond) // what would have been delivered by now
	if st := eventState(t, m, "evt_s1_2"); st != hookbox.StatePending {
		t.Fatalf("evt_s1_2 is %s behind a dead head, want pending", st)
	}
	db := vars["HOOKBOX_DB"]
	out := cliRun(t, vars, "events", "list", "--blocked", "--db", db)
	if !strings.Contains(out, "evt_s1_1") || strings.Contains(out, "evt_s1_2") {
		t.Fatalf("events list --blocked:\n%s", out)
	}
	if metrics := scrapeMetrics(t, m); !strings.Contains(metrics, `hookbox_ordered_keys_blocked{destination="forward"} 1`) {
		t.Fatalf("blocked gauge:\n%s", grepLines(metrics, "hookbox_ordered"))
	}

	failing.Store(false)
	cliRun(t, vars, "events", "replay", "evt_s1_1", "--db", db)
	m.Store() // the CLI wrote to the same database; the worker polls it
	waitFor(t, "sub_1 delivered", 20*time.Second, func() bool { return eventState(t, m, "evt_s1_3") == hookbox.StateDelivered })
	a.check(t)
	a.mu.Lock()
	got := strings.Join(a.order["sub_1"], ",")
	a.mu.Unlock()
	if got != "evt_s1_1,evt_s1_2,evt_s1_3" {
		t.Fatalf("sub_1 delivered as %s", got)
	}

	// --late skip: an older event after the newer ones is skipped, not sent.
	post("evt_s1_0", "sub_1", 50)
	waitFor(t, "the late event settled", 20*time.Second, func() bool { return eventState(t, m, "evt_s1_0") == hookbox.StateDelivered })
	ds, err := m.Store().FindDeliveries(context.Background(), "evt_s1_0")
	if err != nil || len(ds) != 1 || !strings.Contains(ds[0].SkipReason, "evt_s1_3") {
		t.Fatalf("deliveries of the late event: %+v, %v", ds, err)
	}
	if show := cliRun(t, vars, "events", "show", "evt_s1_0", "--db", db); !strings.Contains(show, "skipped: late: evt_s1_3") {
		t.Fatalf("events show:\n%s", show)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, sent := a.late["evt_s1_0"]; sent || len(a.order["sub_1"]) != 3 {
		t.Fatalf("the skipped late event reached the app: %v", a.order["sub_1"])
	}
}

// cliRun runs a hookbox CLI command and returns its stdout; it fails t on
// an error.
func cliRun(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	env, out, errb := testEnv(vars)
	if err := run(context.Background(), env, args); err != nil {
		t.Fatalf("hookbox %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// scrapeMetrics returns the receiver's /metrics.
func scrapeMetrics(t *testing.T, m *receiver.Receiver) string {
	t.Helper()
	return scrape(t, "http://"+m.AdminAddr()+"/metrics")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestOrder_ReplicasPostgres ensures three "hookbox serve --order object"
// processes on one PostgreSQL database keep each object's order between
// them: the events of many objects, shuffled and sent round-robin to the
// three, reach the app one object at a time, in creation order (late ones,
// if the machine is slow enough to make any, marked), each exactly once.
func TestOrder_ReplicasPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three hookbox processes")
	}
	const objects, per = 60, 6
	a := newOrderApp(t, 2*time.Millisecond)
	bin := mustBuild(t)
	env := []string{"HOOKBOX_DB=" + pgtest.SchemaDSN(t), "STRIPE_WEBHOOK_SECRET=" + testSecret1,
		"HOOKBOX_FORWARD_TO=" + a.srv.URL, "HOOKBOX_FORWARD_SECRET=" + forwardSecret,
		"HOOKBOX_ORDER=object", "HOOKBOX_ORDER_WINDOW=2s", "HOOKBOX_DELIVERY_CONCURRENCY=16"}
	var procs []*proc
	for range 3 {
		procs = append(procs, startServe(t, bin, env))
	}
	type job struct {
		id, obj string
		created int64
	}
	var jobs []job
	for o := range objects {
		for e := range per {
			jobs = append(jobs, job{fmt.Sprintf("evt_r_%03d_%d", o, e), fmt.Sprintf("sub_%03d", o), int64(1_700_000_000 + e*60)})
		}
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for w := range 12 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				body := fmt.Appendf(nil, `{"id":%q,"object":"event","created":%d,"livemode":false,"type":"customer.subscription.updated","data":{"object":{"id":%q,"object":"subscription"}}}`, j.id, j.created, j.obj)
				url := "http://" + procs[(i+w)%3].public + receiver.DefaultPath
				if code, msg := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); code != 200 {
					t.Errorf("%s: %d %s", j.id, code, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "every event delivered", 90*time.Second, func() bool { return a.count.Load() >= objects*per })
	time.Sleep(300 * time.Millisecond) // a redelivery would show by now
	a.check(t)
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.count.Load(); n != objects*per {
		t.Fatalf("%d deliveries for %d events", n, objects*per)
	}
	for o, ids := range a.order {
		if len(ids) != per {
			t.Fatalf("object %s: %d events delivered, want %d", o, len(ids), per)
		}
	}
	t.Logf("%d late events (sent after the 2s window)", len(a.late))
}
