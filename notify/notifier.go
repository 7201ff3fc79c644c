package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
)

// Defaults of a Notifier.
const (
	DefaultEvery       = 30 * time.Second
	DefaultMinInterval = 15 * time.Minute
	// LockName is the hookbox.Locker name the sending replica holds.
	LockName = "notify"
)

// Notifier evaluates Conditions every Every and sends each start and
// resolution to every Channel. Configure the fields, then Start (or call
// RunOnce yourself, as tests do); Stop ends it.
type Notifier struct {
	Channels   []Channel
	Conditions []ConditionFunc
	// ConsoleURL is the admin console's address as people reach it
	// (https://hookbox.internal/); messages link to its pages. "": no link.
	ConsoleURL string
	Every      time.Duration // 0: DefaultEvery
	// MinInterval is the least time between two starts of one condition
	// (a flapping destination): a start within it waits until it has
	// passed, and is dropped if the condition has resolved by then. A
	// resolution is sent at once. 0: DefaultMinInterval.
	MinInterval time.Duration
	// Locker, when set (the store of replicas sharing a database), elects
	// the one replica that evaluates and sends: it takes LockName for
	// Owner with a ttl of three Every and renews it at each evaluation. A
	// replica that takes over starts afresh: it tells of the conditions
	// holding then.
	Locker  hookbox.Locker
	Owner   string           // "": host, pid and a random suffix
	NowFunc func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discarded

	mu     sync.Mutex
	told   []map[string]*told // per channel, per finding key
	leader bool
	cancel context.CancelFunc
	done   chan struct{}
}

// told is what one channel was last told of one finding.
type told struct {
	finding   Finding
	firing    bool      // the last message sent was a start
	lastStart time.Time // when the last start was sent
}

// Validate reports a configuration Start refuses.
func (n *Notifier) Validate() error {
	switch {
	case len(n.Channels) == 0:
		return hookbox.Errorf(hookbox.EINVALID, "notify: no channel")
	case n.Every < 0 || n.MinInterval < 0:
		return hookbox.Errorf(hookbox.EINVALID, "notify: every and min_interval must be positive")
	}
	return nil
}

// Start runs an evaluation at once and then every Every, in a goroutine,
// until ctx ends or Stop.
func (n *Notifier) Start(ctx context.Context) error {
	if err := n.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done != nil {
		return errors.New("notify: already started")
	}
	ctx, n.cancel = context.WithCancel(ctx)
	n.done = make(chan struct{})
	go n.loop(ctx, n.done)
	return nil
}

// Stop ends the loop and releases the lock. Safe before Start and twice.
func (n *Notifier) Stop() {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	if n.Locker != nil {
		ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		n.Locker.Unlock(ctx, LockName, n.owner())
	}
}

func (n *Notifier) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(n.every())
	defer t.Stop()
	for {
		n.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce makes one evaluation: take or renew the lock (skipping when
// another replica holds it), evaluate every condition, send what changed.
// It returns the number of messages sent and the first error met (a
// condition or a channel that failed; the others still ran). A message a
// channel failed to take is tried again at the next evaluation.
func (n *Notifier) RunOnce(ctx context.Context) (sent int, err error) {
	now := n.now()
	if n.Locker != nil {
		ok, lerr := n.Locker.TryLock(ctx, LockName, n.owner(), now, 3*n.every())
		if lerr != nil {
			return 0, fmt.Errorf("notify: take lock: %w", lerr)
		}
		if !ok {
			n.mu.Lock()
			n.leader, n.told = false, nil // a later leadership starts afresh
			n.mu.Unlock()
			return 0, nil
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.told == nil {
		n.told = make([]map[string]*told, len(n.Channels))
		for i := range n.told {
			n.told[i] = map[string]*told{}
		}
	}
	n.leader = true
	holding := map[string]Finding{}
	for _, c := range n.Conditions {
		fs, cerr := c(ctx, now)
		if cerr != nil {
			err = errors.Join(err, cerr)
			continue
		}
		for _, f := range fs {
			holding[f.key()] = f
		}
	}
	// A condition that failed (a store that does not answer) must not
	// read as all clear: no resolution is sent this time.
	noResolve := err != nil
	for i, ch := range n.Channels {
		s, serr := n.sendChanges(ctx, i, ch, holding, noResolve, now)
		sent += s
		err = errors.Join(err, serr)
	}
	return sent, err
}

// sendChanges tells channel i what changed; with noResolve, no resolution.
func (n *Notifier) sendChanges(ctx context.Context, i int, ch Channel, holding map[string]Finding, noResolve bool, now time.Time) (sent int, err error) {
	t := n.told[i]
	minInt := n.MinInterval
	if minInt == 0 {
		minInt = DefaultMinInterval
	}
	for k, f := range holding {
		tt := t[k]
		if tt != nil && tt.firing || tt != nil && now.Sub(tt.lastStart) < minInt {
			continue
		}
		if serr := n.send(ctx, ch, f, false, now); serr != nil {
			err = errors.Join(err, serr)
			continue
		}
		t[k] = &told{finding: f, firing: true, lastStart: now}
		sent++
	}
	if noResolve {
		return sent, err
	}
	for k, tt := range t {
		if _, ok := holding[k]; ok || !tt.firing {
			continue
		}
		if serr := n.send(ctx, ch, tt.finding, true, now); serr != nil {
			err = errors.Join(err, serr)
			continue
		}
		tt.firing = false
		sent++
	}
	return sent, err
}

func (n *Notifier) send(ctx context.Context, ch Channel, f Finding, resolved bool, now time.Time) error {
	m := Message{Condition: f.Condition, Subject: f.Subject, Resolved: resolved, Title: f.Title, Text: f.Text,
		Link: link(n.ConsoleURL, f.Path), At: now}
	if resolved {
		m.Title = "resolved: " + f.Title
		m.Text = "This condition no longer holds."
	}
	sctx, cancel := context.WithTimeout(ctx, DefaultTimeout+5*time.Second)
	defer cancel()
	if err := ch.Send(sctx, m); err != nil {
		n.logger().Warn("notify: send failed", slog.String("channel", ch.Name()), slog.String("condition", f.Condition), slog.Any("error", err))
		return fmt.Errorf("notify %s: %w", ch.Name(), err)
	}
	n.logger().Info("notify: sent", slog.String("channel", ch.Name()), slog.String("condition", f.Condition),
		slog.String("subject", f.Subject), slog.String("status", m.Status()))
	return nil
}

// Leader reports whether the last evaluation ran here (it held the lock).
func (n *Notifier) Leader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader
}

func (n *Notifier) every() time.Duration {
	if n.Every > 0 {
		return n.Every
	}
	return DefaultEvery
}

func (n *Notifier) now() time.Time {
	if n.NowFunc != nil {
		return n.NowFunc()
	}
	return time.Now()
}

func (n *Notifier) owner() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		n.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return n.Owner
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(slog.DiscardHandler)
}
