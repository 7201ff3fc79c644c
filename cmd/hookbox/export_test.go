package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

// lineBody returns the body an export line carries, from "body" or
// "body_base64", failing unless exactly one is there.
func lineBody(tb testing.TB, e exportLine) []byte {
	tb.Helper()
	switch {
	case e.Body != nil && e.BodyBase64 != nil:
		tb.Fatalf("%s: both body and body_base64", e.ID)
	case e.Body != nil:
		return []byte(*e.Body)
	case e.BodyBase64 != nil:
		return e.BodyBase64
	}
	tb.Fatalf("%s: neither body nor body_base64", e.ID)
	return nil
}

// mustSeed inserts evs into a new SQLite store and returns its --db value.
func mustSeed(tb testing.TB, evs []*hookbox.Event) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "hookbox.db")
	s, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < len(evs); i += 1000 {
		storetest.MustInsert(tb, s, evs[i:min(i+1000, len(evs))]...)
	}
	return "sqlite:" + path
}

// mustExport runs "events export" with args and returns its lines decoded,
// failing unless each line is one JSON object.
func mustExport(tb testing.TB, db string, args ...string) []exportLine {
	tb.Helper()
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, append([]string{"events", "export"}, args...)); err != nil {
		tb.Fatal(err)
	}
	var got []exportLine
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e exportLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			tb.Fatalf("line %d: %v\n%s", len(got)+1, err, sc.Bytes())
		}
		got = append(got, e)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return got
}

// exportFixture returns n events with the bodies an export must carry
// exactly: Stripe's multi-line layout, HTML characters, U+2028, escapes, a
// body that is not UTF-8, and a body emptied by retention. Groups of seven
// share a receive time, so ties cross page boundaries; the last third
// arrived in the past hour, the rest two days ago.
func exportFixture(n int, now time.Time) []*hookbox.Event {
	evs := make([]*hookbox.Event, n)
	endpoints := []string{"stripe", "connect", ""}
	for i := range evs {
		at := now.Add(-48 * time.Hour).Add(time.Duration(i/7) * time.Millisecond)
		if i >= 2*n/3 {
			at = now.Add(-time.Hour).Add(time.Duration(i/7) * time.Millisecond)
		}
		typ := []string{"invoice.paid", "invoice.created", "charge.succeeded"}[i%3]
		ev := storetest.NewEvent(fmt.Sprintf("evt_x_%05d", i), typ, at)
		ev.Endpoint = endpoints[i%len(endpoints)]
		ev.Livemode = i%2 == 0
		if i%5 == 0 {
			ev.State = hookbox.StateDead
		}
		switch i % 6 {
		case 0:
			ev.Body = prettyEvent(ev.ID, i%300)
		case 1:
			ev.Body = fmt.Appendf(nil, `{"id":%q,"note":"<a&b> \u2028 \u00e9 \\u00e9 \t"}`, ev.ID)
		case 2:
			ev.Body = append(fmt.Appendf(nil, `{"id":%q,"bin":"`, ev.ID), 0xff, 0xfe, '"', '}')
		case 3:
			ev.Body = []byte{}
		}
		evs[i] = ev
	}
	return evs
}

// TestEventsExport_RoundTrip ensures export writes every event once, newest
// received first, one JSON object a line, with its metadata and a body from
// which the stored bytes come back exactly (UTF-8 or not, multi-line,
// emptied by retention), across page boundaries and receive-time ties.
func TestEventsExport_RoundTrip(t *testing.T) {
	now := time.Now().UTC()
	evs := exportFixture(2001, now)
	db := mustSeed(t, evs)
	byID := map[string]*hookbox.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}

	got := mustExport(t, db)
	if len(got) != len(evs) {
		t.Fatalf("exported %d events, want %d", len(got), len(evs))
	}
	seen := map[string]bool{}
	for i, e := range got {
		want := byID[e.ID]
		if want == nil || seen[e.ID] {
			t.Fatalf("line %d: unknown or repeated %s", i+1, e.ID)
		}
		seen[e.ID] = true
		if i > 0 {
			prev := got[i-1]
			if e.ReceivedAt.After(prev.ReceivedAt) || e.ReceivedAt.Equal(prev.ReceivedAt) && e.ID > prev.ID {
				t.Fatalf("line %d: %s after %s, want newest received first", i+1, e.ID, prev.ID)
			}
		}
		if body := lineBody(t, e); !bytes.Equal(body, want.Body) {
			t.Fatalf("%s: body\n%q\nwant\n%q", e.ID, body, want.Body)
		}
		wantState := want.State
		if wantState == "" {
			wantState = hookbox.StatePending
		}
		if e.Type != want.Type || e.Created != want.Created || e.Livemode != want.Livemode || e.Account != want.Account ||
			e.APIVersion != want.APIVersion || e.Endpoint != want.Endpoint || e.State != wantState || e.Source != want.Source ||
			!e.ReceivedAt.Equal(want.ReceivedAt.Truncate(time.Microsecond)) || fmt.Sprint(e.Headers) != fmt.Sprint(want.Headers) {
			t.Fatalf("%s: metadata %+v, want %+v", e.ID, e, want)
		}
	}

}

// TestEventsExport_Filters ensures --type, --state, --endpoint and --since
// select what they say, across a page boundary.
func TestEventsExport_Filters(t *testing.T) {
	now := time.Now().UTC()
	evs := exportFixture(exportPage+101, now)
	db := mustSeed(t, evs)
	byID := map[string]*hookbox.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	count := func(keep func(*hookbox.Event) bool) int {
		n := 0
		for _, ev := range evs {
			if keep(ev) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		args []string
		keep func(*hookbox.Event) bool
	}{
		{[]string{"--type", "invoice.*"}, func(e *hookbox.Event) bool { return strings.HasPrefix(e.Type, "invoice.") }},
		{[]string{"--state", "dead"}, func(e *hookbox.Event) bool { return e.State == hookbox.StateDead }},
		{[]string{"--endpoint", "connect"}, func(e *hookbox.Event) bool { return e.Endpoint == "connect" }},
		// Events stored without a name belong to the default endpoint.
		{[]string{"--endpoint", "stripe"}, func(e *hookbox.Event) bool { return e.Endpoint != "connect" }},
		{[]string{"--since", "24h"}, func(e *hookbox.Event) bool { return e.ReceivedAt.After(now.Add(-24 * time.Hour)) }},
		{[]string{"--since", now.Add(-30 * time.Hour).Format(time.RFC3339), "--type", "charge.succeeded", "--state", "pending"},
			func(e *hookbox.Event) bool {
				return e.ReceivedAt.After(now.Add(-30*time.Hour)) && e.Type == "charge.succeeded" && e.State != hookbox.StateDead
			}},
	} {
		got := mustExport(t, db, c.args...)
		if want := count(c.keep); len(got) != want || want == 0 {
			t.Errorf("export %v: %d events, want %d", c.args, len(got), want)
		}
		for _, e := range got {
			if !c.keep(byID[e.ID]) {
				t.Errorf("export %v: %s should not be there", c.args, e.ID)
			}
		}
	}
}

// Ensures bad filters are refused before the store is opened.
func TestEventsExport_ErrFlags(t *testing.T) {
	for _, args := range [][]string{{"--state", "nope"}, {"--since", "yesterday"}, {"--since", "-1h"}, {"extra"}} {
		env, _, _ := testEnv(nil)
		if err := run(context.Background(), env, append([]string{"events", "export", "--db", "sqlite:/nonexistent/x.db"}, args...)); err == nil || strings.Contains(err.Error(), "no database") {
			t.Errorf("export %v: %v, want a flag error", args, err)
		}
	}
}

// heapSampler is an output that measures the live heap every sampleEvery
// lines written through it, and counts bytes.
type heapSampler struct {
	base, peak uint64
	lines, n   int
}

const sampleEvery = 200

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.n += len(p)
	for _, c := range p {
		if c == '\n' {
			h.lines++
			if h.lines%sampleEvery == 0 {
				h.peak = max(h.peak, liveHeap())
			}
		}
	}
	return len(p), nil
}

// TestEventsExport_ConstantMemory ensures export's memory does not grow
// with the store: exporting 2,000 events carrying 10 MB of bodies keeps the
// live heap within 4 MB of where it started (it holds one page of metadata
// and one body). Sizes are kept small for -race, under which SQLite runs
// about 30 times slower.
func TestEventsExport_ConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10 MB")
	}
	const n = 2000
	// Seeded in a function of its own, so that the events are garbage
	// before the export starts.
	db := func() string {
		pad := strings.Repeat("m", 5000)
		evs := make([]*hookbox.Event, n)
		t0 := time.Now().Add(-time.Hour)
		for i := range evs {
			evs[i] = storetest.NewEvent(fmt.Sprintf("evt_m_%05d", i), "invoice.paid", t0.Add(time.Duration(i)*time.Millisecond))
			evs[i].Body = fmt.Appendf(nil, `{"id":"evt_m_%05d","pad":"%s"}`, i, pad)
		}
		return mustSeed(t, evs)
	}()

	h := &heapSampler{}
	env := &environ{Stdout: h, Stderr: &lockedBuffer{}, Getenv: func(string) string { return "" }}
	h.base = liveHeap()
	start := time.Now()
	if err := run(context.Background(), env, []string{"events", "export", "--db", db}); err != nil {
		t.Fatal(err)
	}
	if h.lines != n || h.n < 10e6 {
		t.Fatalf("exported %d lines, %d bytes", h.lines, h.n)
	}
	growth := int64(h.peak) - int64(h.base)
	t.Logf("exported %d lines, %.1f MB in %v; live heap %.1f MB before, peak %.1f MB during", h.lines, float64(h.n)/1e6, time.Since(start).Round(time.Millisecond), float64(h.base)/1e6, float64(h.peak)/1e6)
	if growth > 4<<20 {
		t.Fatalf("live heap grew by %.1f MB while exporting %.1f MB", float64(growth)/1e6, float64(h.n)/1e6)
	}
}
