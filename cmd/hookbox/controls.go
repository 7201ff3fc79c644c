package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/deliver"
)

// breakerFailures is the breaker_failures key and --forward-breaker-failures
// flag: a number of consecutive failed attempts (0: the default, 10), or
// "off" (stored as -1, deliver.Controls' "off").
type breakerFailures int

func (b *breakerFailures) String() string {
	if *b < 0 {
		return "off"
	}
	return strconv.Itoa(int(*b))
}

func (b *breakerFailures) Set(s string) error {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		*b = -1
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("breaker failures %q: want a number of consecutive failed attempts (0: the default, %d) or off", s, deliver.DefaultBreakerFailures)
	}
	*b = breakerFailures(n)
	return nil
}

func (b *breakerFailures) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: breaker_failures: want a number or off", n.Line)
	}
	if err := b.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	return nil
}

// parseControls returns the delivery controls a --config destination declares,
// checked.
func (d *destinationConfig) parseControls() (deliver.Controls, error) {
	c := deliver.Controls{MaxInFlight: d.MaxInFlight, Rate: d.Rate, Burst: d.Burst,
		BreakerFailures: int(d.BreakerFailures), BreakerProbe: time.Duration(d.BreakerProbe)}
	if err := c.Check(); err != nil {
		return c, fmt.Errorf("delivery controls (max_in_flight, rate, burst, breaker_failures, breaker_probe): %v", err)
	}
	return c, nil
}

// controlFlags registers the delivery controls of --forward-to: its caps
// (in flight, rate) and its circuit breaker.
func (c *serveConfig) controlFlags(ef *envFlags) func() error {
	maxInFlight := ef.integer("forward-max-in-flight", "HOOKBOX_FORWARD_MAX_IN_FLIGHT", 0, "attempts at the --forward-to app at once, per replica (0: no cap but --delivery-concurrency)")
	rate := ef.float("forward-rate", "HOOKBOX_FORWARD_RATE", 0, "attempts per second at the --forward-to app, shared by every replica of the store (e.g. 5, 0.5; 0: no limit)")
	burst := ef.integer("forward-burst", "HOOKBOX_FORWARD_BURST", 0, "with --forward-rate: attempts let through at once after a quiet time (0: 1)")
	var failures breakerFailures
	ef.value(&failures, "forward-breaker-failures", "HOOKBOX_FORWARD_BREAKER_FAILURES", fmt.Sprintf("consecutive failed attempts that open the --forward-to app's circuit breaker: its deliveries wait, keeping their retry budget, and one probe goes every --forward-breaker-probe (0: %d; off: no breaker)", deliver.DefaultBreakerFailures))
	probe := ef.duration("forward-breaker-probe", "HOOKBOX_FORWARD_BREAKER_PROBE", deliver.DefaultBreakerProbe, "time between the probes of an open circuit breaker")
	return func() error {
		ctl := deliver.Controls{MaxInFlight: *maxInFlight, Rate: *rate, Burst: *burst, BreakerFailures: int(failures), BreakerProbe: *probe}
		if *probe == 0 {
			return errors.New("--forward-breaker-probe must be positive")
		}
		if err := ctl.Check(); err != nil {
			return fmt.Errorf("--forward-max-in-flight, --forward-rate, --forward-burst, --forward-breaker-failures, --forward-breaker-probe: %v", err)
		}
		set := ctl != deliver.Controls{BreakerProbe: deliver.DefaultBreakerProbe}
		switch {
		case set && c.configFile != "":
			return errors.New("--config and --forward-max-in-flight, --forward-rate, --forward-burst or --forward-breaker-*: declare them per destination in the config file (max_in_flight, rate, burst, breaker_failures, breaker_probe)")
		case set && c.forward.to == "":
			return errors.New("--forward-max-in-flight, --forward-rate, --forward-burst and --forward-breaker-* apply to --forward-to, which is not set")
		}
		if set {
			c.forward.controls = ctl
		}
		return nil
	}
}

// float registers a float flag bound to env.
func (e *envFlags) float(name, env string, def float64, usage string) *float64 {
	if v, ok := e.lookup(env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a number", env, v))
		} else {
			def = f
		}
	}
	return e.fs.Float64(name, def, withEnv(usage, env))
}

// value registers a flag.Value bound to env.
func (e *envFlags) value(v interface {
	String() string
	Set(string) error
}, name, env, usage string) {
	if s, ok := e.lookup(env); ok {
		if err := v.Set(s); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %v", env, err))
		}
	}
	e.fs.Var(v, name, withEnv(usage, env))
}

// controlsCheckText describes a destination's delivery controls for config
// check: its caps and its circuit breaker.
func controlsCheckText(c deliver.Controls) (limits, breaker string) {
	c = c.WithDefaults()
	var l []string
	if c.MaxInFlight > 0 {
		l = append(l, fmt.Sprintf("at most %d attempts at once (per replica)", c.MaxInFlight))
	}
	if c.Rate > 0 {
		l = append(l, fmt.Sprintf("%s/s, burst %d (shared by every replica)", strconv.FormatFloat(c.Rate, 'g', -1, 64), c.Burst))
	}
	limits = "none"
	if len(l) > 0 {
		limits = strings.Join(l, "; ")
	}
	breaker = "off"
	if c.BreakerFailures > 0 {
		breaker = fmt.Sprintf("opens after %d consecutive failed attempts; then one probe every %s", c.BreakerFailures, c.BreakerProbe)
	}
	return limits, breaker
}
