// Package stripeapitest starts stripe-mock for tests, and is a stateful stand-in for Stripe's webhook
// endpoints API (/v1/webhook_endpoints), for the cases stripe-mock cannot
// express: it returns canned fixtures, never a disabled endpoint, a
// pinned version it was not sent, or a secret.
package stripeapitest

import (
	"encoding/json"
	"fmt"
	"github.com/hookbox/hookbox/internal/stripemock"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Endpoint is a webhook endpoint as the fake stores it.
type Endpoint struct {
	ID            string   `json:"id"`
	Object        string   `json:"object"`
	URL           string   `json:"url"`
	Status        string   `json:"status"`
	APIVersion    *string  `json:"api_version"`
	EnabledEvents []string `json:"enabled_events"`
	Description   string   `json:"description"`
	Livemode      bool     `json:"livemode"`
	Created       int64    `json:"created"`
	Secret        string   `json:"secret,omitempty"` // only in the answer to a create
}

// Fake serves /v1/webhook_endpoints for one API key.
type Fake struct {
	Key string
	URL string // the server's base URL

	mu        sync.Mutex
	endpoints []Endpoint
	next      int
	lists     int
	failWith  int // status of every answer while set
}

// New starts a fake on an httptest server, closed at the test's end.
func New(tb testing.TB, key string) *Fake {
	f := &Fake{Key: key}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Add stores an endpoint (ID and Object filled in when empty) and returns
// its id.
func (f *Fake) Add(e Endpoint) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(e)
}

func (f *Fake) add(e Endpoint) string {
	f.next++
	if e.ID == "" {
		e.ID = fmt.Sprintf("we_fake%d", f.next)
	}
	e.Object = "webhook_endpoint"
	if e.Status == "" {
		e.Status = "enabled"
	}
	if e.Created == 0 {
		e.Created = 1767225600 + int64(f.next)
	}
	e.Secret = ""
	f.endpoints = append(f.endpoints, e)
	return e.ID
}

// SetStatus sets an endpoint's status ("enabled", "disabled").
func (f *Fake) SetStatus(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.find(id); i >= 0 {
		f.endpoints[i].Status = status
	}
}

// Endpoints returns a copy of the stored endpoints.
func (f *Fake) Endpoints() []Endpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.endpoints)
}

// Lists counts the list requests served.
func (f *Fake) Lists() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// FailWith makes every answer an error of this status (0: stop failing).
func (f *Fake) FailWith(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith = status
}

func (f *Fake) find(id string) int {
	return slices.IndexFunc(f.endpoints, func(e Endpoint) bool { return e.ID == id })
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.Key {
		writeError(w, http.StatusUnauthorized, "Invalid API Key provided")
		return
	}
	if f.failWith != 0 {
		writeError(w, f.failWith, "the fake fails on demand")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad form")
		return
	}
	id, hasID := strings.CutPrefix(r.URL.Path, "/v1/webhook_endpoints/")
	switch {
	case r.URL.Path == "/v1/webhook_endpoints" && r.Method == http.MethodGet:
		f.lists++
		writeJSON(w, map[string]any{"object": "list", "url": "/v1/webhook_endpoints", "has_more": false, "data": f.endpoints})
	case r.URL.Path == "/v1/webhook_endpoints" && r.Method == http.MethodPost:
		f.create(w, r.PostForm)
	case hasID && f.find(id) < 0:
		writeError(w, http.StatusNotFound, "No such webhook endpoint: '"+id+"'")
	case hasID && r.Method == http.MethodGet:
		writeJSON(w, f.endpoints[f.find(id)])
	case hasID && r.Method == http.MethodPost:
		f.update(w, f.find(id), r.PostForm)
	case hasID && r.Method == http.MethodDelete:
		f.endpoints = slices.Delete(f.endpoints, f.find(id), f.find(id)+1)
		writeJSON(w, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
	default:
		writeError(w, http.StatusNotFound, "Unrecognized request URL")
	}
}

func (f *Fake) create(w http.ResponseWriter, form url.Values) {
	e := Endpoint{URL: form.Get("url"), EnabledEvents: formList(form, "enabled_events"), Description: form.Get("description")}
	if v := form.Get("api_version"); v != "" {
		e.APIVersion = &v
	}
	if e.URL == "" || len(e.EnabledEvents) == 0 {
		writeError(w, http.StatusBadRequest, "Missing required param: url or enabled_events.")
		return
	}
	id := f.add(e)
	out := f.endpoints[f.find(id)]
	out.Secret = "whsec_fake" + strings.Repeat("0", 24) + id
	writeJSON(w, out)
}

func (f *Fake) update(w http.ResponseWriter, i int, form url.Values) {
	e := &f.endpoints[i]
	if v := form.Get("url"); v != "" {
		e.URL = v
	}
	if ev := formList(form, "enabled_events"); len(ev) > 0 {
		e.EnabledEvents = ev
	}
	if form.Has("description") {
		e.Description = form.Get("description")
	}
	switch form.Get("disabled") {
	case "true":
		e.Status = "disabled"
	case "false":
		e.Status = "enabled"
	}
	writeJSON(w, *e)
}

// formList reads name[0], name[1], ... (stripe-go's encoding) or name[].
func formList(form url.Values, name string) []string {
	var keys []string
	for k := range form {
		if strings.HasPrefix(k, name+"[") {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		return len(keys[a]) < len(keys[b]) || len(keys[a]) == len(keys[b]) && keys[a] < keys[b]
	})
	var out []string
	for _, k := range keys {
		out = append(out, form[k]...)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": msg}})
}

// StartStripeMock runs stripe-mock on ports the system picks and returns
// its HTTP base URL (internal/stripemock.Start).
func StartStripeMock(tb testing.TB) string { return stripemock.Start(tb) }
