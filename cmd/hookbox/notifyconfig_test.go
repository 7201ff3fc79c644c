package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/notify"
)

const notifyEndpoint = "endpoints:\n  - name: stripe\n    secrets: [{env: S}]\n"

// TestConfigNotify ensures the notify: section builds its channels and
// thresholds, and refuses unknown keys, a plain-text SMTP server off
// loopback and bad values, without quoting a secret.
func TestConfigNotify(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{
			"S":     "whsec_from_env_secret",
			"SLACK": "https://hooks.slack.example/services/T0/B0/slacktoken",
			"NS":    "whsec_notify_secret_value",
			"PW":    "smtp-password-value",
		}[k]
	}
	fc, warnings, err := parseFileConfig([]byte(notifyEndpoint+`notify:
  console_url: https://hookbox.internal/
  min_interval: 30m
  channels:
    - type: slack
      url: {env: SLACK}
    - type: webhook
      url: {value: "https://ops.example/hookbox"}
      secret: {env: NS}
    - type: email
      smtp: smtp.example.com:587
      from: hookbox@example.com
      to: [ops@example.com]
      username: hookbox
      password: {env: PW}
  conditions:
    destination_failing: 5m
    old_secret: off
    signature_failures: {count: 50, window: 5m}
    silence: {stripe: 6h}
`), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	o := fc.notify
	if o == nil || len(o.Channels) != 3 || o.MinInterval != 30*time.Minute || o.FailingAfter != 5*time.Minute || o.OldSecretAfter >= 0 ||
		o.SignatureFailures != 50 || o.SignatureWindow != 5*time.Minute || o.Silence["stripe"] != 6*time.Hour || o.ConsoleURL != "https://hookbox.internal/" {
		t.Fatalf("options %+v", o)
	}
	if w, ok := o.Channels[1].(*notify.Webhook); !ok || w.Secret != "whsec_notify_secret_value" {
		t.Fatalf("webhook channel %+v", o.Channels[1])
	}
	if e, ok := o.Channels[2].(*notify.Email); !ok || e.Password != "smtp-password-value" || e.Insecure {
		t.Fatalf("email channel %+v", o.Channels[2])
	}

	for _, tc := range []struct{ yaml, want string }{
		{"notify:\n  channel: []", `line 5: unknown key "channel" in notify (known keys: console_url, every, min_interval, channels, conditions)`},
		{"notify:\n  channels: []", "notify: no channels"},
		{"notify:\n  channels:\n    - type: pager", `type "pager"`},
		{"notify:\n  channels:\n    - {type: slack, url: {env: SLACK}, colour: red}", `unknown key "colour" in a notify channel`},
		{"notify:\n  channels:\n    - {type: slack, url: {value: \"ftp://slacktoken\"}}", "want an http(s) URL"},
		{"notify:\n  channels:\n    - {type: webhook, url: {value: \"https://x\"}}", "secret: give exactly one"},
		{"notify:\n  channels:\n    - {type: email, smtp: \"smtp.example.com:25\", from: a@b.c, to: [d@e.f], insecure: true}", "loopback server only"},
		{"notify:\n  channels:\n    - {type: email, smtp: \"smtp.example.com:587\", from: a@b.c, to: [d@e.f], username: u}", "username and password go together"},
		{"notify:\n  channels:\n    - {type: slack, url: {env: SLACK}}\n  conditions: {destination_failing: soon}", "destination_failing"},
		{"notify:\n  channels:\n    - {type: slack, url: {env: SLACK}}\n  conditions: {dead: on}", `unknown key "dead" in notify conditions`},
	} {
		_, _, err := parseFileConfig([]byte(notifyEndpoint+tc.yaml), getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "slacktoken") || strings.Contains(err.Error(), "value") && strings.Contains(err.Error(), "password-value")) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	// An email relay on loopback may go without STARTTLS.
	if _, _, err := parseFileConfig([]byte(notifyEndpoint+"notify:\n  channels:\n    - {type: email, smtp: \"127.0.0.1:25\", from: a@b.c, to: [d@e.f], insecure: true}"), getenv); err != nil {
		t.Fatal(err)
	}
}
