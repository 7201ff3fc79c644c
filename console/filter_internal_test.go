package console

import (
	"net/url"
	"testing"
	"time"
)

// TestParseFilter_ObjectSearchDefaultsToADay ensures an object-id search
// without a Since covers the last day (it reads bodies, so it must stay
// bounded on a large store), while an event-id search and an explicit Since
// are left alone.
func TestParseFilter_ObjectSearchDefaultsToADay(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query, since string
		want         time.Time
	}{
		{"q=pi_123", "24h", now.Add(-24 * time.Hour)},
		{"q=pi_123&since=7d", "", time.Time{}}, // 7d is not a Go duration: an error, checked below
		{"q=pi_123&since=168h", "168h", now.Add(-168 * time.Hour)},
		{"q=evt_123", "", time.Time{}},
		{"", "", time.Time{}},
	} {
		v, _ := url.ParseQuery(tc.query)
		f, err := parseFilter(v, now)
		if tc.query == "q=pi_123&since=7d" {
			if err == nil {
				t.Errorf("%q: accepted", tc.query)
			}
			continue
		}
		if err != nil || f.Since != tc.since || !f.since.Equal(tc.want) {
			t.Errorf("%q: since %q %v, err %v; want %q %v", tc.query, f.Since, f.since, err, tc.since, tc.want)
		}
	}
}
