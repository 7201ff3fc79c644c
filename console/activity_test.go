package console_test

import (
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// TestActivity ensures the per-minute counters sum over a span, forget
// minutes older than a day, and feed the chart.
func TestActivity(t *testing.T) {
	a := console.NewActivity()
	now := time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)
	a.Record("accepted", "", 0, now.Add(-2*time.Minute))
	a.Record("accepted", "", 1, now)
	a.Record("duplicate", "", 1, now)
	a.Record("rejected", "too_old", -1, now)
	a.Record("rejected", "too_old", -1, now.Add(-3*time.Hour))
	a.Record("too_large", "", -1, now)
	a.Record("accepted", "", 0, now.Add(-25*time.Hour)) // forgotten
	a.RecordAttempt(hookbox.Attempt{StartedAt: now, OK: true})
	a.RecordAttempt(hookbox.Attempt{StartedAt: now})

	h := a.Totals(now.Add(-time.Hour), now)
	if h.Received != 2 || h.Duplicates != 1 || h.Rejected != 2 || h.Delivered != 1 || h.Failed != 1 {
		t.Fatalf("hour: %+v", h)
	}
	d := a.Totals(now.Add(-24*time.Hour), now)
	if d.Received != 2 || d.Rejected != 3 || d.RejectedBy[0] != (console.Count{Name: "too_old", N: 2}) {
		t.Fatalf("day: %+v", d)
	}
	if len(d.Secrets) != 2 || d.Secrets[0].Index != 0 || d.Secrets[1].N != 2 || !d.Secrets[1].LastSeen.Equal(now) {
		t.Fatalf("secrets: %+v", d.Secrets)
	}
	s := a.Series(now, 60)
	if len(s) != 60 || !s[59].Minute.Equal(now) || s[59].Received != 1 || s[59].Rejected != 2 || s[57].Received != 1 {
		t.Fatalf("series: %+v", s[55:])
	}
	var nilAct *console.Activity
	nilAct.Record("accepted", "", 0, now)
	if nilAct.Totals(now.Add(-time.Hour), now).Received != 0 {
		t.Fatal("nil activity")
	}
}
