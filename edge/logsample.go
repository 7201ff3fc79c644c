package edge

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Log sampling defaults, for the options that set them.
const (
	// DefaultLogInterval is the window in which a client's rejections for
	// one reason are written line by line up to DefaultLogBurst, then
	// counted; the count is written once the window ends.
	DefaultLogInterval = time.Minute
	// DefaultLogBurst lines per client, reason and interval are written in
	// full: enough to see what a client sends, never one line a request.
	DefaultLogBurst = 5
	// DefaultLogKeys bounds the (client, reason) pairs followed at once;
	// beyond it, new clients share one "other" client per reason. With the
	// burst, it also bounds the lines a flood from many addresses writes:
	// at most (burst+1) per pair and interval.
	DefaultLogKeys = 1000
)

// OtherClients is the client of the lines and counts of clients beyond
// LogSamplerOptions.MaxKeys.
const OtherClients = "other"

// LogSamplerOptions configure NewLogSampler. The zero value is usable.
type LogSamplerOptions struct {
	// Interval: 0 means DefaultLogInterval.
	Interval time.Duration
	// Burst is the number of lines written per (client, reason) and
	// interval: 0 means DefaultLogBurst.
	Burst int
	// MaxKeys bounds the (client, reason) pairs followed; 0 means
	// DefaultLogKeys.
	MaxKeys int
	// IPv6PrefixLen is the IPv6 prefix counted as one client, as in the
	// failure limit; 0 means DefaultIPv6PrefixLen.
	IPv6PrefixLen int
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
}

// LogSampler writes the log lines of rejected requests and connections on
// the public listener so that a flood cannot fill the log: for each client
// (an IPv4 address, an IPv6 /64) and reason, the first Burst lines of an
// interval are written as given, the rest are counted, and one summary line
// with the count ("suppressed") is written when the interval ends. A flood
// of 300,000 requests in ten seconds from one address writes Burst lines
// and one summary, not 300,000 lines.
//
// Summaries are written by a timer armed while some count is pending (no
// goroutine to start or stop), by the next line for the same client and
// reason after its interval ended, and by Flush, which a server calls when
// it stops. One sampler should serve every piece of the public listener, so
// that a client's budget is one, whichever piece refuses it. It is safe for
// concurrent use.
type LogSampler struct {
	logger   *slog.Logger
	interval time.Duration
	burst    int
	maxKeys  int
	v6bits   int
	now      func() time.Time

	mu      sync.Mutex
	entries map[sampleKey]*sampleEntry
	timer   *time.Timer // armed while a count is pending
	armed   bool
}

type sampleKey struct{ msg, reason, client string }

type sampleEntry struct {
	level      slog.Level
	since      time.Time // start of the interval
	lines      int
	suppressed int
}

// NewLogSampler returns a sampler writing to logger (nil: slog.Default()).
func NewLogSampler(logger *slog.Logger, opts LogSamplerOptions) (*LogSampler, error) {
	s := &LogSampler{
		logger:   logger,
		interval: cmp.Or(opts.Interval, DefaultLogInterval),
		burst:    cmp.Or(opts.Burst, DefaultLogBurst),
		maxKeys:  cmp.Or(opts.MaxKeys, DefaultLogKeys),
		v6bits:   cmp.Or(opts.IPv6PrefixLen, DefaultIPv6PrefixLen),
		now:      opts.NowFunc,
		entries:  make(map[sampleKey]*sampleEntry),
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case s.interval < 0 || s.burst < 0 || s.maxKeys < 0:
		return nil, errors.New("log sampler: interval, burst and keys must not be negative")
	case s.v6bits < 1 || s.v6bits > 128:
		return nil, errors.New("log sampler: IPv6 prefix length must be between 1 and 128")
	}
	return s, nil
}

// defaultSampler returns a sampler with the default options, for pieces
// given none.
func defaultSampler(logger *slog.Logger) *LogSampler {
	s, _ := NewLogSampler(logger, LogSamplerOptions{})
	return s
}

// Log writes msg at level with attrs, which should name the client and the
// reason themselves, unless Burst lines with the same msg and reason were
// written for client in the current interval: then it only counts it. The
// last line written in full says that the next ones will be counted.
func (s *LogSampler) Log(ctx context.Context, level slog.Level, msg, client, reason string, attrs ...slog.Attr) {
	if !s.logger.Enabled(ctx, level) {
		return
	}
	now := s.now()
	k := sampleKey{msg: msg, reason: reason, client: clientKey(client, s.v6bits)}
	var summary []summaryLine
	s.mu.Lock()
	e, ok := s.entries[k]
	if !ok && len(s.entries) >= s.maxKeys {
		summary = s.sweepLocked(now, false)
		if len(s.entries) >= s.maxKeys {
			k.client = OtherClients
		}
		e, ok = s.entries[k]
	}
	if ok && now.Sub(e.since) >= s.interval {
		if e.suppressed > 0 {
			summary = append(summary, summaryLine{k, *e})
		}
		ok = false
	}
	if !ok {
		e = &sampleEntry{level: level, since: now}
		s.entries[k] = e
	}
	write := e.lines < s.burst
	if write {
		e.lines++
	} else {
		e.suppressed++
		s.armLocked()
	}
	last := e.lines == s.burst
	s.mu.Unlock()

	s.writeSummaries(summary)
	if write {
		if last {
			attrs = append(attrs, slog.String("log_sampling", "further lines for this client and reason are counted until the interval ends"))
		}
		s.logger.LogAttrs(ctx, level, msg, attrs...)
	}
}

// Flush writes the pending counts now, whether or not their interval has
// ended, and starts them again from zero. Call it when the listener stops.
func (s *LogSampler) Flush() {
	s.mu.Lock()
	summary := s.sweepLocked(s.now(), true)
	s.mu.Unlock()
	s.writeSummaries(summary)
}

type summaryLine struct {
	key sampleKey
	e   sampleEntry
}

// sweepLocked forgets the entries whose interval ended (all, with all set),
// and returns the summaries to write of those with a count.
func (s *LogSampler) sweepLocked(now time.Time, all bool) []summaryLine {
	var out []summaryLine
	for k, e := range s.entries {
		ended := now.Sub(e.since) >= s.interval
		if e.suppressed > 0 && (ended || all) {
			out = append(out, summaryLine{k, *e})
			e.suppressed = 0
		}
		if ended {
			delete(s.entries, k)
		}
	}
	return out
}

// armLocked arms the summary timer unless it is armed.
func (s *LogSampler) armLocked() {
	if s.armed {
		return
	}
	s.armed = true
	if s.timer == nil {
		s.timer = time.AfterFunc(s.interval, s.tick)
	} else {
		s.timer.Reset(s.interval)
	}
}

// tick writes the counts of ended intervals, and rearms while some are
// still pending.
func (s *LogSampler) tick() {
	s.mu.Lock()
	s.armed = false
	summary := s.sweepLocked(s.now(), false)
	for _, e := range s.entries {
		if e.suppressed > 0 {
			s.armLocked()
			break
		}
	}
	s.mu.Unlock()
	s.writeSummaries(summary)
}

func (s *LogSampler) writeSummaries(lines []summaryLine) {
	slices.SortFunc(lines, func(a, b summaryLine) int {
		return cmp.Or(cmp.Compare(a.key.client, b.key.client), cmp.Compare(a.key.msg, b.key.msg), cmp.Compare(a.key.reason, b.key.reason))
	})
	for _, l := range lines {
		s.logger.LogAttrs(context.Background(), l.e.level, l.key.msg,
			slog.String("client", l.key.client),
			slog.String("reason", l.key.reason),
			slog.Int("suppressed", l.e.suppressed),
			slog.Time("since", l.e.since),
			slog.Duration("interval", s.interval))
	}
}

// clientKey names client as the sampler and limiters count it: an IPv4
// address, an IPv6 prefix of v6bits; anything else as given.
func clientKey(client string, v6bits int) string {
	a, ok := parseAddr(client)
	if !ok {
		return client
	}
	if a.Is6() {
		p, _ := a.Prefix(v6bits)
		return p.String()
	}
	return a.String()
}
