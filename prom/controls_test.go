package prom_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/prom"
)

// byLabels returns the values of name's series by their label values
// joined with ",".
func byLabels(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	got := map[string]float64{}
	for _, m := range mfs[name].GetMetric() {
		k := ""
		for i, l := range m.GetLabel() {
			if i > 0 {
				k += ","
			}
			k += l.GetValue()
		}
		switch {
		case m.GetGauge() != nil:
			got[k] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			got[k] = m.GetCounter().GetValue()
		}
	}
	return got
}

// Ensures hookbox_destination_breaker_open and hookbox_destination_paused
// report what a real SQLite store keeps (every configured destination, 0
// when the store has nothing for it), and nothing (a count store error)
// when the store fails; that hookbox_destination_in_flight reports the
// registered function; and that the breaker, probe and deferral counters
// start at zero and count.
func TestControlMetrics(t *testing.T) {
	ctx := context.Background()
	s := mustOpenStore(t)
	now := time.Now()
	if _, err := s.SetBreaker(ctx, "app", true, now.Add(time.Second), now); err != nil {
		t.Fatal(err)
	}
	if err := s.PauseDestination(ctx, "other", true, now); err != nil {
		t.Fatal(err)
	}
	m := prom.New(prom.Options{Destinations: []string{"app", "other", "third"}})
	var fail atomic.Bool
	m.RegisterDestinationStates(func(ctx context.Context) (map[string]hookbox.DestinationState, error) {
		if fail.Load() {
			return nil, errors.New("database is locked")
		}
		return s.DestinationStates(ctx)
	})
	m.RegisterInFlight(func() map[string]int { return map[string]int{"app": 2} })
	url := mustServe(t, m)
	mfs := scrape(t, url)
	for name, want := range map[string]map[string]float64{
		"hookbox_destination_breaker_open":        {"app": 1, "other": 0, "third": 0},
		"hookbox_destination_paused":              {"app": 0, "other": 1, "third": 0},
		"hookbox_destination_in_flight":           {"app": 2, "other": 0, "third": 0},
		"hookbox_destination_breaker_opens_total": {"app": 0, "other": 0, "third": 0},
	} {
		if got := byLabels(mfs, name); !equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.BreakerOpened("app")
	m.BreakerProbe("app", false)
	m.BreakerProbe("app", false)
	m.BreakerProbe("app", true)
	m.Deferred("app", prom.DeferRate)
	m.Deferred("other", prom.DeferInFlight)
	m.Deferred("other", "nonsense")
	if _, err := s.SetBreaker(ctx, "app", false, time.Time{}, now); err != nil {
		t.Fatal(err)
	}
	mfs = scrape(t, url)
	if got := byLabels(mfs, "hookbox_destination_breaker_open"); got["app"] != 0 {
		t.Errorf("closed breaker: %v", got)
	}
	if got := byLabels(mfs, "hookbox_destination_breaker_opens_total"); got["app"] != 1 {
		t.Errorf("opens: %v", got)
	}
	if got := byLabels(mfs, "hookbox_destination_breaker_probes_total"); got["app,failed"] != 2 || got["app,ok"] != 1 || got["other,ok"] != 0 {
		t.Errorf("probes: %v", got)
	}
	if got := byLabels(mfs, "hookbox_destination_deferred_total"); got["app,rate"] != 1 || got["other,in_flight"] != 1 || got["other,other"] != 1 || got["third,rate"] != 0 {
		t.Errorf("deferred: %v", got)
	}
	fail.Store(true)
	mfs = scrape(t, url)
	for _, name := range []string{"hookbox_destination_breaker_open", "hookbox_destination_paused"} {
		if _, ok := mfs[name]; ok {
			t.Errorf("a failed read still exposed %s", name)
		}
	}
	if counterValue(scrape(t, url), "hookbox_store_errors_total", "count") < 1 {
		t.Error("the failed read was not counted as a store error")
	}
}

func equal(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
