package nats

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hookbox/hookbox/deliver"
)

// TestRedact ensures a token (a user without a password, as NATS reads
// nats://TOKEN@host) is hidden like a password in what the destination
// shows: URL, String and its configuration errors.
func TestRedact(t *testing.T) {
	for _, raw := range []string{"nats://s3cr3ttoken@127.0.0.1:4222?subject=a.{type}", "nats://user:s3cr3ttoken@127.0.0.1:4222"} {
		u, _ := url.Parse(raw)
		if got := redact(u); strings.Contains(got, "s3cr3ttoken") || !strings.Contains(got, "xxxxx") {
			t.Errorf("redact(%s) = %s", raw, got)
		}
	}
	d, err := New("bus", "nats://s3cr3ttoken@127.0.0.1:4222?subject=a.{type}", "whsec_test_0123456789abcdef0123456789", deliver.BrokerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.URL()+d.String(), "s3cr3ttoken") {
		t.Errorf("token shown: %s %s", d.URL(), d.String())
	}
	if _, err := New("bus", "nats://s3cr3ttoken@127.0.0.1:4222?nope=1", "whsec_test_0123456789abcdef0123456789", deliver.BrokerOptions{}); err == nil || strings.Contains(err.Error(), "s3cr3ttoken") {
		t.Errorf("error: %v", err)
	}
}
