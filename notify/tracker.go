package notify

import (
	"sync"
	"time"

	"github.com/hookbox/hookbox"
)

// Tracker keeps what this process has seen of ingest and delivery, for
// the conditions the store does not answer: signature failures, secret
// matches, the last event of each endpoint, each destination's last
// success and failures. Feed it from ingest's OnResult (Ingest) and the
// delivery worker's OnAttempt (Attempt). It is safe for concurrent use.
//
// It is in memory, per process: with several replicas, the conditions
// built on it see the sending replica's traffic (see the README).
type Tracker struct {
	mu      sync.Mutex
	started time.Time
	eps     map[string]*endpointSeen
	dests   map[string]*destSeen
}

type endpointSeen struct {
	lastEvent    time.Time
	failures     []time.Time // signature failures, oldest first, pruned to the spike window
	oldFirst     time.Time   // first match of a non-first secret in the current run of them
	oldLast      time.Time
	matchedIndex int // the latest non-first position that matched
}

type destSeen struct {
	lastOK, lastFail, failingSince time.Time
	fails, lastStatus              int
}

// maxFailures bounds the signature failures a Tracker keeps per endpoint.
const maxFailures = 10000

// NewTracker returns a Tracker whose endpoints count as silent since
// started (the process start).
func NewTracker(started time.Time) *Tracker {
	return &Tracker{started: started, eps: map[string]*endpointSeen{}, dests: map[string]*destSeen{}}
}

func (t *Tracker) endpoint(name string) *endpointSeen {
	e := t.eps[name]
	if e == nil {
		e = &endpointSeen{}
		t.eps[name] = e
	}
	return e
}

// Ingest records one webhook request of endpoint at at: a failed
// signature verification (sigFailed), or a verified event (secretIndex >=
// 0: the position of the secret that matched; accepted: stored as new).
func (t *Tracker) Ingest(endpoint string, at time.Time, sigFailed bool, secretIndex int, accepted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.endpoint(endpoint)
	if sigFailed {
		if len(e.failures) >= maxFailures {
			e.failures = e.failures[1:]
		}
		e.failures = append(e.failures, at)
	}
	if accepted && at.After(e.lastEvent) {
		e.lastEvent = at
	}
	if secretIndex > 0 {
		if e.oldLast.IsZero() || at.Sub(e.oldLast) > OldSecretRecent {
			e.oldFirst = at // a new run of old-secret matches: a rotation began
		}
		e.oldLast = at
		e.matchedIndex = secretIndex
	}
}

// Attempt records one delivery attempt.
func (t *Tracker) Attempt(a hookbox.Attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dests[a.Destination]
	if d == nil {
		d = &destSeen{}
		t.dests[a.Destination] = d
	}
	at := a.StartedAt
	if a.OK {
		if at.After(d.lastOK) {
			d.lastOK = at
		}
		d.fails, d.failingSince = 0, time.Time{}
		return
	}
	if !d.lastOK.IsZero() && at.Before(d.lastOK) {
		return // an attempt older than the last success changes nothing
	}
	if d.fails == 0 {
		d.failingSince = at
	}
	d.fails++
	d.lastFail, d.lastStatus = at, a.StatusCode
}
