package edge_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/edge"
)

func mustSampler(tb testing.TB, opts edge.LogSamplerOptions) (*edge.LogSampler, *logBuffer) {
	tb.Helper()
	logger, buf := newLogger()
	s, err := edge.NewLogSampler(logger, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s, buf
}

// lines returns the non-empty lines of a log.
func lines(log string) []string {
	var out []string
	for l := range strings.SplitSeq(log, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// grep returns the lines of a log containing every one of words.
func grep(log string, words ...string) []string {
	var out []string
next:
	for _, l := range lines(log) {
		for _, w := range words {
			if !strings.Contains(l, w) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func reject(s *edge.LogSampler, client, reason string) {
	s.Log(context.Background(), slog.LevelWarn, "request rejected", client, reason,
		slog.String("client", client), slog.String("reason", reason))
}

// TestLogSampler_Flood ensures 10,000 rejections from one client write the
// burst and, once flushed, one line with the count of the others.
func TestLogSampler_Flood(t *testing.T) {
	clk := newClock()
	s, buf := mustSampler(t, edge.LogSamplerOptions{NowFunc: clk.Now})
	for range 10000 {
		reject(s, "203.0.113.7", "bad_method")
	}
	if n := len(lines(buf.String())); n != edge.DefaultLogBurst {
		t.Fatalf("%d lines for 10,000 rejections, want %d:\n%s", n, edge.DefaultLogBurst, buf)
	}
	if got := grep(buf.String(), "log_sampling="); len(got) != 1 {
		t.Errorf("%d lines say that sampling starts, want the last of the burst:\n%s", len(got), buf)
	}
	s.Flush()
	sum := grep(buf.String(), "suppressed=")
	if len(sum) != 1 || !strings.Contains(sum[0], "suppressed=9995") || !strings.Contains(sum[0], "client=203.0.113.7") ||
		!strings.Contains(sum[0], "reason=bad_method") {
		t.Fatalf("summary lines %q, want one with client, reason and suppressed=9995", sum)
	}
	s.Flush()
	if n := len(lines(buf.String())); n != edge.DefaultLogBurst+1 {
		t.Errorf("a second Flush wrote more: %d lines", n)
	}
}

// TestLogSampler_Interval ensures a new interval writes the previous one's
// count, then lines again.
func TestLogSampler_Interval(t *testing.T) {
	clk := newClock()
	s, buf := mustSampler(t, edge.LogSamplerOptions{NowFunc: clk.Now, Burst: 2, Interval: time.Minute})
	for range 10 {
		reject(s, "203.0.113.7", "not_signed")
	}
	clk.Advance(time.Minute)
	reject(s, "203.0.113.7", "not_signed")
	got := lines(buf.String())
	if len(got) != 4 || !strings.Contains(got[2], "suppressed=8") || strings.Contains(got[3], "suppressed") {
		t.Fatalf("lines %q, want 2 lines, the count of 8, then the new interval's first line", got)
	}
}

// TestLogSampler_Keys ensures each client and reason has its own budget,
// an IPv6 /64 being one client, and that clients beyond MaxKeys share one.
func TestLogSampler_Keys(t *testing.T) {
	clk := newClock()
	s, buf := mustSampler(t, edge.LogSamplerOptions{NowFunc: clk.Now, Burst: 1, MaxKeys: 4})
	for range 3 {
		reject(s, "203.0.113.7", "not_signed")
		reject(s, "203.0.113.7", "too_old")
		reject(s, "203.0.113.8", "not_signed")
		reject(s, "2001:db8::1", "not_signed")
		reject(s, "2001:db8::2", "not_signed") // same /64
	}
	if n := len(lines(buf.String())); n != 4 {
		t.Fatalf("%d lines, want one per client and reason:\n%s", n, buf)
	}
	for i := range 100 {
		reject(s, "198.51.100."+string(rune('0'+i%10))+"0", "not_signed")
	}
	if n := len(lines(buf.String())); n != 5 {
		t.Fatalf("%d lines after 100 rejections from other clients beyond MaxKeys, want one more:\n%s", n, buf)
	}
	s.Flush()
	if got := grep(buf.String(), "client="+edge.OtherClients, "suppressed=99"); len(got) != 1 {
		t.Errorf("no count for the other clients:\n%s", buf)
	}
	if got := grep(buf.String(), "client=2001:db8::/64", "suppressed=5"); len(got) != 1 {
		t.Errorf("no count for the IPv6 /64:\n%s", buf)
	}
}

// TestLogSampler_Timer ensures a pending count is written when its
// interval ends, without another line or a Flush.
func TestLogSampler_Timer(t *testing.T) {
	s, buf := mustSampler(t, edge.LogSamplerOptions{Burst: 1, Interval: 20 * time.Millisecond})
	for range 5 {
		reject(s, "203.0.113.7", "not_signed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(grep(buf.String(), "suppressed=4")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no count written after the interval:\n%s", buf)
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
}

// TestLogSampler_Options ensures invalid options are refused.
func TestLogSampler_Options(t *testing.T) {
	for _, o := range []edge.LogSamplerOptions{{Interval: -1}, {Burst: -1}, {MaxKeys: -1}, {IPv6PrefixLen: 129}} {
		if _, err := edge.NewLogSampler(nil, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// TestAllowlist_FloodLogSampled ensures a flood from outside the allowlist
// writes a few lines, not a line a request.
func TestAllowlist_FloodLogSampled(t *testing.T) {
	logger, buf := newLogger()
	a, err := edge.NewAllowlist(edge.ModeEnforce, edge.AllowlistOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(&counting{})
	for range 10000 {
		if w := serve(h, request("203.0.113.7:1234")); w.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", w.Code)
		}
	}
	if n := len(lines(buf.String())); n > edge.DefaultLogBurst {
		t.Fatalf("%d lines for 10,000 refused requests, want at most %d", n, edge.DefaultLogBurst)
	}
}
