package receiver

import (
	"context"
	"fmt"
	"sync"

	"github.com/hookbox/hookbox"
)

// HeaderVersionNote is the header recorded on an event recovered by
// reconcile in another API version than its endpoint delivers in: Stripe's
// events API renders an event in the version current when it was created,
// not in the endpoint's pinned one.
const HeaderVersionNote = "Hookbox-Version-Note"

// endpointVersions remembers the API version each endpoint's webhooks
// arrive in (the version the Stripe endpoint is pinned to, as observed),
// so that a reconciled event in another version is marked.
type endpointVersions struct {
	first string // the default endpoint: reconciled events are its
	mu    sync.Mutex
	v     map[string]string
}

func newEndpointVersions(eps []Endpoint) *endpointVersions {
	e := &endpointVersions{v: map[string]string{}}
	if len(eps) > 0 {
		e.first = eps[0].Name
	}
	return e
}

func (e *endpointVersions) name(endpoint string) string {
	if endpoint == "" {
		return e.first
	}
	return endpoint
}

// seed reads the version of the newest stored webhook of each endpoint
// among the newest events (best effort: nothing on an error).
func (e *endpointVersions) seed(ctx context.Context, s hookbox.Store) {
	evs, err := s.FindEvents(ctx, hookbox.EventFilter{Limit: 500})
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range evs { // newest first
		if ev.Source != hookbox.SourceWebhook || ev.APIVersion == "" {
			continue
		}
		if n := e.name(ev.Endpoint); e.v[n] == "" {
			e.v[n] = ev.APIVersion
		}
	}
}

// insert wraps insert: webhooks teach their endpoint's version; a
// reconciled event in another version gets HeaderVersionNote (and is held
// by the destinations that state a version it is not compatible with,
// like any event).
func (e *endpointVersions) insert(insert hookbox.InsertFunc) hookbox.InsertFunc {
	return func(ctx context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
		e.mu.Lock()
		for _, ev := range events {
			if ev == nil || ev.APIVersion == "" {
				continue
			}
			n := e.name(ev.Endpoint)
			switch {
			case ev.Source == hookbox.SourceWebhook:
				e.v[n] = ev.APIVersion
			case ev.Source == hookbox.SourceReconcile && e.v[n] != "" && e.v[n] != ev.APIVersion:
				h := make(map[string]string, len(ev.Headers)+1)
				for k, v := range ev.Headers {
					h[k] = v
				}
				h[HeaderVersionNote] = fmt.Sprintf("recovered by reconcile in API version %s; endpoint %s delivers %s", ev.APIVersion, n, e.v[n])
				ev.Headers = h
			}
		}
		e.mu.Unlock()
		return insert(ctx, events)
	}
}
