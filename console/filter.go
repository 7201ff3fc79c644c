package console

import (
	"encoding/base64"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// filter is the selection of the events list, the API listing and a
// replay by filter, as read from a query string (or a JSON body).
type filter struct {
	State       string `json:"state,omitempty"`
	Type        string `json:"type,omitempty"` // exact, or a prefix ending in "*"
	Since       string `json:"since,omitempty"`
	Until       string `json:"until,omitempty"`
	Destination string `json:"destination,omitempty"`
	Q           string `json:"q,omitempty"` // an event id or an object id
	// Blocked keeps the dead events that hold their ordered key
	// (hookbox.EventFilter.Blocked): the later events of their Stripe
	// object wait behind each.
	Blocked bool `json:"blocked,omitempty"`
	// Version keeps the events of that Stripe API version: exact, or a
	// release train (hookbox.EventFilter.APIVersion).
	Version string `json:"api_version,omitempty"`

	since, until time.Time
}

// DefaultObjectSearchSince is the time range of an object-id search given
// without a Since: the last day (about 25 ms on a store of 1,000,000 events
// over 30 days; the whole store takes about 0.7 us per event).
const DefaultObjectSearchSince = "24h"

// parseFilter reads a filter from a query string. Times are RFC 3339, or a
// date and time without zone (read as UTC, what an HTML datetime-local
// field sends), or a duration meaning "that long ago" (since=1h). blocked
// is a boolean (true, 1, false, 0).
func parseFilter(v url.Values, now time.Time) (filter, error) {
	f := filter{
		State:       strings.TrimSpace(v.Get("state")),
		Type:        strings.TrimSpace(v.Get("type")),
		Since:       strings.TrimSpace(v.Get("since")),
		Until:       strings.TrimSpace(v.Get("until")),
		Destination: strings.TrimSpace(v.Get("destination")),
		Q:           strings.TrimSpace(v.Get("q")),
		Version:     strings.TrimSpace(v.Get("api_version")),
	}
	if b := strings.TrimSpace(v.Get("blocked")); b != "" {
		var err error
		if f.Blocked, err = strconv.ParseBool(b); err != nil {
			return f, hookbox.Errorf(hookbox.EINVALID, "blocked must be true or false")
		}
	}
	return f, f.parse(now)
}

// parse checks f and reads its times.
func (f *filter) parse(now time.Time) error {
	if f.State != "" && f.State != StateHeld && !hookbox.State(f.State).Valid() {
		return hookbox.Errorf(hookbox.EINVALID, "unknown state %q", f.State)
	}
	if f.Q != "" && !isEventID(f.Q) && f.Since == "" {
		// An object-id search reads the bodies of the events in its time
		// range (no index of object ids: it would cost every ingest), so
		// without a Since it covers the last day, shown in the form.
		f.Since = DefaultObjectSearchSince
	}
	var err error
	if f.since, err = parseTime(f.Since, now); err != nil {
		return hookbox.Errorf(hookbox.EINVALID, "since: %v", err)
	}
	if f.until, err = parseTime(f.Until, now); err != nil {
		return hookbox.Errorf(hookbox.EINVALID, "until: %v", err)
	}
	return nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, hookbox.Errorf(hookbox.EINVALID, "%q is not a time (2006-01-02T15:04:05Z) nor a duration (1h)", s)
}

// isEventID reports whether q looks like a Stripe event id.
func isEventID(q string) bool {
	return strings.HasPrefix(q, "evt_") || strings.HasPrefix(q, "evt.")
}

// StateHeld is the state filter of the events with a delivery held for
// its API version (hookbox.EventFilter.Held): pending events, listed apart.
const StateHeld = "held"

// query returns the store query of f (cursor and limit set by the caller).
func (f filter) query() hookbox.EventQuery {
	state, held := hookbox.State(f.State), f.State == StateHeld
	if held {
		state = ""
	}
	q := hookbox.EventQuery{
		EventFilter: hookbox.EventFilter{Type: f.Type, State: state, Since: f.since, Blocked: f.Blocked, Held: held, APIVersion: f.Version},
		Until:       f.until,
		Destination: f.Destination,
	}
	if f.Q != "" && !isEventID(f.Q) {
		q.ObjectID = f.Q
	}
	return q
}

// needsSearch reports whether f uses a filter that only an
// hookbox.EventSearcher serves.
func (f filter) needsSearch() bool {
	return !f.until.IsZero() || f.Destination != "" || (f.Q != "" && !isEventID(f.Q))
}

// empty reports whether f selects every event.
func (f filter) empty() bool { return f == (filter{}) }

// values returns f as query parameters (empty ones left out).
func (f filter) values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"state", f.State}, {"type", f.Type}, {"since", f.Since}, {"until", f.Until}, {"destination", f.Destination}, {"q", f.Q}, {"api_version", f.Version}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if f.Blocked {
		v.Set("blocked", "true")
	}
	return v
}

// Link returns the address of path with f's parameters and the extra
// key-value pairs, for templates (a typed URL, so that html/template keeps
// the query's & and = instead of escaping them).
func (f filter) Link(path string, kv ...string) template.URL {
	v := f.values()
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	if len(v) == 0 {
		return template.URL(path)
	}
	return template.URL(path + "?" + v.Encode())
}

// Cursor returns the keyset position after ev in the newest-first listing
// (its receive time and id, opaque to clients): the "next" of GET
// /api/events, its before= parameter, and `hookbox events list --before`.
func Cursor(ev *hookbox.Event) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ev.ReceivedAt.UnixNano(), 10) + ":" + ev.ID))
}

// ParseCursor returns the position a Cursor holds, for
// EventFilter.BeforeReceivedAt and BeforeID (zero for ""); an EINVALID
// error for a string that is not a cursor.
func ParseCursor(s string) (time.Time, string, error) {
	if s == "" {
		return time.Time{}, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		ns, id, ok := strings.Cut(string(b), ":")
		if n, err := strconv.ParseInt(ns, 10, 64); ok && err == nil && n > 0 {
			return time.Unix(0, n).UTC(), id, nil
		}
	}
	return time.Time{}, "", hookbox.Errorf(hookbox.EINVALID, "invalid cursor")
}

// Fields returns f's non-empty parameters, for hidden form fields.
func (f filter) Fields() map[string]string {
	m := map[string]string{}
	for k, v := range f.values() {
		m[k] = v[0]
	}
	return m
}
