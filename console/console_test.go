package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// hostile are payload values that must render as text.
var hostile = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`}

// hostileEvent holds markup in its type, its metadata and an attempt's
// response.
func hostileEvent(id string, at time.Time) *hookbox.Event {
	ev := newEvent(id, "invoice.paid<script>alert(3)</script>", "in_x", at, hookbox.StateDead,
		`"metadata":{"note":"<script>alert(1)</script>","name":"\"><img src=x onerror=alert(2)>"}`)
	ev.Headers["User-Agent"] = `"><img src=x onerror=alert(4)>`
	return ev
}

// TestLogin ensures that with a token every page sends to the login page,
// a wrong token is refused without echoing anything, the right one sets an
// HttpOnly SameSite=Strict cookie (Secure when configured), and logout
// ends the session.
func TestLogin(t *testing.T) {
	store := mustOpenStore(t)
	ts := newConsole(t, console.Options{Store: store, Token: testToken})
	c := client(t)
	for _, p := range []string{"/", "/events", "/events/evt_1", "/events/replay?state=dead"} {
		res, _ := do(t, c, "GET", ts.URL+p, "", nil)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
			t.Fatalf("GET %s without session: %d %s", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res, _ := do(t, c, "POST", ts.URL+"/events/replay", "state=dead", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST without session: %d", res.StatusCode)
	}
	res, body := do(t, c, "POST", ts.URL+"/login", "token=wrong-token-guess&next=/events", nil)
	if res.StatusCode != http.StatusUnauthorized || strings.Contains(body, "wrong-token-guess") || len(res.Cookies()) != 0 {
		t.Fatalf("wrong token: %d cookies %v", res.StatusCode, res.Cookies())
	}
	// An open redirect through next is not possible.
	res, _ = do(t, c, "POST", ts.URL+"/login", "token="+testToken+"&next=//evil.example/", nil)
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Fatalf("next=//evil: Location %q", loc)
	}
	ck := res.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Value == "" || strings.Contains(ck.Value, testToken) {
		t.Fatalf("cookie: %+v", ck)
	}
	if res, body := do(t, c, "GET", ts.URL+"/", "", nil); res.StatusCode != 200 || !strings.Contains(body, "Log out") || strings.Contains(body, testToken) {
		t.Fatalf("overview after login: %d", res.StatusCode)
	}
	do(t, c, "POST", ts.URL+"/logout", "", nil)
	// The old cookie no longer works even if replayed.
	c2 := client(t)
	u, _ := url.Parse(ts.URL)
	c2.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value}})
	if res, _ := do(t, c2, "GET", ts.URL+"/", "", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", res.StatusCode)
	}

	t.Run("Secure", func(t *testing.T) {
		ts := newConsole(t, console.Options{Store: store, Token: testToken, Secure: true})
		res, _ := do(t, client(t), "POST", ts.URL+"/login", "token="+testToken, nil)
		ck := res.Cookies()[0]
		if !ck.Secure || ck.Name != "__Host-hookbox_session" {
			t.Fatalf("cookie over TLS: %+v", ck)
		}
	})
}

// TestPagesInert ensures every page carries a CSP without inline script,
// renders hostile payload values escaped, and never shows the token.
func TestPagesInert(t *testing.T) {
	store := mustOpenStore(t)
	now := time.Now().UTC()
	mustInsert(t, store, hostileEvent("evt_xss", now.Add(-time.Minute)))
	act := console.NewActivity()
	act.Record("accepted", "", 0, now)
	act.Record("rejected", "<b>too_old</b>", -1, now)
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Activity: act})
	c := client(t)
	login(t, c, ts.URL)
	for _, p := range []string{"/", "/events", "/events?q=in_x", "/events/evt_xss", "/events/replay?state=dead", "/events/nope", "/login"} {
		res, body := do(t, c, "GET", ts.URL+p, "", nil)
		if res.StatusCode >= 500 {
			t.Fatalf("GET %s: %d", p, res.StatusCode)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("GET %s: CSP %q", p, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: no nosniff", p)
		}
		for _, h := range append(hostile, "<script>alert(3)", "<b>too_old", `onerror=alert(4)>`) {
			if strings.Contains(body, h) {
				t.Fatalf("GET %s: %q rendered raw", p, h)
			}
		}
		if regexp.MustCompile(`<script>|<script [^s]|style="`).MatchString(body) {
			t.Fatalf("GET %s: inline script or style", p)
		}
		if strings.Contains(body, testToken) {
			t.Fatalf("GET %s: token rendered", p)
		}
	}
	_, body := do(t, c, "GET", ts.URL+"/events/evt_xss", "", nil)
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(body, "onerror=alert(2)") {
		t.Fatalf("hostile values not shown as text:\n%s", body)
	}
}

// TestCrossOrigin ensures every state-changing console request from
// another origin is refused, and the same request from the console itself
// goes through.
func TestCrossOrigin(t *testing.T) {
	store := mustOpenStore(t)
	mustInsert(t, store, newEvent("evt_dead", "invoice.paid", "in_1", time.Now(), hookbox.StateDead, ""))
	ts := newConsole(t, console.Options{Store: store, Token: testToken})
	c := client(t)
	login(t, c, ts.URL)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "http://evil.example"},
	} {
		for _, p := range []string{"/events/evt_dead/replay", "/events/replay", "/logout", "/login"} {
			res, _ := do(t, c, "POST", ts.URL+p, "state=dead&token="+testToken, h)
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("POST %s with %v: %d", p, h, res.StatusCode)
			}
		}
	}
	ev, _ := store.FindEventByID(context.Background(), "evt_dead")
	if ev.State != hookbox.StateDead {
		t.Fatal("a cross-origin request replayed the event")
	}
	res, _ := do(t, c, "POST", ts.URL+"/events/evt_dead/replay", "", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": ts.URL})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/events/evt_dead?replayed=1" {
		t.Fatalf("same-origin replay: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestReplayByFilter ensures the confirmation says how many events match
// and the replay replays them and says so.
func TestReplayByFilter(t *testing.T) {
	store := mustOpenStore(t)
	now := time.Now().UTC()
	for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
		mustInsert(t, store, newEvent(id, "invoice.paid", "in_"+id, now.Add(-time.Minute), hookbox.StateDead, ""))
	}
	mustInsert(t, store, newEvent("evt_4", "charge.failed", "ch_4", now.Add(-time.Minute), hookbox.StateDead, ""))
	ts := newConsole(t, console.Options{Store: store})
	c := client(t)
	_, body := do(t, c, "GET", ts.URL+"/events/replay?state=dead&type=invoice.*", "", nil)
	if !strings.Contains(body, "3 events</strong>") {
		t.Fatalf("confirmation:\n%s", body)
	}
	_, body = do(t, c, "GET", ts.URL+"/events/replay?type=invoice.*", "", nil)
	if !strings.Contains(body, "choose a state") {
		t.Fatalf("no state:\n%s", body)
	}
	res, _ := do(t, c, "POST", ts.URL+"/events/replay", "state=dead&type=invoice.*", nil)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "replayed=3") {
		t.Fatalf("replay: %d %s", res.StatusCode, loc)
	}
	_, body = do(t, c, "GET", ts.URL+loc, "", nil)
	if !strings.Contains(body, "Replayed 3 events") {
		t.Fatalf("result not shown")
	}
	// A filter the store cannot replay in one statement goes by ids.
	res, _ = do(t, c, "POST", ts.URL+"/events/replay", "state=dead&q=ch_4", nil)
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "replayed=1") {
		t.Fatalf("replay by object id: %s", loc)
	}
	counts, _, _ := store.CountEvents(context.Background())
	if counts[hookbox.StatePending] != 4 {
		t.Fatalf("counts: %v", counts)
	}
}

// TestEventsList ensures the list pages with "Older" links without a
// count, a pasted event id goes to its page, and static files are cached.
func TestEventsList(t *testing.T) {
	store := mustOpenStore(t)
	now := time.Now().UTC()
	var evs []*hookbox.Event
	for i := range console.PageSize + 5 {
		evs = append(evs, newEvent("evt_"+strings.Repeat("x", 3)+string(rune('A'+i)), "invoice.paid", "in", now.Add(-time.Duration(i)*time.Second), hookbox.StateDelivered, ""))
	}
	mustInsert(t, store, evs...)
	ts := newConsole(t, console.Options{Store: store})
	c := client(t)
	_, body := do(t, c, "GET", ts.URL+"/events?state=delivered", "", nil)
	m := regexp.MustCompile(`href="(/events\?before=[^"]+)"`).FindStringSubmatch(body)
	if m == nil || strings.Count(body, `<tr>`) != console.PageSize+1 { // and the head
		t.Fatalf("first page: %d rows, next %v", strings.Count(body, `<tr>`), m)
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(next, "state=delivered") {
		t.Fatalf("next link lost the filter: %s", next)
	}
	_, body = do(t, c, "GET", ts.URL+next, "", nil)
	if strings.Count(body, `<tr>`) != 5+1 || strings.Contains(body, "Older") {
		t.Fatalf("second page: %d rows", strings.Count(body, `<tr>`))
	}
	res, _ := do(t, c, "GET", ts.URL+"/events?q=evt_xxxC", "", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/events/evt_xxxC" {
		t.Fatalf("event id search: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = do(t, c, "GET", ts.URL+"/events?fragment=1", "", nil)
	if strings.Contains(body, "<html") || !strings.Contains(body, "evt_xxxA") {
		t.Fatalf("fragment:\n%s", body)
	}
	_, body = do(t, c, "GET", ts.URL+"/", "", nil)
	css := regexp.MustCompile(`href="(/static/console.css\?v=[0-9a-f]+)"`).FindStringSubmatch(body)
	if css == nil {
		t.Fatal("no stylesheet link")
	}
	res, _ = do(t, c, "GET", ts.URL+css[1], "", nil)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("static: %d %v", res.StatusCode, res.Header)
	}
}
