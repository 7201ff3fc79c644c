// Package thintest is a stateful fake of Stripe's v2 events API
// (GET /v2/core/events/{id} and GET /v2/core/events) on an httptest
// server, for the tests of hookbox's thin-event fetching and reconcile.
// It serves what stripe-mock does not: stripe-mock (checked with v0.203.0
// and master) answers 404 "Unrecognized request URL" to both paths.
package thintest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Event is one event the fake API holds.
type Event struct {
	ID, Type    string
	Created     time.Time
	Livemode    bool
	Context     string // "" for none
	RelatedID   string // "" for none
	RelatedType string
	// SnapshotEvent, when set, is the snapshot event this thin event
	// duplicates (Stripe's snapshot-to-thin migration): the fetched form's
	// snapshot_event.
	SnapshotEvent string
}

// Full is the event as GET /v2/core/events/{id} returns it.
func (e Event) Full() []byte {
	m := e.fields()
	m["data"] = map[string]any{"fake": true, "related_id": e.RelatedID}
	if e.SnapshotEvent != "" {
		m["snapshot_event"] = e.SnapshotEvent
	}
	b, _ := json.Marshal(m)
	return b
}

// Notification is the thin notification an event destination sends.
func (e Event) Notification() []byte {
	b, _ := json.Marshal(e.fields())
	return b
}

func (e Event) fields() map[string]any {
	m := map[string]any{
		"id": e.ID, "object": "v2.core.event", "type": e.Type, "livemode": e.Livemode,
		"created": e.Created.UTC().Format(time.RFC3339Nano),
	}
	if e.Context != "" {
		m["context"] = e.Context
	}
	if e.RelatedID != "" {
		m["related_object"] = map[string]any{"id": e.RelatedID, "type": e.RelatedType, "url": "/v1/billing/meters/" + e.RelatedID}
	}
	return m
}

// Request is one request the fake API received.
type Request struct {
	Path, Query            string
	StripeContext, Trigger string
}

// API is the fake. Its fields may be changed between requests (under no
// concurrent use of the same field by the test).
type API struct {
	Key      string // the only key accepted
	PageSize int    // 0: the limit asked, at most 100

	srv *httptest.Server
	mu  sync.Mutex
	// events, newest first (the list order).
	events []Event
	// fail429 counts the 429s still to answer per path key ("list" or an
	// event id); retryAfter is their Retry-After.
	fail429    map[string]int
	retryAfter string
	requests   []Request
}

// New starts a fake API accepting key; it is closed when tb ends.
func New(tb testing.TB, key string) *API {
	a := &API{Key: key, fail429: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	tb.Cleanup(a.srv.Close)
	return a
}

// URL is the API base URL (HOOKBOX_STRIPE_API_BASE).
func (a *API) URL() string { return a.srv.URL }

// Add adds events.
func (a *API) Add(evs ...Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range evs {
		i := 0
		for i < len(a.events) && !ev.Created.After(a.events[i].Created) {
			i++
		}
		a.events = append(a.events[:i], append([]Event{ev}, a.events[i:]...)...)
	}
}

// RateLimit makes the next n requests for key ("list", or an event id)
// answer 429 with Retry-After retryAfter (seconds).
func (a *API) RateLimit(key string, n int, retryAfter string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail429[key] = n
	a.retryAfter = retryAfter
}

// Requests returns the requests received so far.
func (a *API) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

// Retrieves counts the GET /v2/core/events/{id} requests for id.
func (a *API) Retrieves(id string) int {
	n := 0
	for _, r := range a.Requests() {
		if r.Path == "/v2/core/events/"+id {
			n++
		}
	}
	return n
}

func writeErr(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "code": code, "message": msg}})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, Request{Path: r.URL.Path, Query: r.URL.RawQuery,
		StripeContext: r.Header.Get("Stripe-Context"), Trigger: r.Header.Get("Stripe-Request-Trigger")})
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake_%d", len(a.requests)))
	if r.Method != http.MethodGet {
		writeErr(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "GET only")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+a.Key {
		// Stripe quotes (a masked form of) the key: the client must scrub.
		writeErr(w, http.StatusUnauthorized, "invalid_request_error", "unauthorized", "Invalid API Key provided: "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		return
	}
	key := "list"
	if id, ok := strings.CutPrefix(r.URL.Path, "/v2/core/events/"); ok {
		key = id
	} else if r.URL.Path != "/v2/core/events" {
		writeErr(w, http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL")
		return
	}
	if a.fail429[key] > 0 {
		a.fail429[key]--
		w.Header().Set("Retry-After", a.retryAfter)
		writeErr(w, http.StatusTooManyRequests, "rate_limit", "rate_limit", "Too many requests")
		return
	}
	if key != "list" {
		for _, ev := range a.events {
			if ev.ID == key {
				if ev.Context != r.Header.Get("Stripe-Context") {
					writeErr(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such event in this context")
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write(ev.Full())
				return
			}
		}
		writeErr(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such event: "+key)
		return
	}
	a.list(w, r.URL.Query())
}

// list serves one page: created[gte|gt|lte|lt] (RFC 3339 or unix
// seconds), limit, and page (an offset token the fake hands out in
// next_page_url, which repeats the filters).
func (a *API) list(w http.ResponseWriter, q url.Values) {
	var matched []Event
	for _, ev := range a.events {
		ok := true
		for _, op := range []string{"gte", "gt", "lte", "lt"} {
			v := q.Get("created[" + op + "]")
			if v == "" {
				continue
			}
			t, err := parseTime(v)
			if err != nil {
				writeErr(w, http.StatusBadRequest, "invalid_request_error", "", "created["+op+"]: "+err.Error())
				return
			}
			c := ev.Created.Truncate(time.Second)
			switch op {
			case "gte":
				ok = ok && !c.Before(t)
			case "gt":
				ok = ok && c.After(t)
			case "lte":
				ok = ok && !c.After(t)
			case "lt":
				ok = ok && c.Before(t)
			}
		}
		if ok {
			matched = append(matched, ev)
		}
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	if a.PageSize > 0 {
		limit = a.PageSize
	}
	off, _ := strconv.Atoi(q.Get("page"))
	end := min(off+limit, len(matched))
	off = min(off, end)
	data := make([]json.RawMessage, 0, end-off)
	for _, ev := range matched[off:end] {
		data = append(data, ev.Full())
	}
	var next *string
	if end < len(matched) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("page", strconv.Itoa(end))
		s := "/v2/core/events?" + nq.Encode()
		next = &s
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data, "next_page_url": next, "previous_page_url": nil})
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time")
	}
	return time.Unix(n, 0), nil
}
