package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/sqlite"
)

// TestEventsList_Paging ensures `events list` shows each event's endpoint
// and says on stderr when more events match than it printed, with a command for the next page that,
// followed page after page, lists every matching event once; that --json
// stays one JSON array; and that the last page says nothing.
func TestEventsList_Paging(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var evs []*hookbox.Event
	for i := range 5 {
		evs = append(evs, &hookbox.Event{ID: fmt.Sprintf("evt_page_%d", i), Type: "invoice.paid",
			Body: []byte(`{}`), ReceivedAt: at.Add(time.Duration(i) * time.Second), Source: hookbox.SourceWebhook})
	}
	evs = append(evs, &hookbox.Event{ID: "evt_page_other", Type: "charge.succeeded", Body: []byte(`{}`), ReceivedAt: at, Source: hookbox.SourceWebhook, Endpoint: "connect"})
	if _, err := s.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	s.Close()

	list := func(args ...string) (stdout, stderr string) {
		t.Helper()
		env, out, errb := testEnv(map[string]string{"HOOKBOX_DB": "sqlite:" + path})
		if err := run(context.Background(), env, append([]string{"events", "list"}, args...)); err != nil {
			t.Fatalf("events list %v: %v", args, err)
		}
		return out.String(), errb.String()
	}
	var seen []string
	args := []string{"--type", "invoice.*", "--limit", "2", "--json"}
	for page := 0; ; page++ {
		out, note := list(args...)
		var items []struct{ ID string }
		if err := json.Unmarshal([]byte(out), &items); err != nil {
			t.Fatalf("page %d: not one JSON array: %v\n%s", page, err, out)
		}
		for _, it := range items {
			seen = append(seen, it.ID)
		}
		if note == "" {
			break
		}
		cmd, ok := strings.CutPrefix(strings.TrimSpace(note), "more events match than the 2 shown (newest first); next page: hookbox events list ")
		if !ok || page > 3 {
			t.Fatalf("page %d: stderr %q", page, note)
		}
		if !strings.HasPrefix(cmd, "--json --limit 2 --type 'invoice.*' --before ") {
			t.Errorf("the next page's command lacks the flags given: %s", cmd)
		}
		args = strings.Fields(strings.ReplaceAll(cmd, "'", ""))
	}
	if want := "evt_page_4 evt_page_3 evt_page_2 evt_page_1 evt_page_0"; strings.Join(seen, " ") != want {
		t.Errorf("pages listed %v, want %s", seen, want)
	}

	out, note := list("--limit", "6")
	if note != "" || strings.Count(out, "evt_page_") != 6 {
		t.Errorf("everything on one page: stderr %q\n%s", note, out)
	}
	if !regexp.MustCompile(`(?m)^ID +TYPE +STATE +MODE +SOURCE +ENDPOINT .*\nevt_page_4 .* webhook +- +.*\n(.*\n)*evt_page_other +charge.succeeded +pending +test +webhook +connect `).MatchString(out) {
		t.Errorf("the table lacks the endpoint:\n%s", out)
	}
	out, note = list("--limit", "5")
	if !strings.Contains(note, "more events match than the 5 shown") || strings.Count(out, "evt_page_") != 5 {
		t.Errorf("text mode: stderr %q\n%s", note, out)
	}
	env, _, _ := testEnv(map[string]string{"HOOKBOX_DB": "sqlite:" + path})
	if err := run(context.Background(), env, []string{"events", "list", "--before", "not-a-cursor"}); err == nil || !strings.Contains(err.Error(), "--before") {
		t.Errorf("a bad cursor: %v", err)
	}
}

// TestNextPageNote_Redacts ensures the next-page command never repeats a
// database password given with --db.
func TestNextPageNote_Redacts(t *testing.T) {
	fset := flag.NewFlagSet("t", flag.ContinueOnError)
	fset.String("db", "", "")
	fset.String("state", "", "")
	if err := fset.Parse([]string{"--db", "postgres://u:hunter2@db/x", "--state", "dead"}); err != nil {
		t.Fatal(err)
	}
	note := nextPageNote(fset, 3, "CUR")
	if strings.Contains(note, "hunter2") || !strings.Contains(note, "--state dead --before CUR") {
		t.Errorf("note: %s", note)
	}
}
