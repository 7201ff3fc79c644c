package hookbox

import (
	"testing"
	"time"
)

// TestRateLimitTake: a burst goes at once, then one send per interval; in
// any one-second window no more than Rate+Burst sends are granted; refused
// sends are told to come back one interval apart.
func TestRateLimitTake(t *testing.T) {
	l := RateLimit{Rate: 5, Burst: 3}
	t0 := time.Unix(1_700_000_000, 0)
	var st RateState
	var at time.Time
	var ok bool
	for i := range 3 {
		if at, ok, st = l.Take(st, t0, 0); !ok || !at.Equal(t0) {
			t.Fatalf("burst send %d: at %v ok %v", i, at.Sub(t0), ok)
		}
	}
	if _, ok, st = l.Take(st, t0, 0); ok {
		t.Fatal("fourth send at once granted beyond the burst")
	}
	if at, ok, st = l.Take(st, t0, 300*time.Millisecond); !ok || at.Sub(t0) != 200*time.Millisecond {
		t.Fatalf("send within wait: at %v ok %v, want +200ms", at.Sub(t0), ok)
	}
	// Refused sends come back spaced by the interval.
	var agains []time.Duration
	for range 3 {
		a, ok, next := l.Take(st, t0, 0)
		if ok {
			t.Fatal("granted with no token")
		}
		st = next
		agains = append(agains, a.Sub(t0))
	}
	if agains[0] != 400*time.Millisecond || agains[1] != 600*time.Millisecond || agains[2] != 800*time.Millisecond {
		t.Fatalf("try-again times %v, want 400ms 600ms 800ms", agains)
	}

	// Steady load: take whenever granted, sending every 10 ms for 5 s;
	// count every one-second window.
	st = RateState{}
	var sent []time.Time
	for ms := 0; ms < 5000; ms += 10 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		if at, ok, next := l.Take(st, now, 0); ok {
			st = next
			sent = append(sent, at)
		}
	}
	for i := range sent {
		n := 0
		for _, s := range sent[i:] {
			if s.Sub(sent[i]) < time.Second {
				n++
			}
		}
		if n > 5+3 {
			t.Fatalf("%d sends in the second from %v, want at most rate+burst = 8", n, sent[i].Sub(t0))
		}
	}
	if len(sent) < 5*5 || len(sent) > 5*5+3 {
		t.Fatalf("%d sends in 5 s at 5/s burst 3", len(sent))
	}
}

func TestRateLimitUnlimited(t *testing.T) {
	now := time.Unix(1, 0)
	if at, ok, _ := (RateLimit{}).Take(RateState{}, now, 0); !ok || !at.Equal(now) {
		t.Fatal("a zero rate limits")
	}
}

// TestRateLimitJitter ensures that at any rate no window of one second
// plus RateJitter holds more than Rate+Burst grants (a send delayed by up
// to RateJitter still shows the destination at most Rate+Burst in one
// second), and that the pace stays within 10% of the rate.
func TestRateLimitJitter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, l := range []RateLimit{{Rate: 1, Burst: 1}, {Rate: 5, Burst: 2}, {Rate: 10, Burst: 1}, {Rate: 20, Burst: 5}, {Rate: 50, Burst: 1}, {Rate: 100, Burst: 10}, {Rate: 2.5, Burst: 3}} {
		var st RateState
		var sent []time.Time
		for us := int64(0); us < 10_000_000; us += 1000 {
			if at, ok, next := l.Take(st, t0.Add(time.Duration(us)*time.Microsecond), 0); ok {
				st = next
				sent = append(sent, at)
			}
		}
		limit := int(l.Rate) + l.Burst
		for i := range sent {
			n := 0
			for _, s := range sent[i:] {
				if s.Sub(sent[i]) <= time.Second+RateJitter {
					n++
				}
			}
			if n > limit {
				t.Fatalf("%+v: %d grants within 1s+%v of grant %d, want at most %d", l, n, RateJitter, i, limit)
			}
		}
		if pace := float64(len(sent)-l.Burst) / 10; pace < 0.9*l.Rate-0.2 || pace > l.Rate+0.01 {
			t.Fatalf("%+v: %.2f grants per second", l, pace)
		}
	}
}

// TestParkReasons ensures a released delivery parked keeps its release,
// and that the parked reasons read back as what parks them.
func TestParkReasons(t *testing.T) {
	for _, tc := range []struct {
		prev, park, want string
	}{
		{"", HoldPaused, HoldPaused},
		{"2023-10-16", HoldBreaker, HoldBreaker}, // held for its version: parked plain
		{HoldReleased, HoldPaused, HoldPausedReleased},
		{HoldReleased, HoldBreaker, HoldBreakerReleased},
		{HoldBreakerReleased, HoldProbe, HoldProbeReleased},
		{HoldProbeReleased, HoldBreaker, HoldBreakerReleased},
		{HoldPaused, HoldBreaker, HoldBreaker},
	} {
		if got := Park(tc.prev, tc.park); got != tc.want {
			t.Errorf("Park(%q, %q) = %q, want %q", tc.prev, tc.park, got, tc.want)
		}
	}
	for reason, want := range map[string]struct {
		park             string
		released, parked bool
	}{
		"":                         {"", false, false},
		HoldReleased:               {"", true, false},
		HoldPaused:                 {HoldPaused, false, true},
		HoldProbe:                  {HoldProbe, false, true},
		HoldPausedReleased:         {HoldPaused, true, true},
		HoldBreakerReleased:        {HoldBreaker, true, true},
		HoldProbeReleased:          {HoldProbe, true, true},
		"2023-10-16":               {"", false, false},
		"2023-10-16+released":      {"", false, false}, // not a park: a version and a suffix
		"paused+released+released": {"", false, false},
	} {
		park, released := ParkedAs(reason)
		if want.released != Released(reason) || park != want.park || Parked(reason) != want.parked ||
			park != "" && released != want.released {
			t.Errorf("%q: ParkedAs %q, %v; Released %v; Parked %v; want %+v", reason, park, released, Released(reason), Parked(reason), want)
		}
	}
}
