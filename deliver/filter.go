package deliver

import (
	"slices"
	"strings"

	"github.com/hookbox/hookbox"
)

// Types is an event type filter as the Stripe CLI spells it: a
// comma-separated list of exact types ("payment_intent.succeeded"),
// prefixes ("invoice.*", matching "invoice.paid" and
// "invoice.payment_failed" but not "invoice" itself nor "invoiceitem.created")
// and "*" for every type. The zero value matches every type. A Types is
// immutable and safe for concurrent use.
type Types struct {
	all      bool
	exact    map[string]struct{}
	prefixes []string // with the trailing dot, longest first
	text     string   // canonical form, for String
}

// AllTypes matches every event type.
var AllTypes = Types{all: true, text: "*"}

// ParseTypes parses a type filter: comma-separated items, each an exact
// type, a prefix ending in ".*", or "*". Spaces around items are ignored;
// an empty string means every type, like "*". An empty item, a "*" anywhere
// but alone or after the last dot, an uppercase letter (Stripe types are
// lowercase, so such a pattern would never match), whitespace or a control
// character inside an item, or an empty dot-separated segment is an error
// coded EINVALID that names the item.
func ParseTypes(s string) (Types, error) {
	if strings.TrimSpace(s) == "" {
		return AllTypes, nil
	}
	var t Types
	var canon []string
	for _, item := range strings.Split(s, ",") {
		p := strings.TrimSpace(item)
		if err := validatePattern(p); err != nil {
			return Types{}, err
		}
		if slices.Contains(canon, p) {
			continue
		}
		canon = append(canon, p)
		switch {
		case p == "*":
			t.all = true
		case strings.HasSuffix(p, ".*"):
			t.prefixes = append(t.prefixes, strings.TrimSuffix(p, "*"))
		default:
			if t.exact == nil {
				t.exact = make(map[string]struct{})
			}
			t.exact[p] = struct{}{}
		}
	}
	slices.SortStableFunc(t.prefixes, func(a, b string) int { return len(b) - len(a) })
	t.text = strings.Join(canon, ",")
	return t, nil
}

// MustParseTypes is ParseTypes for patterns known to be valid; it panics on
// an error.
func MustParseTypes(s string) Types {
	t, err := ParseTypes(s)
	if err != nil {
		panic(err)
	}
	return t
}

// validatePattern checks one item of a type filter (or one Mux pattern).
func validatePattern(p string) error {
	if p == "" {
		return hookbox.Errorf(hookbox.EINVALID, "event type filter: empty pattern")
	}
	if p == "*" {
		return nil
	}
	body := p
	if strings.HasSuffix(p, ".*") {
		body = strings.TrimSuffix(p, ".*")
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '*':
			return hookbox.Errorf(hookbox.EINVALID,
				"event type pattern %q: a wildcard is only allowed alone (\"*\") or as the last segment (\"invoice.*\")", p)
		case c >= 'A' && c <= 'Z':
			return hookbox.Errorf(hookbox.EINVALID,
				"event type pattern %q: Stripe event types are lowercase", p)
		case c <= ' ' || c == 0x7f:
			return hookbox.Errorf(hookbox.EINVALID,
				"event type pattern %q: whitespace or control character", p)
		}
	}
	for _, seg := range strings.Split(body, ".") {
		if seg == "" {
			return hookbox.Errorf(hookbox.EINVALID,
				"event type pattern %q: empty segment (want e.g. \"payment_intent.succeeded\" or \"invoice.*\")", p)
		}
	}
	return nil
}

// Match reports whether the event type typ passes the filter.
func (t Types) Match(typ string) bool {
	if t.all || (t.exact == nil && t.prefixes == nil) {
		return true
	}
	if _, ok := t.exact[typ]; ok {
		return true
	}
	for _, p := range t.prefixes {
		if len(typ) > len(p) && strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// String returns the filter in its canonical form (duplicates removed),
// "*" for the zero value.
func (t Types) String() string {
	if t.text == "" {
		return "*"
	}
	return t.text
}

// Livemode filters events by their livemode flag. The zero value, like
// LivemodeAny, passes both live and test events.
type Livemode string

// The livemode filters.
const (
	LivemodeAny  Livemode = "any"  // live and test events
	LivemodeLive Livemode = "live" // only events with livemode true
	LivemodeTest Livemode = "test" // only events with livemode false
)

// ParseLivemode parses "any" (or ""), "live" or "test"; anything else is an
// error coded EINVALID.
func ParseLivemode(s string) (Livemode, error) {
	switch l := Livemode(strings.ToLower(strings.TrimSpace(s))); l {
	case "", LivemodeAny:
		return LivemodeAny, nil
	case LivemodeLive, LivemodeTest:
		return l, nil
	}
	return "", hookbox.Errorf(hookbox.EINVALID, "livemode filter %q: want any, live or test", s)
}

// Match reports whether an event with the given livemode flag passes.
func (l Livemode) Match(livemode bool) bool {
	switch l {
	case LivemodeLive:
		return livemode
	case LivemodeTest:
		return !livemode
	}
	return true
}

// valid reports whether l is one of the known values (or zero).
func (l Livemode) valid() bool {
	switch l {
	case "", LivemodeAny, LivemodeLive, LivemodeTest:
		return true
	}
	return false
}

// Filter is a destination's event filter: type and livemode.
type Filter struct {
	Types    Types
	Livemode Livemode
}

// Match reports whether ev passes both filters.
func (f Filter) Match(ev *hookbox.Event) bool {
	return f.Livemode.Match(ev.Livemode) && f.Types.Match(ev.Type)
}

// checkName validates a destination name: it is the key of the
// destination's delivery state in the store, so it must be stable,
// non-empty and printable.
func checkName(name string) error {
	if name == "" {
		return hookbox.Errorf(hookbox.EINVALID, "destination name is empty")
	}
	if len(name) > 100 {
		return hookbox.Errorf(hookbox.EINVALID, "destination name %.20q...: longer than 100 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c == 0x7f || c == ',' {
			return hookbox.Errorf(hookbox.EINVALID, "destination name %q: whitespace, comma or control character", name)
		}
	}
	return nil
}
