package console_test

import (
	"net/url"
	"testing"

	"github.com/hookbox/hookbox/console"
)

// TestLogin_NextStaysLocal ensures ?next= only ever sends the browser to
// a path of the console: browsers drop tabs and newlines from a Location
// and read a backslash as a slash, so "/\t/evil.example" is
// "//evil.example", another site.
func TestLogin_NextStaysLocal(t *testing.T) {
	ts := newConsole(t, console.Options{Store: mustOpenStore(t)}) // open: /login redirects at once
	c := client(t)
	for next, want := range map[string]string{
		"/events?state=dead":     "/events?state=dead",
		"//evil.example/x":       "/",
		"/\t/evil.example/x":     "/",
		"/\n/evil.example/x":     "/",
		"/\\evil.example/x":      "/",
		"/x/\\/evil.example":     "/",
		"https://evil.example/x": "/",
		"/\x7f/evil.example":     "/",
		"evil.example":           "/",
	} {
		res, _ := do(t, c, "GET", ts.URL+"/login?next="+url.QueryEscape(next), "", nil)
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("next=%q: Location %q, want %q", next, got, want)
		}
	}
}
