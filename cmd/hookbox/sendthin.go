package main

import (
	"encoding/json"
	"math/rand/v2"
	"time"
)

// thinKinds are the thin events send --thin draws from: realistic types of
// event destinations with thin payloads, with the related object each
// names ("" for none).
var thinKinds = []struct{ typ, relType, relPrefix, relPath string }{
	{"v1.billing.meter.error_report_triggered", "billing.meter", "mtr_test_", "/v1/billing/meters/"},
	{"v1.billing.meter.no_meter_found", "", "", ""},
	{"v2.core.account.updated", "v2.core.account", "acct_test_", "/v2/core/accounts/"},
	{"v2.core.account.closed", "v2.core.account", "acct_test_", "/v2/core/accounts/"},
	{"v2.core.event_destination.ping", "v2.core.event_destination", "ed_test_", "/v2/core/event_destinations/"},
	{"v2.core.health.event_generation_failure.resolved", "", "", ""},
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randID(rng *rand.Rand, prefix string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idChars[rng.IntN(len(idChars))]
	}
	return prefix + string(b)
}

// thinNotification returns a thin notification as an event destination
// sends it: id, object v2.core.event, type, livemode, created (RFC 3339
// with milliseconds), a related_object when the type has one, and no data.
// A fifth carry a context (a connected account's).
func thinNotification(rng *rand.Rand, created time.Time, livemode bool) []byte {
	k := thinKinds[rng.IntN(len(thinKinds))]
	n := map[string]any{
		"id":       randID(rng, "evt_test_", 24),
		"object":   "v2.core.event",
		"type":     k.typ,
		"livemode": livemode,
		"created":  created.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	if rng.IntN(5) == 0 {
		n["context"] = randID(rng, "acct_", 16)
	}
	if k.relType != "" {
		id := randID(rng, k.relPrefix, 16)
		n["related_object"] = map[string]any{"id": id, "type": k.relType, "url": k.relPath + id}
	}
	b, _ := json.Marshal(n)
	return b
}
