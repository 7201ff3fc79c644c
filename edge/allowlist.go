package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says what an Allowlist does with a request from outside the list.
type Mode string

const (
	// ModeOff checks nothing: Middleware returns its handler unchanged.
	ModeOff Mode = "off"
	// ModeLog logs and counts requests from outside the list, and serves
	// them.
	ModeLog Mode = "log"
	// ModeEnforce logs, counts, and answers 403 {"error":"forbidden"}.
	ModeEnforce Mode = "enforce"
)

// ParseMode parses "off", "log" or "enforce".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOff, ModeLog, ModeEnforce:
		return m, nil
	}
	return "", fmt.Errorf("ip allowlist mode %q: want off, log or enforce", s)
}

// Allowlist defaults and limits.
const (
	// DefaultAllowlistRefresh is how often Start refreshes the list when
	// given no interval. Stripe announces changes a week ahead.
	DefaultAllowlistRefresh = 24 * time.Hour
	// DefaultFetchTimeout bounds one fetch of a URL source.
	DefaultFetchTimeout = 30 * time.Second
	// MaxAllowlistBytes and MaxAllowlistEntries bound a source: Stripe's
	// list is under 1 KB and 20 entries.
	MaxAllowlistBytes   = 1 << 20
	MaxAllowlistEntries = 4096
)

// AllowlistOptions configure NewAllowlist. The zero value is usable: the
// built-in list of Stripe's addresses, no refresh source.
type AllowlistOptions struct {
	// Source, if set, is where Refresh reads the list: an http:// or
	// https:// URL (StripeWebhookIPsURL, or a copy of it), or a file path.
	// Either holds JSON with the key "WEBHOOKS" (Stripe's format) or plain
	// text, one address or CIDR a line, # comments allowed.
	Source string
	// Initial is the list until the first successful Refresh; nil: the
	// built-in StripeWebhookIPs.
	Initial []netip.Prefix
	// HTTPClient fetches a URL source; nil: a client with
	// DefaultFetchTimeout.
	HTTPClient *http.Client
	// ClientAddrFunc returns the client address of a request; nil: the
	// direct peer. Give it (*Proxies).ClientAddr behind a proxy, the same
	// function ingest.Handler uses.
	ClientAddrFunc func(*http.Request) string
	// OnOutside, if set, is called for each request from outside the list
	// (metrics hook); enforced says whether it was refused.
	OnOutside func(client string, enforced bool)
	// OnRefresh, if set, is called after each Refresh with the number of
	// entries in force and the error, if any (metrics hook).
	OnRefresh func(entries int, err error)
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// LogSampler writes the lines of requests from outside the list, a few
	// per client and interval, then a count; nil: one of its own with the
	// default options, writing to Logger.
	LogSampler *LogSampler
	// NowFunc is the clock of UpdatedAt; nil: time.Now.
	NowFunc func() time.Time
}

// Allowlist holds the addresses webhooks may come from and checks
// requests against them. The list is replaced as a whole by Refresh, never
// by an empty or malformed one; lookups are lock-free.
type Allowlist struct {
	mode      Mode
	source    string
	isURL     bool
	client    *http.Client
	clientFn  func(*http.Request) string
	onOutside func(string, bool)
	onRefresh func(int, error)
	logger    *slog.Logger
	sampler   *LogSampler
	now       func() time.Time

	list      atomic.Pointer[ipList]
	refreshMu sync.Mutex
}

type ipList struct {
	single  map[netip.Addr]struct{}
	ranges  []netip.Prefix
	entries []netip.Prefix
	source  string // "built-in" or the Source
	at      time.Time
}

func newIPList(entries []netip.Prefix, source string, at time.Time) *ipList {
	l := &ipList{single: make(map[netip.Addr]struct{}), entries: entries, source: source, at: at}
	for _, p := range entries {
		if p.IsSingleIP() {
			l.single[p.Addr()] = struct{}{}
		} else {
			l.ranges = append(l.ranges, p)
		}
	}
	return l
}

func (l *ipList) contains(a netip.Addr) bool {
	if _, ok := l.single[a]; ok {
		return true
	}
	for _, p := range l.ranges {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// NewAllowlist returns an Allowlist in mode, holding opts.Initial (by
// default Stripe's built-in list). It validates the mode and the source's
// form; the source itself is read only by Refresh.
func NewAllowlist(mode Mode, opts AllowlistOptions) (*Allowlist, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, err
	}
	a := &Allowlist{
		mode:      mode,
		source:    opts.Source,
		client:    opts.HTTPClient,
		clientFn:  opts.ClientAddrFunc,
		onOutside: opts.OnOutside,
		onRefresh: opts.OnRefresh,
		logger:    opts.Logger,
		now:       opts.NowFunc,
	}
	if a.logger == nil {
		a.logger = slog.Default()
	}
	if a.sampler = opts.LogSampler; a.sampler == nil {
		a.sampler = defaultSampler(a.logger)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if strings.HasPrefix(a.source, "http://") || strings.HasPrefix(a.source, "https://") {
		u, err := url.Parse(a.source)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("ip allowlist source %q: not a valid URL", a.source)
		}
		a.isURL = true
		if u.Scheme == "http" {
			a.logger.Warn("ip allowlist source is plain HTTP: whoever sits on the path can change the list", "source", a.source)
		}
	}
	initial, name := opts.Initial, "initial"
	if initial == nil {
		initial, name = StripeWebhookIPs(), "built-in "+StripeWebhookIPsDate
	}
	if len(initial) == 0 {
		return nil, errors.New("ip allowlist: the initial list is empty")
	}
	entries := make([]netip.Prefix, len(initial))
	for i, p := range initial {
		if !p.IsValid() {
			return nil, fmt.Errorf("ip allowlist: initial entry %d is not a valid prefix", i)
		}
		entries[i] = p.Masked()
	}
	a.list.Store(newIPList(entries, name, time.Time{}))
	return a, nil
}

// Mode returns the allowlist's mode.
func (a *Allowlist) Mode() Mode { return a.mode }

// Entries returns the addresses and ranges in force; the slice is the
// caller's.
func (a *Allowlist) Entries() []netip.Prefix {
	return append([]netip.Prefix(nil), a.list.Load().entries...)
}

// UpdatedAt returns when the list in force was read by Refresh, zero for
// the initial list.
func (a *Allowlist) UpdatedAt() time.Time { return a.list.Load().at }

// Contains reports whether addr is on the list.
func (a *Allowlist) Contains(addr netip.Addr) bool {
	return a.list.Load().contains(addr.Unmap().WithZone(""))
}

// Allows reports whether client, an address as (*Proxies).ClientAddr
// returns it (a port is ignored), is on the list. Anything that is not an
// address is not. Its signature fits LimiterOptions.ExemptFunc.
func (a *Allowlist) Allows(client string) bool {
	addr, ok := parseAddr(client)
	return ok && a.list.Load().contains(addr)
}

// Middleware checks each request's client address against the list. In
// ModeLog a request from outside is logged at WARN with its client
// address, counted through OnOutside, and served; in ModeEnforce it is
// logged, counted and answered 403 {"error":"forbidden"} without reading
// the body. The lines are sampled (LogSampler): a flood from one client
// writes a few and a count, not one a request. In ModeOff next is returned unchanged.
func (a *Allowlist) Middleware(next http.Handler) http.Handler {
	if a.mode == ModeOff {
		return next
	}
	enforced := a.mode == ModeEnforce
	msg, action := "request from outside the IP allowlist served (log mode)", "logged"
	if enforced {
		msg, action = "request from outside the IP allowlist refused", "refused"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := a.clientAddr(r)
		if a.Allows(client) {
			next.ServeHTTP(w, r)
			return
		}
		if a.onOutside != nil {
			a.onOutside(client, enforced)
		}
		a.sampler.Log(r.Context(), slog.LevelWarn, msg, client, reasonOutside,
			slog.String("client", client),
			slog.String("reason", reasonOutside),
			slog.String("action", action),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path))
		if enforced {
			writeError(w, http.StatusForbidden, respForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reasonOutside is the reason of the allowlist's log lines.
const reasonOutside = "outside_allowlist"

func (a *Allowlist) clientAddr(r *http.Request) string {
	if a.clientFn != nil {
		return a.clientFn(r)
	}
	return (*Proxies)(nil).ClientAddr(r)
}

// ErrNoSource is returned by Refresh when the Allowlist has no Source.
var ErrNoSource = errors.New("ip allowlist: no source to refresh from")

// Refresh reads the list from the Source and, if every entry is a valid
// address or CIDR and there is at least one, puts it in force. Otherwise
// it returns why and the list in force stays. A change is logged at INFO
// with the addresses added and removed. Concurrent calls are serialized.
func (a *Allowlist) Refresh(ctx context.Context) error {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	n, err := a.refresh(ctx)
	if a.onRefresh != nil {
		a.onRefresh(n, err)
	}
	return err
}

func (a *Allowlist) refresh(ctx context.Context) (int, error) {
	old := a.list.Load()
	if a.source == "" {
		return len(old.entries), ErrNoSource
	}
	data, err := a.read(ctx)
	if err == nil {
		var entries []netip.Prefix
		if entries, err = parseList(data); err == nil {
			nl := newIPList(entries, a.source, a.now())
			a.list.Store(nl)
			added, removed := diff(old.entries, entries)
			if len(added) > 0 || len(removed) > 0 {
				a.logger.LogAttrs(ctx, slog.LevelInfo, "ip allowlist changed",
					slog.String("source", a.source), slog.Int("entries", len(entries)),
					slog.Any("added", added), slog.Any("removed", removed))
			}
			return len(entries), nil
		}
	}
	return len(old.entries), fmt.Errorf("refresh ip allowlist from %s: %w", a.source, err)
}

func (a *Allowlist) read(ctx context.Context) ([]byte, error) {
	if !a.isURL {
		f, err := os.Open(strings.TrimPrefix(a.source, "file://"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.source, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, text/plain")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxAllowlistBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxAllowlistBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxAllowlistBytes)
	}
	return data, nil
}

// parseList parses Stripe's JSON ({"WEBHOOKS": ["3.18.12.63", ...]}) or
// plain text, one address or CIDR a line, blank lines and # comments
// ignored. Every entry must be valid, none may cover every address, and
// there must be at least one.
func parseList(data []byte) ([]netip.Prefix, error) {
	var raw []string
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(t, &doc); err != nil {
			return nil, fmt.Errorf("parse JSON: %w", err)
		}
		w, ok := doc["WEBHOOKS"]
		if !ok {
			return nil, errors.New(`no "WEBHOOKS" key`)
		}
		if err := json.Unmarshal(w, &raw); err != nil {
			return nil, fmt.Errorf(`"WEBHOOKS": want a list of strings: %w`, err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, MaxAllowlistBytes)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" {
				raw = append(raw, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	if len(raw) == 0 {
		return nil, errors.New("empty list")
	}
	if len(raw) > MaxAllowlistEntries {
		return nil, fmt.Errorf("%d entries, more than %d", len(raw), MaxAllowlistEntries)
	}
	out := make([]netip.Prefix, 0, len(raw))
	for i, s := range raw {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("entry %d: %s would allow every address", i+1, p)
		}
		out = append(out, p)
	}
	return out, nil
}

func diff(old, cur []netip.Prefix) (added, removed []string) {
	in := func(p netip.Prefix, l []netip.Prefix) bool {
		for _, q := range l {
			if p == q {
				return true
			}
		}
		return false
	}
	for _, p := range cur {
		if !in(p, old) {
			added = append(added, prefixString(p))
		}
	}
	for _, p := range old {
		if !in(p, cur) {
			removed = append(removed, prefixString(p))
		}
	}
	return added, removed
}

// prefixString spells a single address without its /32 or /128.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Start refreshes the list from the Source every interval (<= 0:
// DefaultAllowlistRefresh) in a goroutine, until ctx ends or stop is
// called; stop waits for the goroutine. It does not refresh at once: call
// Refresh first for that. A failed refresh is logged at WARN and the list
// in force stays. Without a Source, Start does nothing.
func (a *Allowlist) Start(ctx context.Context, every time.Duration) (stop func()) {
	if a.source == "" {
		return func() {}
	}
	if every <= 0 {
		every = DefaultAllowlistRefresh
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.Refresh(ctx); err != nil && ctx.Err() == nil {
					a.logger.LogAttrs(ctx, slog.LevelWarn, "ip allowlist refresh failed; keeping the current list",
						slog.Any("error", err), slog.Int("entries", len(a.list.Load().entries)))
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
