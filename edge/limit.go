package edge

import (
	"container/list"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Failure limit defaults, for the flags that set them.
const (
	// DefaultMaxFailures failed verifications from one client within
	// DefaultFailureWindow put it in the penalty box for the same time.
	// Stripe never fails verification with the right secret, so any
	// failure is a forgery, a test, or a misconfiguration. A flood reaches
	// 100 in a fraction of a second, so 100 refuses it as soon as 10
	// would; what it spares is a person or a test suite trying a few
	// dozen bad requests in a minute, who would otherwise see their valid
	// requests refused too.
	DefaultMaxFailures   = 100
	DefaultFailureWindow = time.Minute
	// DefaultMaxTrackedClients bounds the limiter's memory: about 100
	// bytes an entry.
	DefaultMaxTrackedClients = 10000
	// DefaultIPv6PrefixLen groups IPv6 clients by network: a /64 is what
	// one subscriber or one server gets, and whoever holds one can change
	// address at will.
	DefaultIPv6PrefixLen = 64
)

// LimiterOptions configure NewFailureLimiter. The zero value is usable.
type LimiterOptions struct {
	// MaxClients caps the number of clients tracked; beyond it the least
	// recently active is forgotten. 0: DefaultMaxTrackedClients.
	MaxClients int
	// IPv6PrefixLen is the IPv6 prefix counted as one client (1 to 128);
	// 0: DefaultIPv6PrefixLen.
	IPv6PrefixLen int
	// ClientAddrFunc returns the client address of a request; nil: the
	// direct peer. It must be the function ingest.Handler.ClientAddrFunc
	// is given, (*Proxies).ClientAddr behind a proxy, so that Failed and
	// Middleware name the same client.
	ClientAddrFunc func(*http.Request) string
	// ExemptFunc, if set, exempts clients from the limit: give it
	// (*Allowlist).Allows so that Stripe's own addresses are never refused
	// (see the package documentation).
	ExemptFunc func(client string) bool
	// OnLimited, if set, is called for each request refused with 429
	// (metrics hook).
	OnLimited func(client string)
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
}

// FailureLimiter refuses, cheaply, clients that keep failing signature
// verification. Each client (an IPv4 address, an IPv6 /64) may fail max
// times within window, counted from its first failure; the failure that
// reaches max puts it in a penalty box for window, during which Middleware
// answers every request from it 429 with Retry-After, before anything reads
// the body: a flood of forged requests then costs a map lookup each and
// never reaches verification or the store. When the penalty ends the count
// starts again from zero. Requests from a client under the limit, valid or
// not, pass untouched.
//
// Failures are reported by calling Failed from ingest's OnResult when the
// result CountsAsFailure (a failed verification, a body too large or not
// sent, a method other than POST). Memory is bounded by MaxClients.
type FailureLimiter struct {
	max      int
	window   time.Duration
	cap      int
	v6bits   int
	clientFn func(*http.Request) string
	exempt   func(string) bool
	onLimit  func(string)
	now      func() time.Time

	mu      sync.Mutex
	clients map[string]*list.Element // of *failures
	lru     list.List                // front: most recently active
}

type failures struct {
	key          string
	count        int
	since        time.Time // start of the counting window
	blockedUntil time.Time
}

// NewFailureLimiter returns a limiter allowing max failed verifications per
// client within window; both must be positive.
func NewFailureLimiter(max int, window time.Duration, opts LimiterOptions) (*FailureLimiter, error) {
	if max <= 0 || window <= 0 {
		return nil, errors.New("failure limiter: max failures and window must be positive")
	}
	l := &FailureLimiter{
		max:      max,
		window:   window,
		cap:      opts.MaxClients,
		v6bits:   opts.IPv6PrefixLen,
		clientFn: opts.ClientAddrFunc,
		exempt:   opts.ExemptFunc,
		onLimit:  opts.OnLimited,
		now:      opts.NowFunc,
		clients:  make(map[string]*list.Element),
	}
	if l.cap <= 0 {
		l.cap = DefaultMaxTrackedClients
	}
	if l.v6bits == 0 {
		l.v6bits = DefaultIPv6PrefixLen
	}
	if l.v6bits < 1 || l.v6bits > 128 {
		return nil, errors.New("failure limiter: IPv6 prefix length must be between 1 and 128")
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// key names the client as the limiter counts it.
func (l *FailureLimiter) key(client string) string {
	return clientKey(client, l.v6bits)
}

// Failed records one failed verification from client, an address as the
// ingest handler's Result.Client reports it. Exempt clients are not
// counted, nor failures arriving while the client is already refused.
func (l *FailureLimiter) Failed(client string) {
	if l.exempt != nil && l.exempt(client) {
		return
	}
	key := l.key(client)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var f *failures
	if e, ok := l.clients[key]; ok {
		f = e.Value.(*failures)
		l.lru.MoveToFront(e)
	} else {
		for len(l.clients) >= l.cap {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.clients, oldest.Value.(*failures).key)
		}
		f = &failures{key: key, since: now}
		l.clients[key] = l.lru.PushFront(f)
	}
	if now.Before(f.blockedUntil) {
		return // a request that was in flight when the penalty began
	}
	if now.Sub(f.since) >= l.window {
		f.count, f.since = 0, now
	}
	f.count++
	if f.count >= l.max {
		f.blockedUntil = now.Add(l.window)
		f.count, f.since = 0, f.blockedUntil
	}
}

// Limited reports whether client is refused now, and for how long still.
func (l *FailureLimiter) Limited(client string) (retryAfter time.Duration, limited bool) {
	key := l.key(client)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[key]
	if !ok {
		return 0, false
	}
	f := e.Value.(*failures)
	if now.Before(f.blockedUntil) {
		// Refused requests keep the entry fresh, so that a flood from many
		// new addresses does not evict the one being refused.
		l.lru.MoveToFront(e)
		return f.blockedUntil.Sub(now), true
	}
	if now.Sub(f.since) >= l.window {
		// Nothing left to remember.
		l.lru.Remove(e)
		delete(l.clients, key)
	}
	return 0, false
}

// Tracked returns the number of clients currently remembered.
func (l *FailureLimiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// Middleware answers 429 {"error":"too many failed requests"} with
// Retry-After (whole seconds, rounded up) to a client in the penalty box,
// without reading the body, and passes every other request to next.
func (l *FailureLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := l.clientAddr(r)
		if d, limited := l.Limited(client); limited && (l.exempt == nil || !l.exempt(client)) {
			if l.onLimit != nil {
				l.onLimit(client)
			}
			secs := (d + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
			writeError(w, http.StatusTooManyRequests, respTooMany)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (l *FailureLimiter) clientAddr(r *http.Request) string {
	if l.clientFn != nil {
		return l.clientFn(r)
	}
	return (*Proxies)(nil).ClientAddr(r)
}
