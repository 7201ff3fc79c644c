package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the templates rendered inside the layout; each is parsed with
// the layout and the shared partials into a set of its own.
var pages = []string{"login", "overview", "events", "event", "replay", "error", "destinations"}

// layout is the data every page is rendered with.
type layout struct {
	Title    string
	LoggedIn bool // a session exists: offer to log out
	Path     string
	Data     any
}

// parseTemplates parses one set per page, with funcs bound to s's clock.
func (s *Server) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"utc":            formatUTC,
		"iso":            func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"unix":           unixTime,
		"ago":            func(t time.Time) string { return relative(t, s.now()) },
		"eventURL":       eventURL,
		"due":            due,
		"parked":         func(reason string) string { p, _ := hookbox.ParkedAs(reason); return p },
		"noDestination":  DeliveredToNoneRow,
		"blocked":        Blocked,
		"maxSkipReason":  func() int { return MaxSkipReason },
		"static":         staticURL,
		"comma":          comma,
		"dur":            formatDuration,
		"pct":            func(n, max int) int { return percent(n, max) },
		"add":            func(a, b int) int { return a + b },
		"mul":            func(a, b int) int { return a * b },
		"sub":            func(a, b int) int { return a - b },
		"states":         func() []hookbox.State { return append(slices.Clone(hookbox.States), StateHeld) },
		"maxIndentRatio": func() int { return MaxIndentRatio },
		"reasonCount": func(cs []Count, name string) int {
			for _, c := range cs {
				if c.Name == name {
					return c.N
				}
			}
			return 0
		},
		"secretCount": func(cs []SecretCount, idx int) int {
			for _, c := range cs {
				if c.Index == idx {
					return c.N
				}
			}
			return 0
		},
	}
	sets := make(map[string]*template.Template, len(pages))
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", p, err)
		}
		sets[p] = t
	}
	return sets, nil
}

// render executes page inside the layout, buffered, so that a template
// error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	s.execute(w, r, status, page, "layout", layout{
		Title:    title,
		LoggedIn: s.token != "" && s.sessions.valid(s.sessionID(r)),
		Path:     r.URL.Path,
		Data:     data,
	})
}

// renderFragment executes one named template of page alone (live refresh).
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, page, name string, data any) {
	s.execute(w, r, http.StatusOK, page, name, data)
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	var buf bytes.Buffer
	if err := s.templates[page].ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("console: render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the data of the error template.
type errorPage struct {
	Status  int
	Message string
}

// statusOf is the HTTP status of err (hookbox.HTTPStatus).
func statusOf(err error) int { return hookbox.HTTPStatus(hookbox.ErrorCode(err)) }

// userMessage is the message of err safe to show; an internal error is
// logged and shown generically.
func (s *Server) userMessage(r *http.Request, err error) string {
	if hookbox.ErrorCode(err) == hookbox.EINTERNAL {
		s.log.Error("console: internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	return hookbox.ErrorMessage(err)
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	s.render(w, r, status, "error", http.StatusText(status), errorPage{Status: status, Message: s.userMessage(r, err)})
}

// unixTime is Stripe's created time (unix seconds) as a time, zero for 0
// (an event without one), so that pages show it like every other time.
func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func formatUTC(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// relative says how long ago (or in how long) t is from now, coarsely.
func relative(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	switch {
	case d < 2*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s" + suffix
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m" + suffix
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h" + strconv.Itoa(int(d%time.Hour/time.Minute)) + "m" + suffix
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d" + suffix
	}
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.Itoa(int(d/time.Microsecond)) + " µs"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// eventURL is the stable console address of an event.
func eventURL(id string) string { return "/events/" + url.PathEscape(id) }

func comma(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + comma(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func percent(n, max int) int {
	if max <= 0 {
		return 0
	}
	return n * 100 / max
}

// writeJSON writes v as the JSON response, as WriteJSON does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalJSON(v)
	if err != nil {
		http.Error(w, `{"code":"internal","message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// due is a delivery's next attempt time for a page: zero (shown as "—")
// when it is held or parked, never due on its own (hookbox.HeldUntil).
func due(t time.Time) time.Time {
	if t.Equal(hookbox.HeldUntil) {
		return time.Time{}
	}
	return t
}
