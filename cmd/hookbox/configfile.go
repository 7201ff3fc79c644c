package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/receiver"
)

// fileConfig is the --config file: several endpoints, each with its own
// path, secrets, tolerance, livemode filter and destinations. Unknown keys
// are errors. Flags and HOOKBOX_* variables still configure everything that
// is not per endpoint (listeners, store, retries, retention).
type fileConfig struct {
	Endpoints []endpointConfig `yaml:"endpoints"`
	Notify    *notifyConfig    `yaml:"notify"`

	notify *receiver.NotifyOptions // resolved Notify
}

// endpointConfig is one webhook endpoint, served at /webhooks/{name}.
type endpointConfig struct {
	Name      string       `yaml:"name"`
	Secrets   []secretRef  `yaml:"secrets"`
	Tolerance yamlDuration `yaml:"tolerance"`
	Livemode  string       `yaml:"livemode"`   // any (default), live, test
	PublicURL string       `yaml:"public_url"` // the URL Stripe posts to; default --public-url + path
	Payload   string       `yaml:"payload"`    // snapshot (default), thin
	// Dedupe: id (default: an event id is stored once) or endpoint (once
	// per endpoint: the second endpoint of an API version upgrade).
	Dedupe string `yaml:"dedupe"`
	// DedupeSnapshot (payload: thin only): skip the thin twin of a stored
	// snapshot event (thin.SkipSnapshotTwins), waiting up to
	// DedupeSnapshotWait for a twin that is not stored yet.
	DedupeSnapshot     bool                `yaml:"dedupe_snapshot"`
	DedupeSnapshotWait yamlDuration        `yaml:"dedupe_snapshot_wait"`
	Destinations       []destinationConfig `yaml:"destinations"`

	secrets  []string         // resolved
	livemode deliver.Livemode // parsed Livemode
	payload  receiver.Payload // parsed Payload
	dedupe   receiver.Dedupe  // parsed Dedupe
}

// destinationConfig is one HTTP destination of an endpoint.
type destinationConfig struct {
	Name     string       `yaml:"name"`
	URL      string       `yaml:"url"`
	Secret   secretRef    `yaml:"secret"`
	Events   []string     `yaml:"events"`   // type patterns; empty: all
	Livemode string       `yaml:"livemode"` // any (default), live, test
	Timeout  yamlDuration `yaml:"timeout"`
	// APIVersion is the Stripe API version the app understands: exact
	// (2026-07-29.dahlia) or a release train (dahlia); empty: any.
	APIVersion string `yaml:"api_version"`
	// Delivery in object order: order none (default) or object, and its
	// options (deliver.ParseOrdering).
	Order       string       `yaml:"order"`
	OrderWindow yamlDuration `yaml:"order_window"`
	Late        string       `yaml:"late"`
	OnDead      string       `yaml:"on_dead"`
	// Deliver: what a destination of a thin endpoint receives,
	// notification (default) or event.
	Deliver string `yaml:"deliver"`
	// Delivery controls (deliver.Controls): attempts at once (per
	// replica), attempts per second with a burst (shared by the
	// replicas), and the circuit breaker.
	MaxInFlight     int             `yaml:"max_in_flight"`
	Rate            float64         `yaml:"rate"`
	Burst           int             `yaml:"burst"`
	BreakerFailures breakerFailures `yaml:"breaker_failures"`
	BreakerProbe    yamlDuration    `yaml:"breaker_probe"`

	order      *deliver.Ordering
	controls   deliver.Controls
	secret     string             // resolved
	types      deliver.Types      // parsed Events
	livemode   deliver.Livemode   // parsed Livemode
	apiVersion hookbox.APIVersion // parsed APIVersion
}

// secretRef names where a secret comes from: an environment variable, a
// file, or (discouraged, with a loud warning) the value inline.
type secretRef struct {
	Env   string `yaml:"env"`
	File  string `yaml:"file"`
	Value string `yaml:"value"`
}

// yamlDuration is a YAML duration ("300s", "5m").
type yamlDuration time.Duration

func (d *yamlDuration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 300s", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: duration %q: want a positive duration like 300s", n.Line, s)
	}
	*d = yamlDuration(v)
	return nil
}

// loadFileConfig reads, strictly decodes and validates a config file, and
// resolves its secrets through getenv and the file system. Warnings (an
// inline secret) are returned for the caller to log. Errors never contain a
// secret value.
func loadFileConfig(path string, getenv func(string) string) (*fileConfig, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return parseFileConfig(b, getenv)
}

// emptyDocument reports whether n holds nothing (or only null).
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		return len(n.Content) == 0 || emptyDocument(n.Content[0])
	}
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func parseFileConfig(b []byte, getenv func(string) string) (_ *fileConfig, _ []string, err error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New("config: the file is empty")
		}
		return nil, nil, fmt.Errorf("config: %w", yamlError(err))
	}
	// A second document (after "---") would be ignored without a word; an
	// empty one (a trailing "---") is harmless.
	for {
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || !emptyDocument(&more) {
			return nil, nil, errors.New("config: the file holds more than one YAML document (---): keep one")
		}
	}
	if len(fc.Endpoints) == 0 {
		return nil, nil, errors.New("config: no endpoints")
	}
	var warnings []string
	seen := map[string]bool{}
	for i := range fc.Endpoints {
		ep := &fc.Endpoints[i]
		if !receiver.ValidName(ep.Name) {
			return nil, nil, fmt.Errorf("config: endpoints[%d]: name %q: want lowercase letters, digits, - and _ (it becomes %sNAME)", i, ep.Name, receiver.PathPrefix)
		}
		if seen[ep.Name] {
			return nil, nil, fmt.Errorf("config: endpoint %q: declared twice", ep.Name)
		}
		seen[ep.Name] = true
		w, err := ep.resolve(getenv)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
	}
	if fc.Notify != nil {
		var w []string
		if fc.notify, w, err = fc.Notify.resolve(getenv); err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
	}
	return &fc, warnings, nil
}

// resolve checks one endpoint of the file and reads its secrets and those
// of its destinations; it returns the warnings (inline secrets).
func (ep *endpointConfig) resolve(getenv func(string) string) (warnings []string, err error) {
	where := fmt.Sprintf("config: endpoint %q", ep.Name)
	if len(ep.Secrets) == 0 {
		return nil, fmt.Errorf("%s: no secrets", where)
	}
	for j, ref := range ep.Secrets {
		s, warn, err := ref.resolve(getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: secrets[%d]: %w", where, j, err)
		}
		if warn {
			warnings = append(warnings, fmt.Sprintf("%s: secrets[%d] is written inline in the config file; keep secrets in the environment or a file readable only by hookbox", where, j))
		}
		ep.secrets = append(ep.secrets, s)
	}
	if ep.Livemode == "" {
		ep.Livemode = "any"
	}
	if ep.livemode, err = deliver.ParseLivemode(ep.Livemode); err != nil {
		return nil, fmt.Errorf("%s: livemode: %w", where, err)
	}
	if ep.PublicURL != "" {
		if err := checkPublicURL(ep.PublicURL); err != nil {
			return nil, fmt.Errorf("%s: public_url: %w", where, err)
		}
	}
	if ep.payload, err = receiver.ParsePayload(ep.Payload); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if ep.dedupe, err = receiver.ParseDedupe(ep.Dedupe); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := checkDedupe(ep.DedupeSnapshot, time.Duration(ep.DedupeSnapshotWait), ep.payload); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	seen := map[string]bool{}
	for k := range ep.Destinations {
		d := &ep.Destinations[k]
		dwhere := fmt.Sprintf("%s: destinations[%d]", where, k)
		if !receiver.ValidName(d.Name) {
			return nil, fmt.Errorf("%s: name %q: want lowercase letters, digits, - and _", dwhere, d.Name)
		}
		if seen[d.Name] {
			return nil, fmt.Errorf("%s: name %q used twice", dwhere, d.Name)
		}
		seen[d.Name] = true
		if err := checkDeliver(d.Deliver, ep.payload); err != nil {
			return nil, fmt.Errorf("%s: %w", dwhere, err)
		}
		warn, err := d.resolve(ep.Name, getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dwhere, err)
		}
		if warn {
			warnings = append(warnings, fmt.Sprintf("%s: its secret is written inline in the config file", dwhere))
		}
	}
	return warnings, nil
}

// resolve checks one destination of endpoint and reads its secret; warn is
// true for an inline secret.
func (d *destinationConfig) resolve(endpoint string, getenv func(string) string) (warn bool, err error) {
	if d.secret, warn, err = d.Secret.resolve(getenv); err != nil {
		return false, fmt.Errorf("secret: %w", err)
	}
	if d.Livemode == "" {
		d.Livemode = "any"
	}
	if d.types, err = deliver.ParseTypes(strings.Join(d.Events, ",")); err != nil {
		return false, fmt.Errorf("events: %w", err)
	}
	if d.livemode, err = deliver.ParseLivemode(d.Livemode); err != nil {
		return false, fmt.Errorf("livemode: %w", err)
	}
	if d.apiVersion, err = hookbox.ParseAPIVersion(d.APIVersion); err != nil {
		return false, fmt.Errorf("api_version: %s", hookbox.ErrorMessage(err))
	}
	if d.order, err = deliver.ParseOrdering(d.Order, time.Duration(d.OrderWindow), d.Late, d.OnDead); err != nil {
		return false, err
	}
	if d.controls, err = d.parseControls(); err != nil {
		return false, err
	}
	if _, err := d.spec(endpoint, time.Second).destination(nil); err != nil {
		return false, err
	}
	return warn, nil
}

// resolve returns the secret; warn is true for an inline value. A ref
// holds exactly one secret: empty, or several (the comma-separated form of
// STRIPE_WEBHOOK_SECRET, a file of several lines), is an error, so that a
// rotation is written as two entries and never runs as one secret that
// matches nothing.
func (r secretRef) resolve(getenv func(string) string) (secret string, warn bool, err error) {
	secret, warn, err = r.read(getenv)
	switch {
	case err != nil:
		return "", false, err
	case secret == "":
		return "", false, errors.New("the secret is empty")
	case strings.ContainsAny(secret, ", \t\r\n"):
		return "", false, errors.New("the secret holds several values (a comma, a space or a line break): give each secret its own entry")
	}
	return secret, warn, nil
}

func (r secretRef) read(getenv func(string) string) (secret string, warn bool, err error) {
	n := 0
	for _, s := range []string{r.Env, r.File, r.Value} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return "", false, errors.New("give exactly one of env, file or value")
	}
	switch {
	case r.Env != "":
		s := strings.TrimSpace(getenv(r.Env))
		if s == "" {
			return "", false, fmt.Errorf("environment variable %s is empty or unset", r.Env)
		}
		return s, false, nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", false, fmt.Errorf("read secret file: %w", err) // names the path
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", false, fmt.Errorf("secret file %s is empty", r.File)
		}
		return s, false, nil
	default:
		return strings.TrimSpace(r.Value), true, nil
	}
}

// spec returns the destination as configured (resolved: its types and
// livemode as parsed once). Its delivery-state name is "ENDPOINT/NAME",
// unique across endpoints; defTimeout applies when the file sets none.
func (d *destinationConfig) spec(endpoint string, defTimeout time.Duration) destSpec {
	timeout := time.Duration(d.Timeout)
	if timeout == 0 {
		timeout = defTimeout
	}
	return destSpec{name: endpoint + "/" + d.Name, url: d.URL, secret: d.secret, types: d.types, livemode: d.livemode, timeout: timeout, order: d.order, apiVersion: d.apiVersion,
		fullEvent: d.Deliver == deliverEvent, controls: d.controls}
}

// loadEndpoints reads the config file at path into endpoint specs; the
// tolerance and destination timeout the file leaves unset are defTol and
// defTimeout (serve's flags).
func loadEndpoints(path string, getenv func(string) string, defTol, defTimeout time.Duration) ([]endpointSpec, *receiver.NotifyOptions, []string, error) {
	fc, warnings, err := loadFileConfig(path, getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	var eps []endpointSpec
	for _, e := range fc.Endpoints {
		live := e.livemode
		tol := time.Duration(e.Tolerance)
		if tol == 0 {
			tol = defTol
		}
		ep := endpointSpec{Endpoint: receiver.Endpoint{Name: e.Name, Secrets: e.secrets, Tolerance: tol, Livemode: live, Payload: e.payload, Dedupe: e.dedupe}, sources: secretSources(e.Secrets), publicURL: e.PublicURL,
			dedupe: e.DedupeSnapshot, dedupeWait: time.Duration(e.DedupeSnapshotWait)}
		for _, r := range e.Secrets {
			ep.envRefs = append(ep.envRefs, r.Env)
		}
		for _, d := range e.Destinations {
			ep.envRefs = append(ep.envRefs, d.Secret.Env)
		}
		for i := range e.Destinations {
			d := e.Destinations[i].spec(e.Name, defTimeout)
			if receiver.WeakSecret(d.secret) {
				warnings = append(warnings, fmt.Sprintf("config: endpoint %q: destination %q: its secret has fewer than %d characters of key material", e.Name, e.Destinations[i].Name, receiver.MinSecretMaterial))
			}
			if _, ok := effectiveLivemode(live, d.livemode); !ok {
				warnings = append(warnings, fmt.Sprintf("config: endpoint %q: destination %q can never receive an event: the endpoint takes only %s events and the destination only %s ones", e.Name, e.Destinations[i].Name, live, d.livemode))
			}
			ep.dests = append(ep.dests, d)
		}
		eps = append(eps, ep)
	}
	return eps, fc.notify, warnings, nil
}

// yamlSections are the parts of the config file as its reader knows them,
// by the Go type that decodes them, for decoding errors.
var yamlSections = []struct {
	t         reflect.Type
	one, many string
}{
	{reflect.TypeOf(fileConfig{}), "the top level", ""},
	{reflect.TypeOf(endpointConfig{}), "an endpoint", "endpoints"},
	{reflect.TypeOf(destinationConfig{}), "a destination", "destinations"},
	{reflect.TypeOf(notifyConfig{}), "notify", ""},
	{reflect.TypeOf(channelConfig{}), "a notify channel", "channels"},
	{reflect.TypeOf(conditionConfig{}), "notify conditions", ""},
	{reflect.TypeOf(signatureConfig{}), "signature_failures", ""},
	{reflect.TypeOf(secretRef{}), "a secret ({env: NAME}, {file: PATH} or {value: ...})", "secrets ({env: NAME}, {file: PATH} or {value: ...})"},
}

var (
	yamlUnknownKey = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	yamlWrongKind  = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `.*`)? into (\\S+)$")
	yamlKinds      = map[string]string{"str": "a string", "seq": "a list", "map": "a map", "int": "a number", "float": "a number", "bool": "a boolean", "null": "nothing"}
)

// yamlError rewrites the decoder's type errors in the file's own terms:
// an unknown key is named with its line, where it is and the keys known
// there, not as a Go type; a value of the wrong kind says what was wanted,
// without quoting the value (it may be a secret). Other errors (syntax)
// are returned as they are.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if g := yamlUnknownKey.FindStringSubmatch(m); g != nil {
			one, keys := yamlSection(g[3])
			m = fmt.Sprintf("line %s: unknown key %q in %s (known keys: %s)", g[1], g[2], one, strings.Join(keys, ", "))
		} else if g := yamlWrongKind.FindStringSubmatch(m); g != nil {
			kind := yamlKinds[g[2]]
			if kind == "" {
				kind = g[2]
			}
			m = fmt.Sprintf("line %s: want %s, not %s", g[1], yamlTypeName(g[3]), kind)
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// yamlSection returns how the section decoded by the Go type named goType
// is called, and its keys.
func yamlSection(goType string) (one string, keys []string) {
	for _, s := range yamlSections {
		if s.t.String() != goType {
			continue
		}
		for i := range s.t.NumField() {
			if k, _, _ := strings.Cut(s.t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
				keys = append(keys, k)
			}
		}
		return s.one, keys
	}
	return strings.TrimPrefix(goType, "main."), nil
}

// yamlTypeName names the Go type goType as the file's reader knows it.
func yamlTypeName(goType string) string {
	elem, list := strings.CutPrefix(goType, "[]")
	for _, s := range yamlSections {
		switch {
		case s.t.String() != elem:
		case list:
			return "a list of " + s.many
		default:
			return s.one
		}
	}
	switch elem {
	case "string":
		if list {
			return "a list of strings"
		}
		return "a string"
	case "map[string]interface {}", "map[string]any":
		return "a map"
	case "int", "float64":
		return "a number"
	}
	return strings.TrimPrefix(goType, "main.")
}
