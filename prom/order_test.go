package prom_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/hookbox/hookbox/prom"
)

// Ensures hookbox_ordered_keys_blocked reports the store's count per
// destination, 0 for an ordered destination with nothing blocked, nothing
// (and a count store error) when the count fails; and that late events are
// counted per destination from 0.
func TestOrderMetrics(t *testing.T) {
	m := prom.New(prom.Options{Destinations: []string{"app", "other"}, OrderedDestinations: []string{"app", "other"}})
	var fail atomic.Bool
	m.RegisterBlocked(func(context.Context) (map[string]int, error) {
		if fail.Load() {
			return nil, errors.New("database is locked")
		}
		return map[string]int{"app": 2}, nil
	})
	url := mustServe(t, m)
	m.Late("app")
	got := map[string]float64{}
	mfs := scrape(t, url)
	for _, mt := range mfs["hookbox_ordered_keys_blocked"].GetMetric() {
		got[mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
	}
	if got["app"] != 2 || got["other"] != 0 || len(got) != 2 {
		t.Fatalf("hookbox_ordered_keys_blocked = %v, want app 2, other 0", got)
	}
	late := map[string]float64{}
	for _, mt := range mfs["hookbox_late_events_total"].GetMetric() {
		late[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
	}
	if late["app"] != 1 || late["other"] != 0 || len(late) != 2 {
		t.Fatalf("hookbox_late_events_total = %v, want app 1, other 0", late)
	}
	fail.Store(true)
	mfs = scrape(t, url)
	if _, ok := mfs["hookbox_ordered_keys_blocked"]; ok {
		t.Fatal("a failed count still exposed hookbox_ordered_keys_blocked")
	}
	mfs = scrape(t, url)
	for _, mt := range mfs["hookbox_store_errors_total"].GetMetric() {
		if mt.GetLabel()[0].GetValue() == "count" && mt.GetCounter().GetValue() < 1 {
			t.Fatal("the failed count was not counted as a store error")
		}
	}
}
