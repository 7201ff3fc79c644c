package receiver

import (
	"fmt"
	"net/http"

	"github.com/hookbox/hookbox/console"
)

// adminHandler builds the admin surface, which package console owns
// whole: pages, /api/, /metrics, /debug/pprof/ (with Pprof), /healthz and
// /readyz (Ready), behind one token check, one Host guard and one failure
// limit.
func (r *Receiver) adminHandler(destinations []string) (http.Handler, error) {
	o := r.opts
	var wake func()
	if r.async() {
		wake = r.worker.Wake
	}
	srv, err := console.New(console.Options{
		Store: r.store, Token: o.AdminToken, Activity: r.activity, Destinations: destinations,
		WakeFunc: wake, Logger: r.logger, NowFunc: o.NowFunc, DestinationStatusFunc: r.destinationStatus,
		IsHTTPS:    r.proxies.IsHTTPS, // behind a TLS-terminating proxy in --trusted-proxies
		ListenAddr: o.AdminListen, AllowedHosts: o.AdminHosts,
		Metrics: r.metrics.Handler(), Pprof: o.Pprof, ReadyFunc: r.Ready,
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return srv, nil
}

// destinationStatus is the worker's view of each destination's delivery
// controls, for the console's destinations page; nil without a worker.
func (r *Receiver) destinationStatus() map[string]console.DestinationStatus {
	if r.worker == nil {
		return nil
	}
	st := r.worker.Status()
	out := make(map[string]console.DestinationStatus, len(st))
	for name, s := range st {
		c := s.Controls
		out[name] = console.DestinationStatus{MaxInFlight: c.MaxInFlight, Rate: c.Rate, Burst: c.Burst,
			BreakerFailures: c.BreakerFailures, BreakerProbe: c.BreakerProbe, InFlight: s.InFlight, Failures: s.Failures}
	}
	return out
}
