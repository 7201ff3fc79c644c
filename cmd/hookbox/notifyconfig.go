package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hookbox/hookbox/notify"
	"github.com/hookbox/hookbox/receiver"
)

// notifyConfig is the notify: section of the config file: where messages
// go and when they are sent (package notify).
type notifyConfig struct {
	ConsoleURL  string          `yaml:"console_url"`
	Every       yamlDuration    `yaml:"every"`
	MinInterval yamlDuration    `yaml:"min_interval"`
	Channels    []channelConfig `yaml:"channels"`
	Conditions  conditionConfig `yaml:"conditions"`
}

// channelConfig is one channel: type slack, webhook or email.
type channelConfig struct {
	Type string `yaml:"type"`
	// slack, webhook: the URL (a Slack URL holds a token: env or file).
	URL    secretRef `yaml:"url"`
	Secret secretRef `yaml:"secret"` // webhook: signs the body
	// email
	SMTP     string    `yaml:"smtp"` // host:port
	From     string    `yaml:"from"`
	To       []string  `yaml:"to"`
	Username string    `yaml:"username"`
	Password secretRef `yaml:"password"`
	Insecure bool      `yaml:"insecure"` // no STARTTLS: a loopback relay only
}

// conditionConfig sets the conditions' thresholds; "off" turns one off.
type conditionConfig struct {
	DeadEvents         string                  `yaml:"dead_events"`         // on (default) or off
	DestinationFailing string                  `yaml:"destination_failing"` // a duration or off
	SignatureFailures  *signatureConfig        `yaml:"signature_failures"`
	OldSecret          string                  `yaml:"old_secret"`         // a duration or off
	BreakerOpen        string                  `yaml:"breaker_open"`       // on (default) or off
	DestinationPaused  string                  `yaml:"destination_paused"` // a duration or off
	Silence            map[string]yamlDuration `yaml:"silence"`            // endpoint: duration
}

type signatureConfig struct {
	Count  int          `yaml:"count"`
	Window yamlDuration `yaml:"window"`
	Off    bool         `yaml:"off"`
}

// resolve builds the receiver's NotifyOptions; warnings name inline
// secrets. Errors never hold a secret.
func (n *notifyConfig) resolve(getenv func(string) string) (*receiver.NotifyOptions, []string, error) {
	o := &receiver.NotifyOptions{Every: time.Duration(n.Every), MinInterval: time.Duration(n.MinInterval), ConsoleURL: n.ConsoleURL}
	if n.ConsoleURL != "" {
		if u, err := url.Parse(n.ConsoleURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, errors.New("config: notify: console_url: want an http(s) URL")
		}
	}
	if len(n.Channels) == 0 {
		return nil, nil, errors.New("config: notify: no channels")
	}
	var warnings []string
	for i, c := range n.Channels {
		ch, warn, err := c.channel(getenv)
		if err != nil {
			return nil, nil, fmt.Errorf("config: notify: channels[%d]: %w", i, err)
		}
		if warn {
			warnings = append(warnings, fmt.Sprintf("config: notify: channels[%d]: a secret is written inline in the config file", i))
		}
		o.Channels = append(o.Channels, ch)
	}
	if err := n.Conditions.apply(o); err != nil {
		return nil, nil, fmt.Errorf("config: notify: conditions: %w", err)
	}
	return o, warnings, nil
}

func (c channelConfig) channel(getenv func(string) string) (ch notify.Channel, warn bool, err error) {
	switch c.Type {
	case "slack", "webhook":
		u, uwarn, err := c.URL.resolve(getenv)
		if err != nil {
			return nil, false, fmt.Errorf("url: %w", err)
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, false, errors.New("url: want an http(s) URL") // not quoted: it may hold a token
		}
		if c.Type == "slack" {
			return &notify.Slack{URL: u}, uwarn, nil
		}
		s, swarn, err := c.Secret.resolve(getenv)
		if err != nil {
			return nil, false, fmt.Errorf("secret: %w", err)
		}
		return &notify.Webhook{URL: u, Secret: s}, swarn, nil
	case "email":
		e := &notify.Email{Addr: c.SMTP, From: c.From, To: c.To, Username: c.Username, Insecure: c.Insecure}
		if c.Password != (secretRef{}) {
			if e.Password, warn, err = c.Password.read(getenv); err != nil {
				return nil, false, fmt.Errorf("password: %w", err)
			}
		}
		if (e.Username == "") != (e.Password == "") {
			return nil, false, errors.New("username and password go together")
		}
		if err := e.Check(); err != nil {
			return nil, false, err
		}
		return e, warn, nil
	}
	return nil, false, fmt.Errorf("type %q: want slack, webhook or email", c.Type)
}

func (c conditionConfig) apply(o *receiver.NotifyOptions) error {
	switch c.DeadEvents {
	case "", "on":
	case "off":
		o.DeadEventsOff = true
	default:
		return fmt.Errorf("dead_events %q: want on or off", c.DeadEvents)
	}
	switch c.BreakerOpen {
	case "", "on":
	case "off":
		o.BreakerOpenOff = true
	default:
		return fmt.Errorf("breaker_open %q: want on or off", c.BreakerOpen)
	}
	var err error
	if o.PausedAfter, err = durationOrOff("destination_paused", c.DestinationPaused); err != nil {
		return err
	}
	if o.FailingAfter, err = durationOrOff("destination_failing", c.DestinationFailing); err != nil {
		return err
	}
	if o.OldSecretAfter, err = durationOrOff("old_secret", c.OldSecret); err != nil {
		return err
	}
	if s := c.SignatureFailures; s != nil {
		switch {
		case s.Off:
			o.SignatureFailures = -1
		case s.Count < 0:
			return errors.New("signature_failures: count must be positive")
		default:
			o.SignatureFailures, o.SignatureWindow = s.Count, time.Duration(s.Window)
		}
	}
	for ep, d := range c.Silence {
		if o.Silence == nil {
			o.Silence = map[string]time.Duration{}
		}
		o.Silence[ep] = time.Duration(d)
	}
	return nil
}

// durationOrOff parses a threshold: "" (the default, 0), "off" (-1) or a
// positive duration.
func durationOrOff(key, s string) (time.Duration, error) {
	switch s {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration like 10m, or off", key, s)
	}
	return d, nil
}
