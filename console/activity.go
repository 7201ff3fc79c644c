package console

import (
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
)

// activityMinutes is how far back Activity remembers: one slot a minute.
const activityMinutes = 24 * 60

// Outcomes that Activity.Record counts. They are the names ingest gives
// its results (ingest.Outcome); any other outcome counts as a rejection
// under its reason, or its own name when the reason is empty.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeNotDelivered = "not_delivered" // sync mode: stored, not delivered yet
)

// Activity counts what the store does not keep, per minute, for the last 24
// hours: requests received at ingest by outcome, rejections by reason,
// which secret position verified them, and delivery attempts. It is safe
// for concurrent use; the zero value is not, use NewActivity. Counts live
// in memory and start again at zero when the process restarts.
type Activity struct {
	mu    sync.Mutex
	slots [activityMinutes]slot
	// failures are the last LastFailures failed attempts of each
	// destination, newest first (the destinations page).
	failures map[string][]Failure
}

// LastFailures is how many failed attempts of each destination Activity
// keeps for the destinations page.
const LastFailures = 3

// maxFailureError bounds the error text kept of a failed attempt.
const maxFailureError = 300

// Failure is one failed delivery attempt as Activity keeps it: no
// response body.
type Failure struct {
	At         time.Time // when the attempt started
	EventID    string
	Number     int    // the Hookbox-Attempt header it sent
	StatusCode int    // 0: no response arrived
	Error      string // the attempt's error, cut to 300 bytes
}

type slot struct {
	minute     int64 // unix minute held, 0: empty
	received   int
	duplicates int
	rejected   map[string]int
	secrets    map[int]int
	delivered  int // attempts that succeeded
	failed     int // attempts that failed
}

// NewActivity returns an empty Activity.
func NewActivity() *Activity { return &Activity{} }

// slotAt returns the slot of t's minute, emptied if it held an older
// minute. The caller holds a.mu.
func (a *Activity) slotAt(t time.Time) *slot {
	m := t.Unix() / 60
	s := &a.slots[m%activityMinutes]
	if s.minute != m {
		*s = slot{minute: m}
	}
	return s
}

// Record counts one ingest request at time at. outcome and reason are
// ingest.Result's Outcome and Reason; secretIndex is the position of the
// secret that verified the request (Result.Event.SecretIndex), or -1 when
// none did. A request stored (accepted, not_delivered) counts as received,
// a duplicate as a duplicate, anything else as rejected by reason.
func (a *Activity) Record(outcome, reason string, secretIndex int, at time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slotAt(at)
	switch outcome {
	case OutcomeAccepted, OutcomeNotDelivered:
		s.received++
	case OutcomeDuplicate:
		s.duplicates++
	default:
		if reason == "" {
			reason = outcome
		}
		if s.rejected == nil {
			s.rejected = map[string]int{}
		}
		s.rejected[reason]++
	}
	if secretIndex >= 0 {
		if s.secrets == nil {
			s.secrets = map[int]int{}
		}
		s.secrets[secretIndex]++
	}
}

// RecordAttempt counts one delivery attempt (deliver.Worker.OnAttempt).
func (a *Activity) RecordAttempt(at hookbox.Attempt) {
	if a == nil {
		return
	}
	t := at.StartedAt.Add(at.Duration)
	if at.StartedAt.IsZero() {
		t = time.Now()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slotAt(t)
	if at.OK {
		s.delivered++
		return
	}
	s.failed++
	if a.failures == nil {
		a.failures = map[string][]Failure{}
	}
	f := Failure{At: at.StartedAt, EventID: at.EventID, Number: at.Number, StatusCode: at.StatusCode, Error: cut(at.Error, maxFailureError)}
	if f.At.IsZero() {
		f.At = t
	}
	fs := a.failures[at.Destination]
	i := 0
	for i < len(fs) && !fs[i].At.Before(f.At) {
		i++ // an attempt that finished late goes in its place
	}
	if i >= LastFailures {
		return
	}
	fs = slices.Insert(fs, i, f)
	a.failures[at.Destination] = fs[:min(len(fs), LastFailures)]
}

// Failures returns the last failed attempts of destination that this
// process made, newest first (at most LastFailures).
func (a *Activity) Failures(destination string) []Failure {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.failures[destination])
}

// cut returns s cut to at most n bytes, on a rune boundary, with "…" when
// cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Totals are Activity's counts over a span of time.
type Totals struct {
	Received   int
	Duplicates int
	Rejected   int
	// RejectedBy counts rejections by reason, largest first.
	RejectedBy []Count
	// Secrets counts verified requests by secret position, in position
	// order, with the last minute each was seen.
	Secrets   []SecretCount
	Delivered int // successful delivery attempts
	Failed    int // failed delivery attempts
}

// Count is a number of requests under a name.
type Count struct {
	Name string
	N    int
}

// SecretCount is how many requests one secret position verified.
type SecretCount struct {
	Index    int
	N        int
	LastSeen time.Time // start of the last minute it matched
}

// Totals sums the minutes from since to now (whole minutes, at most 24 h).
func (a *Activity) Totals(since, now time.Time) Totals {
	var t Totals
	if a == nil {
		return t
	}
	from, to := since.Unix()/60, now.Unix()/60
	rejected := map[string]int{}
	secrets := map[int]*SecretCount{}
	a.mu.Lock()
	for i := range a.slots {
		s := &a.slots[i]
		if s.minute == 0 || s.minute < from || s.minute > to || s.minute <= to-activityMinutes {
			continue
		}
		t.Received += s.received
		t.Duplicates += s.duplicates
		t.Delivered += s.delivered
		t.Failed += s.failed
		for r, n := range s.rejected {
			rejected[r] += n
			t.Rejected += n
		}
		for idx, n := range s.secrets {
			sc := secrets[idx]
			if sc == nil {
				sc = &SecretCount{Index: idx}
				secrets[idx] = sc
			}
			sc.N += n
			if at := time.Unix(s.minute*60, 0).UTC(); at.After(sc.LastSeen) {
				sc.LastSeen = at
			}
		}
	}
	a.mu.Unlock()
	for r, n := range rejected {
		t.RejectedBy = append(t.RejectedBy, Count{r, n})
	}
	sort.Slice(t.RejectedBy, func(i, j int) bool {
		if t.RejectedBy[i].N != t.RejectedBy[j].N {
			return t.RejectedBy[i].N > t.RejectedBy[j].N
		}
		return t.RejectedBy[i].Name < t.RejectedBy[j].Name
	})
	for _, sc := range secrets {
		t.Secrets = append(t.Secrets, *sc)
	}
	sort.Slice(t.Secrets, func(i, j int) bool { return t.Secrets[i].Index < t.Secrets[j].Index })
	return t
}

// Point is one minute of the rate chart.
type Point struct {
	Minute     time.Time // start of the minute, UTC
	Received   int       // stored (new) events
	Duplicates int
	Rejected   int
}

// Series returns the last n minutes up to now's minute, oldest first, one
// point a minute (zero for a minute without activity).
func (a *Activity) Series(now time.Time, n int) []Point {
	n = min(max(n, 0), activityMinutes)
	pts := make([]Point, n)
	to := now.Unix() / 60
	for i := range pts {
		pts[i].Minute = time.Unix((to-int64(n-1-i))*60, 0).UTC()
	}
	if a == nil {
		return pts
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range pts {
		m := to - int64(n-1-i)
		s := &a.slots[m%activityMinutes]
		if s.minute != m {
			continue
		}
		pts[i].Received = s.received
		pts[i].Duplicates = s.duplicates
		for _, c := range s.rejected {
			pts[i].Rejected += c
		}
	}
	return pts
}
