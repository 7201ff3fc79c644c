package edge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
)

// Connection limit defaults, for the flags that set them.
const (
	// DefaultMaxConnsPerClient bounds the connections one client (an IPv4
	// address, an IPv6 /64) holds open at once. Stripe, the only client a
	// webhook listener serves, is exempt (see ConnLimitOptions); anyone
	// else needs a few (a load test, a person with curl). 64 is far above
	// that and far below what an attack needs: with about 25 KiB a
	// connection (net/http's buffers and stack), 64 cost 1.6 MB.
	DefaultMaxConnsPerClient = 64
	// DefaultMaxConns bounds the public listener's connections in all:
	// about 100 MB at 25 KiB each, and far below the usual limit of open
	// files. Stripe sends a few connections per endpoint.
	DefaultMaxConns = 4096
)

// Reasons a connection is refused, for OnRefused and the log.
const (
	RefusedPerClient = "too_many_connections_from_client"
	RefusedTotal     = "too_many_connections"
)

// ConnLimitOptions configure NewConnLimiter. The zero value is usable.
type ConnLimitOptions struct {
	// MaxPerClient bounds the open connections of one client; 0 means
	// DefaultMaxConnsPerClient, a negative value no bound.
	MaxPerClient int
	// MaxTotal bounds the open connections in all; 0 means
	// DefaultMaxConns, a negative value no bound.
	MaxTotal int
	// IPv6PrefixLen is the IPv6 prefix counted as one client (1 to 128);
	// 0 means DefaultIPv6PrefixLen.
	IPv6PrefixLen int
	// Proxies are exempt from the per-client bound: behind a reverse
	// proxy every connection comes from it, and its clients are not
	// visible until the request is read. Give the --trusted-proxies set;
	// the proxy is the place to bound its clients' connections.
	Proxies *Proxies
	// ExemptFunc, if set, exempts more peers from the per-client bound:
	// give it (*Allowlist).Allows, so that Stripe's addresses, shared by
	// every Stripe account and so usable by anyone to open connections, can
	// never be refused for what others make Stripe do.
	ExemptFunc func(peer string) bool
	// OnRefused, if set, is called for each refused connection with its
	// peer address and RefusedPerClient or RefusedTotal (metrics hook).
	OnRefused func(peer, reason string)
	// LogSampler writes the refusals' log lines; nil: one of its own with
	// the default options, writing to Logger.
	LogSampler *LogSampler
	// Logger for a LogSampler of its own; nil: slog.Default().
	Logger *slog.Logger
}

// ConnLimiter is a net.Listener that bounds the connections open at once,
// per client and in all. Past a bound, Accept closes the new connection at
// once, before a byte is read or written, and waits for the next: the
// client sees its connection reset (Stripe retries such a delivery as it
// retries a 429). Refusing at accept, rather than answering 429, is what
// keeps the bound cheap: a 429 would need the TLS handshake and the
// request's headers first, the very costs the bound is there to save, and a
// client that holds connections open is not reading answers anyway.
//
// The client of a connection is its TCP peer, an IPv4 address or an IPv6
// /64, since no request has been read yet. Trusted proxies and exempt peers
// (Stripe's addresses) have no per-client bound; they count toward the
// total, and when exemptions are configured the last eighth of the total is
// theirs alone, so that clients from many addresses filling the listener
// do not lock Stripe out. Wrap the plain TCP listener, inside any TLS
// listener, so that a refused connection costs no handshake.
//
// A connection is counted until it is closed; net/http closes it after
// its read, write or idle timeout.
type ConnLimiter struct {
	net.Listener
	perClient  int
	total      int
	reserved   int // of total, for exempt peers
	v6bits     int
	proxies    *Proxies
	exempt     func(string) bool
	onRefused  func(string, string)
	log        *LogSampler
	hasExempts bool

	mu     sync.Mutex
	open   int
	byPeer map[string]int
}

// NewConnLimiter wraps ln.
func NewConnLimiter(ln net.Listener, opts ConnLimitOptions) (*ConnLimiter, error) {
	l := &ConnLimiter{
		Listener:  ln,
		perClient: opts.MaxPerClient,
		total:     opts.MaxTotal,
		v6bits:    opts.IPv6PrefixLen,
		proxies:   opts.Proxies,
		exempt:    opts.ExemptFunc,
		onRefused: opts.OnRefused,
		log:       opts.LogSampler,
		byPeer:    make(map[string]int),
	}
	if l.perClient == 0 {
		l.perClient = DefaultMaxConnsPerClient
	}
	if l.total == 0 {
		l.total = DefaultMaxConns
	}
	if l.v6bits == 0 {
		l.v6bits = DefaultIPv6PrefixLen
	}
	if l.v6bits < 1 || l.v6bits > 128 {
		return nil, errors.New("connection limit: IPv6 prefix length must be between 1 and 128")
	}
	if l.log == nil {
		l.log = defaultSampler(opts.Logger)
	}
	if (l.exempt != nil || !l.proxies.none()) && l.total > 0 {
		l.reserved = l.total / 8
	}
	return l, nil
}

// Accept returns the next connection within the bounds, closing those
// beyond them.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer, key, exempt := l.peer(c)
		if reason := l.acquire(key, exempt); reason != "" {
			l.refuse(c, peer, reason)
			continue
		}
		return &limitedConn{Conn: c, l: l, key: key, exempt: exempt}, nil
	}
}

// peer names the client of c, and whether it is exempt from the
// per-client bound.
func (l *ConnLimiter) peer(c net.Conn) (peer, key string, exempt bool) {
	peer = c.RemoteAddr().String()
	a, ok := parseAddr(peer)
	if !ok {
		// Not an IP peer (a unix socket): one client.
		return peer, peer, false
	}
	peer = a.String()
	exempt = l.proxies.Trusts(a) || (l.exempt != nil && l.exempt(peer))
	return peer, clientKey(peer, l.v6bits), exempt
}

// acquire counts a new connection, or returns why it is refused.
func (l *ConnLimiter) acquire(key string, exempt bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 {
		limit := l.total
		if !exempt {
			limit -= l.reserved
		}
		if l.open >= limit {
			return RefusedTotal
		}
	}
	if !exempt && l.perClient > 0 && l.byPeer[key] >= l.perClient {
		return RefusedPerClient
	}
	l.open++
	if !exempt {
		l.byPeer[key]++
	}
	return ""
}

func (l *ConnLimiter) release(key string, exempt bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if exempt {
		return
	}
	if n := l.byPeer[key] - 1; n > 0 {
		l.byPeer[key] = n
	} else {
		delete(l.byPeer, key)
	}
}

// refuse closes c at once: with a TCP connection, with a reset rather than
// an orderly close, so that no socket lingers in TIME_WAIT on this side.
func (l *ConnLimiter) refuse(c net.Conn, peer, reason string) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
	if l.onRefused != nil {
		l.onRefused(peer, reason)
	}
	l.log.Log(context.Background(), slog.LevelWarn, "connection refused", peer, reason,
		slog.String("client", peer), slog.String("reason", reason))
}

// Open returns the number of connections open now.
func (l *ConnLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// limitedConn gives its place back when closed, once.
type limitedConn struct {
	net.Conn
	l      *ConnLimiter
	key    string
	exempt bool
	once   sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key, c.exempt) })
	return c.Conn.Close()
}

// CloseWrite half-closes a TCP connection, as net/http does before closing
// one whose request it refused, so that the client reads the answer.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
