package notify

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
)

// Condition names, used in messages and as keys of the throttle.
const (
	ConditionDead               = "event_dead"
	ConditionDestinationFailing = "destination_failing"
	ConditionEndpointSilent     = "endpoint_silent"
	ConditionSignatureFailures  = "signature_failures"
	ConditionOldSecret          = "old_secret"
)

// Defaults of the conditions.
const (
	DefaultFailingAfter      = 10 * time.Minute
	DefaultSignatureFailures = 20
	DefaultSignatureWindow   = 10 * time.Minute
	DefaultOldSecretAfter    = 24 * time.Hour
	// OldSecretRecent: a non-first secret that matched this recently is
	// still in use; a longer gap ends a run of matches.
	OldSecretRecent = time.Hour
)

// Finding is one condition that holds now. Its key (Condition and
// Subject) identifies it across evaluations: it starts when the key first
// appears and resolves when it is gone.
type Finding struct {
	Condition string
	Subject   string
	Title     string // one line, no secret
	Text      string // details, no secret, no body
	Path      string // the console page, relative to the console URL ("/events?state=dead")
}

func (f Finding) key() string { return f.Condition + "\x00" + f.Subject }

// ConditionFunc reports the findings that hold at now. A condition kept
// elsewhere (a destination paused, its circuit breaker open) plugs in as
// one more ConditionFunc. An error skips the condition for this
// evaluation: its findings keep their state.
type ConditionFunc func(ctx context.Context, now time.Time) ([]Finding, error)

// DeadEvents holds while the store has more dead events than when the
// condition was first evaluated (the baseline, which follows the count
// down while it holds not): an event went dead. It resolves when the dead
// events are replayed, skipped or pruned back to the baseline. The count
// comes from the store, so every replica sees the same.
func DeadEvents(q interface {
	CountEvents(context.Context) (map[hookbox.State]int, time.Time, error)
}) ConditionFunc {
	var (
		mu       sync.Mutex
		baseline = -1
		holding  bool
	)
	return func(ctx context.Context, now time.Time) ([]Finding, error) {
		counts, _, err := q.CountEvents(ctx)
		if err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		dead := counts[hookbox.StateDead]
		mu.Lock()
		defer mu.Unlock()
		switch {
		case baseline < 0:
			baseline = dead
		case dead <= baseline:
			baseline, holding = dead, false
		default:
			holding = true
		}
		if !holding {
			return nil, nil
		}
		return []Finding{{
			Condition: ConditionDead, Subject: "store",
			Title: fmt.Sprintf("%d new dead event(s)", dead-baseline),
			Text: fmt.Sprintf("%d event(s) went dead (every retry failed); %d dead in all. Replay or skip them in the console; "+
				"this resolves when the dead count is back to %d.", dead-baseline, dead, baseline),
			Path: "/events?state=dead",
		}}, nil
	}
}

// DestinationFailing holds for a destination whose attempts have all
// failed for at least after (since its last success), as t saw them. It
// resolves at its next successful attempt.
func DestinationFailing(t *Tracker, after time.Duration) ConditionFunc {
	return func(_ context.Context, now time.Time) ([]Finding, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		var fs []Finding
		for name, d := range t.dests {
			if d.fails == 0 || now.Sub(d.failingSince) < after {
				continue
			}
			status := "no response"
			if d.lastStatus != 0 {
				status = fmt.Sprintf("HTTP %d", d.lastStatus)
			}
			fs = append(fs, Finding{
				Condition: ConditionDestinationFailing, Subject: name,
				Title: fmt.Sprintf("destination %s failing", name),
				Text: fmt.Sprintf("%d attempt(s) failed since %s, none succeeded; the last at %s (%s).",
					d.fails, d.failingSince.UTC().Format(time.RFC3339), d.lastFail.UTC().Format(time.RFC3339), status),
				Path: "/events?state=pending",
			})
		}
		return sorted(fs), nil
	}
}

// EndpointSilent holds for an endpoint of limits that has stored no new
// event for longer than its limit (counted from the Tracker's start when
// it has seen none).
func EndpointSilent(t *Tracker, limits map[string]time.Duration) ConditionFunc {
	return func(_ context.Context, now time.Time) ([]Finding, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		var fs []Finding
		for name, limit := range limits {
			last := t.started
			if e := t.eps[name]; e != nil && e.lastEvent.After(last) {
				last = e.lastEvent
			}
			if now.Sub(last) <= limit {
				continue
			}
			fs = append(fs, Finding{
				Condition: ConditionEndpointSilent, Subject: name,
				Title: fmt.Sprintf("endpoint %s: no event for %s", name, limit),
				Text:  fmt.Sprintf("Endpoint %s has received no new event since %s. Check the Stripe endpoint (enabled? right URL?) and the way in.", name, last.UTC().Format(time.RFC3339)),
				Path:  "/",
			})
		}
		return sorted(fs), nil
	}
}

// SignatureFailures holds for an endpoint with at least n failed signature
// verifications in the last window.
func SignatureFailures(t *Tracker, n int, window time.Duration) ConditionFunc {
	return func(_ context.Context, now time.Time) ([]Finding, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		var fs []Finding
		for name, e := range t.eps {
			i := sort.Search(len(e.failures), func(i int) bool { return now.Sub(e.failures[i]) < window })
			e.failures = e.failures[i:]
			if len(e.failures) < n {
				continue
			}
			fs = append(fs, Finding{
				Condition: ConditionSignatureFailures, Subject: name,
				Title: fmt.Sprintf("endpoint %s: %d signature failures in %s", name, len(e.failures), window),
				Text:  fmt.Sprintf("Requests to endpoint %s fail signature verification: a wrong or rotated secret, or someone probing. See hookbox_signature_failures_total by reason.", name),
				Path:  "/",
			})
		}
		return sorted(fs), nil
	}
}

// OldSecret holds for an endpoint where a secret other than the first
// (the old one of a rotation) matched within OldSecretRecent, and its
// matches began more than after ago: the rotation is not finished.
func OldSecret(t *Tracker, after time.Duration) ConditionFunc {
	return func(_ context.Context, now time.Time) ([]Finding, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		var fs []Finding
		for name, e := range t.eps {
			if e.oldLast.IsZero() || now.Sub(e.oldLast) > OldSecretRecent || now.Sub(e.oldFirst) < after {
				continue
			}
			fs = append(fs, Finding{
				Condition: ConditionOldSecret, Subject: name,
				Title: fmt.Sprintf("endpoint %s: secret #%d still matching", name, e.matchedIndex),
				Text: fmt.Sprintf("Endpoint %s's secret at position %d has matched since %s: Stripe still signs with the old secret. "+
					"Finish the rotation in the Dashboard (expire the old secret), then remove it from hookbox.", name, e.matchedIndex, e.oldFirst.UTC().Format(time.RFC3339)),
				Path: "/",
			})
		}
		return sorted(fs), nil
	}
}

func sorted(fs []Finding) []Finding {
	sort.Slice(fs, func(i, j int) bool { return fs[i].key() < fs[j].key() })
	return fs
}

// link joins the console's base URL and a page path.
func link(base, path string) string {
	if base == "" {
		return ""
	}
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	p, err := url.Parse(path)
	if err != nil {
		return base
	}
	u.Path = trimSlash(u.Path) + p.Path
	u.RawQuery = p.RawQuery
	return u.String()
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
