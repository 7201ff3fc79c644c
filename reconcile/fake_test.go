package reconcile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox/envelope"
)

// fakeStripe is a stateful stand-in for GET /v1/events: it filters and
// pages like Stripe (newest first, created[gte|gt|lte|lt], type with a
// trailing * wildcard, types[], delivery_success, limit up to 100,
// starting_after), checks the Bearer key, and can fail on demand.
type fakeStripe struct {
	t   testing.TB
	key string

	mu         sync.Mutex
	events     []fakeEvent // newest first
	fail       []fakeFailure
	repeatLast bool          // each later page starts again with the previous page's last event
	delay      time.Duration // before each answer
	requests   []fakeRequest
	inflight   int
	maxInfl    int
}

type fakeEvent struct {
	id, typ   string
	created   int64
	delivered bool // delivery_success=false leaves it out
	raw       []byte
}

type fakeFailure struct {
	status  int
	errType string
	code    string
	echo    bool // quote the Authorization header in the message, as stripe-mock does
}

type fakeRequest struct {
	Query   url.Values
	Account string // Stripe-Account header
	Status  int
}

func newFakeStripe(t testing.TB, key string) (*fakeStripe, *httptest.Server) {
	f := &fakeStripe{t: t, key: key}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// add stores raw events (Stripe JSON) and returns them newest first;
// delivered tells delivery_success.
func (f *fakeStripe) add(delivered bool, raws ...[]byte) []fakeEvent {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeEvent
	for _, raw := range raws {
		fl, err := envelope.Parse(raw)
		if err != nil {
			f.t.Fatalf("fake: %v", err)
		}
		e := fakeEvent{id: fl.ID, typ: fl.Type, created: fl.Created, delivered: delivered, raw: raw}
		f.events = append(f.events, e)
		out = append(out, e)
	}
	slices.SortStableFunc(f.events, newestFirst)
	slices.SortStableFunc(out, newestFirst)
	return out
}

// newestFirst is Stripe's list order.
func newestFirst(a, b fakeEvent) int {
	if a.created != b.created {
		return int(b.created - a.created)
	}
	return strings.Compare(b.id, a.id)
}

func (f *fakeStripe) failNext(fs ...fakeFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, fs...)
}

func (f *fakeStripe) reqs() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.inflight++
	f.maxInfl = max(f.maxInfl, f.inflight)
	delay := f.delay
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if delay > 0 {
		time.Sleep(delay) // simulated latency of the remote API, not a wait in a test
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	req := fakeRequest{Query: r.URL.Query(), Account: r.Header.Get("Stripe-Account")}
	status, body := f.answer(r, req.Query)
	req.Status = status
	f.requests = append(f.requests, req)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake"+strconv.Itoa(len(f.requests)))
	w.WriteHeader(status)
	w.Write(body)
}

func apiError(status int, typ, code, msg string) (int, []byte) {
	b, _ := json.MarshalIndent(map[string]any{"error": map[string]any{"type": typ, "code": code, "message": msg}}, "", "  ")
	return status, b
}

func (f *fakeStripe) answer(r *http.Request, q url.Values) (int, []byte) {
	if r.Method != http.MethodGet || r.URL.Path != "/v1/events" {
		return apiError(404, "invalid_request_error", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").")
	}
	auth := r.Header.Get("Authorization")
	if auth != "Bearer "+f.key {
		// Echo the header, as stripe-mock does: the client must not pass it on.
		return apiError(401, "invalid_request_error", "", "Invalid API Key provided. Authorization was '"+auth+"'.")
	}
	if len(f.fail) > 0 {
		fl := f.fail[0]
		f.fail = f.fail[1:]
		msg := "simulated failure"
		if fl.echo {
			msg += "; Authorization was '" + auth + "'"
		}
		return apiError(fl.status, fl.errType, fl.code, msg)
	}

	evs := slices.Clone(f.events)
	keep := func(pred func(fakeEvent) bool) {
		evs = slices.DeleteFunc(evs, func(e fakeEvent) bool { return !pred(e) })
	}
	for op, cmp := range map[string]func(c, v int64) bool{
		"gte": func(c, v int64) bool { return c >= v },
		"gt":  func(c, v int64) bool { return c > v },
		"lte": func(c, v int64) bool { return c <= v },
		"lt":  func(c, v int64) bool { return c < v },
	} {
		if s := q.Get("created[" + op + "]"); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return apiError(400, "invalid_request_error", "parameter_invalid_integer", "Invalid integer: "+s)
			}
			keep(func(e fakeEvent) bool { return cmp(e.created, v) })
		}
	}
	var types []string
	for k, vs := range q {
		if k == "types[]" || (strings.HasPrefix(k, "types[") && strings.HasSuffix(k, "]")) {
			types = append(types, vs...)
		}
	}
	if t := q.Get("type"); t != "" {
		if len(types) > 0 {
			return apiError(400, "invalid_request_error", "", "You may pass either type or types, but not both.")
		}
		keep(func(e fakeEvent) bool {
			if p, ok := strings.CutSuffix(t, "*"); ok {
				return strings.HasPrefix(e.typ, p)
			}
			return e.typ == t
		})
	}
	if len(types) > 0 {
		keep(func(e fakeEvent) bool { return slices.Contains(types, e.typ) })
	}
	if ds := q.Get("delivery_success"); ds == "false" {
		keep(func(e fakeEvent) bool { return !e.delivered })
	} else if ds == "true" {
		keep(func(e fakeEvent) bool { return e.delivered })
	}
	limit := 10
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return apiError(400, "invalid_request_error", "", "limit must be between 1 and 100")
		}
		limit = n
	}
	start := 0
	if after := q.Get("starting_after"); after != "" {
		i := slices.IndexFunc(evs, func(e fakeEvent) bool { return e.id == after })
		if i < 0 {
			return apiError(400, "invalid_request_error", "resource_missing", "No such event: '"+after+"'")
		}
		start = i + 1
		if f.repeatLast {
			start = i
		}
	}
	end := min(start+limit, len(evs))
	page := evs[start:end]

	var b bytes.Buffer
	b.WriteString("{\n  \"object\": \"list\",\n  \"data\": [")
	for i, e := range page {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		b.Write(e.raw)
	}
	fmt.Fprintf(&b, "\n  ],\n  \"has_more\": %t,\n  \"url\": \"/v1/events\"\n}\n", end < len(evs))
	return 200, b.Bytes()
}
