package stripeapi

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/hookbox/hookbox"
)

// Target is a hookbox endpoint as Check compares it with Stripe's: where
// Stripe must post, and what its destinations expect.
type Target struct {
	Endpoint     string // hookbox endpoint name
	URL          string // the public URL Stripe posts to
	Destinations []Destination
}

// Destination is what one destination of a Target expects.
type Destination struct {
	Name string
	// Events are the type patterns it filters on: exact types, prefixes
	// (invoice.*) or "*"; none: every type.
	Events []string
	// APIVersion it reads; zero: any.
	APIVersion hookbox.APIVersion
}

// Severity grades a Finding.
type Severity string

const (
	// SeverityOK: the aspect checked is as it should be.
	SeverityOK Severity = "ok"
	// SeverityWarning: worth a look, events still flow as expected.
	SeverityWarning Severity = "warning"
	// SeverityProblem: events are lost, unread or never sent.
	SeverityProblem Severity = "problem"
)

// Aspects a Finding is about.
const (
	AspectURL        = "url"
	AspectStatus     = "status"
	AspectEvents     = "events"
	AspectAPIVersion = "api_version"
)

// Finding is one result of Check.
type Finding struct {
	Endpoint string   `json:"endpoint,omitempty"`  // hookbox endpoint; "" for a Stripe endpoint that matches none
	StripeID string   `json:"stripe_id,omitempty"` // the Stripe endpoint, if one is concerned
	Aspect   string   `json:"aspect"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Report is the result of Check.
type Report struct {
	Findings []Finding
	// Enabled tells, per hookbox endpoint, whether Stripe posts to it: at
	// least one Stripe endpoint points at it and every one that does is
	// enabled.
	Enabled map[string]bool
}

// Problems counts the findings of SeverityProblem.
func (r Report) Problems() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == SeverityProblem {
			n++
		}
	}
	return n
}

// Check compares each target with the Stripe endpoints whose URL points at
// it (several during an API version upgrade: each is checked): URL, status,
// enabled events against the destinations' type filters, and pinned API
// version against the destinations' versions. A Stripe endpoint pointing
// at a host of the targets under no target's URL is a warning.
func Check(targets []Target, eps []Endpoint) Report {
	r := Report{Enabled: map[string]bool{}}
	matched := map[string]bool{}
	for _, t := range targets {
		var mine []Endpoint
		for _, e := range eps {
			if sameURL(e.URL, t.URL) {
				mine = append(mine, e)
				matched[e.ID] = true
			}
		}
		r.Enabled[t.Endpoint] = len(mine) > 0
		if len(mine) == 0 {
			r.add(t, Endpoint{}, AspectURL, SeverityProblem, fmt.Sprintf("no Stripe endpoint posts to %s: Stripe sends this endpoint nothing (create one: hookbox stripe endpoints create --url %s ...)", t.URL, t.URL))
			continue
		}
		for _, e := range mine {
			r.add(t, e, AspectURL, SeverityOK, "posts to "+t.URL)
			if !r.checkStatus(t, e) {
				r.Enabled[t.Endpoint] = false
			}
			r.checkEvents(t, e)
			r.checkVersion(t, e)
		}
	}
	r.checkStrays(targets, eps, matched)
	return r
}

func (r *Report) add(t Target, e Endpoint, aspect string, s Severity, msg string) {
	r.Findings = append(r.Findings, Finding{Endpoint: t.Endpoint, StripeID: e.ID, Aspect: aspect, Severity: s, Message: msg})
}

// checkStatus reports the endpoint's status; false unless enabled.
func (r *Report) checkStatus(t Target, e Endpoint) bool {
	switch e.Status {
	case StatusEnabled:
		r.add(t, e, AspectStatus, SeverityOK, "enabled")
		return true
	case StatusDisabled:
		r.add(t, e, AspectStatus, SeverityProblem, "disabled: Stripe sends nothing to it, and events created meanwhile are never sent (re-enable: hookbox stripe endpoints update "+e.ID+" --enabled; recover: hookbox reconcile)")
	default:
		r.add(t, e, AspectStatus, SeverityProblem, fmt.Sprintf("status %q, not enabled", e.Status))
	}
	return false
}

// checkEvents compares the destinations' type filters with what Stripe
// sends: "*" on Stripe's side covers all; an exact type must be enabled; a
// prefix needs "*" (Stripe takes no prefixes), and only a warning when
// some of its types are enabled, since hookbox cannot know them all.
func (r *Report) checkEvents(t Target, e Endpoint) {
	if slices.Contains(e.EnabledEvents, AllEvents) {
		r.add(t, e, AspectEvents, SeverityOK, "sends every event type (*)")
		return
	}
	clean := true
	for _, d := range t.Destinations {
		for _, p := range d.Events {
			if s, msg := coverage(p, e.EnabledEvents); s != SeverityOK {
				clean = false
				r.add(t, e, AspectEvents, s, fmt.Sprintf("destination %s filters on %s, %s", d.Name, p, msg))
			}
		}
	}
	if clean {
		r.add(t, e, AspectEvents, SeverityOK, "sends the types the destinations filter on: "+strings.Join(e.EnabledEvents, ","))
	}
}

// coverage says how far the enabled events cover pattern p.
func coverage(p string, enabled []string) (Severity, string) {
	if p == "" || p == AllEvents {
		return SeverityOK, ""
	}
	prefix, isPrefix := strings.CutSuffix(p, "*")
	if !isPrefix {
		if slices.Contains(enabled, p) {
			return SeverityOK, ""
		}
		return SeverityProblem, "which Stripe does not send to this endpoint (add it with hookbox stripe endpoints update --events)"
	}
	var some []string
	for _, ev := range enabled {
		if strings.HasPrefix(ev, prefix) && len(ev) > len(prefix) {
			some = append(some, ev)
		}
	}
	if len(some) == 0 {
		return SeverityProblem, "and Stripe sends none of those types to this endpoint"
	}
	return SeverityWarning, "Stripe sends only " + strings.Join(some, ",") + " of those: check no other is needed, or enable *"
}

// checkVersion compares the endpoint's pinned version with each
// destination's.
func (r *Report) checkVersion(t Target, e Endpoint) {
	var stated []Destination
	for _, d := range t.Destinations {
		if d.APIVersion != "" {
			stated = append(stated, d)
		}
	}
	switch {
	case e.APIVersion == "" && len(stated) == 0:
		r.add(t, e, AspectAPIVersion, SeverityWarning, "not pinned: events come in the account's default version, which changes when the account is upgraded")
		return
	case e.APIVersion == "":
		r.add(t, e, AspectAPIVersion, SeverityProblem, "not pinned: events come in the account's default version, which hookbox cannot see; destinations expect "+versions(stated)+" (create an endpoint pinned with hookbox stripe endpoints create --api-version)")
		return
	case len(stated) == 0:
		r.add(t, e, AspectAPIVersion, SeverityOK, "pinned to "+e.APIVersion+" (no destination states a version)")
		return
	}
	clean := true
	for _, d := range stated {
		if !d.APIVersion.Compatible(e.APIVersion) {
			clean = false
			r.add(t, e, AspectAPIVersion, SeverityProblem, fmt.Sprintf("pinned to %s, but destination %s reads %s (release train %s)", e.APIVersion, d.Name, d.APIVersion, d.APIVersion.Train()))
		}
	}
	if clean {
		r.add(t, e, AspectAPIVersion, SeverityOK, "pinned to "+e.APIVersion+", which the destinations read ("+versions(stated)+")")
	}
}

func versions(ds []Destination) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Name+" "+string(d.APIVersion))
	}
	return strings.Join(s, ", ")
}

// checkStrays warns of Stripe endpoints on a host of the targets that
// match no target (a renamed endpoint, a typo in the path).
func (r *Report) checkStrays(targets []Target, eps []Endpoint, matched map[string]bool) {
	hosts := map[string]bool{}
	for _, t := range targets {
		if u, err := url.Parse(t.URL); err == nil {
			hosts[strings.ToLower(u.Hostname())] = true
		}
	}
	for _, e := range eps {
		u, err := url.Parse(e.URL)
		if matched[e.ID] || err != nil || !hosts[strings.ToLower(u.Hostname())] {
			continue
		}
		r.Findings = append(r.Findings, Finding{StripeID: e.ID, Aspect: AspectURL, Severity: SeverityWarning,
			Message: fmt.Sprintf("posts to %s, on hookbox's host but to no endpoint it serves", e.URL)})
	}
}

// sameURL compares two URLs as Stripe would reach them: scheme and host
// case-insensitively, default ports implied, a trailing slash ignored.
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return normalURL(ua) == normalURL(ub)
}

func normalURL(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	host = strings.TrimSuffix(host, map[string]string{"https": ":443", "http": ":80"}[scheme])
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return scheme + "://" + host + path + "?" + u.RawQuery
}
