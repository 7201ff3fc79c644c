package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/broker/redis"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// secret is the signing secret of test destinations.
const secret = "whsec_test_redis_destination_secret"

// systemAddr is the Redis server every machine of the project runs.
const systemAddr = "127.0.0.1:6379"

// systemRedis returns a client of the system Redis server (the test's
// independent consumer), skipping the test when it does not answer.
func systemRedis(tb testing.TB) *goredis.Client {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: systemAddr, MaxRetries: -1})
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		brokertest.Unavailable(tb, "Redis at %s does not answer: %v", systemAddr, err)
	}
	return c
}

// uniqueKey returns a stream key no other test run uses, deleted (with
// the keys of its expansions under prefix) when the test ends.
func uniqueKey(tb testing.TB, c *goredis.Client) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	key := "hookbox-test:" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, key+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return key
}

// newEvent returns a pending event of the given type, shaped like Stripe's,
// whose body carries non-ASCII text (escaped in the JSON).
func newEvent(id, typ string, livemode bool) *hookbox.Event {
	return brokertest.NewEventWith(id, typ, livemode, `,"description":"caf\u00e9 \u2615"`)
}

// mustNew returns a destination of the test secret, closed when the test
// ends.
func mustNew(tb testing.TB, name, url string, opts deliver.BrokerOptions) *redis.Destination {
	tb.Helper()
	d, err := redis.New(name, url, secret, opts)
	if err != nil {
		tb.Fatalf("New(%s): %v", url, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// entry is one stream entry as a consumer reads it.
type entry struct {
	ID     string
	Stream string
	Fields map[string]string
}

// readAll returns every entry of stream, oldest first (XRANGE).
func readAll(tb testing.TB, c *goredis.Client, stream string) []entry {
	tb.Helper()
	msgs, err := c.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		tb.Fatalf("XRANGE %s: %v", stream, err)
	}
	var es []entry
	for _, m := range msgs {
		e := entry{ID: m.ID, Stream: stream, Fields: map[string]string{}}
		for k, v := range m.Values {
			e.Fields[k] = v.(string)
		}
		es = append(es, e)
	}
	return es
}

// mustVerify checks that e carries ev exactly, signed with the test secret
// at attempt.
func mustVerify(tb testing.TB, e entry, ev *hookbox.Event, attempt int) {
	tb.Helper()
	if e.Fields[redis.FieldBody] != string(ev.Body) {
		tb.Errorf("entry %s: body %q, want %q", e.ID, e.Fields[redis.FieldBody], ev.Body)
	}
	brokertest.CheckSignature(tb, secret, "entry "+e.ID, []byte(e.Fields[redis.FieldBody]), e.Fields[stripesig.HeaderName])
	want := map[string]string{
		"Content-Type":               "application/json",
		deliver.HeaderEventID:        ev.ID,
		deliver.HeaderEventType:      ev.Type,
		deliver.HeaderIdempotencyKey: ev.ID,
		deliver.HeaderAttempt:        strconv.Itoa(attempt),
	}
	for k, w := range want {
		if got := e.Fields[k]; got != w {
			tb.Errorf("entry %s: field %s = %q, want %q", e.ID, k, got, w)
		}
	}
	if len(e.Fields) != 1+len(deliver.HeaderNames) {
		tb.Errorf("entry %s: %d fields, want body and %d headers: %v", e.ID, len(e.Fields), len(deliver.HeaderNames), e.Fields)
	}
}

// server is a throwaway redis-server process the test owns.
type server struct {
	tb   testing.TB
	port int
	dir  string
	args []string // more redis-server options
	cmd  *exec.Cmd
	pw   string // the password of --requirepass, if any
}

// startServer starts a redis-server on a free port with its append-only
// file in a temporary directory, fsynced before every answer: what it
// acknowledged survives its being killed, as on a Redis configured for
// durability. It is killed when the test ends.
func startServer(tb testing.TB, args ...string) *server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		brokertest.Unavailable(tb, "no redis-server binary for a throwaway server: %v", err)
	}
	s := &server{tb: tb, port: brokertest.FreePort(tb), dir: tb.TempDir(), args: args}
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			s.pw = args[i+1]
		}
	}
	s.start(bin)
	tb.Cleanup(s.kill)
	return s
}

func (s *server) start(bin string) {
	s.tb.Helper()
	s.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", s.dir}, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("start redis-server: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), Password: s.pw, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.tb.Fatalf("throwaway redis-server on %s does not answer", s.addr())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// restart starts the server again on the same port and directory.
func (s *server) restart() {
	s.tb.Helper()
	s.start(s.cmd.Path)
}

// kill stops the server abruptly (SIGKILL) and waits for it to exit.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *server) url(query string) string { return "redis://" + s.addr() + "/0?" + query }
