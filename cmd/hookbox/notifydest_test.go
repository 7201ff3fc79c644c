package main

import (
	"strings"
	"testing"
	"time"
)

// TestConfigNotify_Destinations ensures the notify: conditions of
// destinations: the breaker condition is on unless breaker_open: off;
// destination_paused takes a threshold (the default when absent) or off;
// bad values are refused.
func TestConfigNotify_Destinations(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"S": "whsec_from_env_secret", "SLACK": "https://hooks.slack.example/services/T0/B0/slacktoken"}[k]
	}
	const channel = "notify:\n  channels:\n    - {type: slack, url: {env: SLACK}}\n"
	for _, tc := range []struct {
		conditions  string
		breakerOff  bool
		pausedAfter time.Duration
	}{
		{"", false, 0},
		{"  conditions: {breaker_open: on, destination_paused: 30m}\n", false, 30 * time.Minute},
		{"  conditions: {breaker_open: off, destination_paused: off}\n", true, -1},
	} {
		fc, _, err := parseFileConfig([]byte(notifyEndpoint+channel+tc.conditions), getenv)
		if err != nil {
			t.Fatalf("%q: %v", tc.conditions, err)
		}
		if o := fc.notify; o.BreakerOpenOff != tc.breakerOff || o.PausedAfter != tc.pausedAfter {
			t.Errorf("%q: breaker off %v, paused after %v", tc.conditions, o.BreakerOpenOff, o.PausedAfter)
		}
	}
	for _, tc := range []struct{ conditions, want string }{
		{"  conditions: {breaker_open: sometimes}\n", `breaker_open "sometimes": want on or off`},
		{"  conditions: {destination_paused: -1h}\n", `destination_paused "-1h": want a positive duration`},
		{"  conditions: {paused: 1h}\n", `unknown key "paused" in notify conditions`},
	} {
		if _, _, err := parseFileConfig([]byte(notifyEndpoint+channel+tc.conditions), getenv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.conditions, err, tc.want)
		}
	}
}
