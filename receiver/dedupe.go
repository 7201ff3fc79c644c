package receiver

import (
	"context"
	"fmt"

	"github.com/hookbox/hookbox"
)

// dedupeInsert wraps insert so that the events of endpoints with
// DedupeEndpoint are stored under "<event id>@<endpoint>": deduplicated per
// endpoint. Events with no endpoint (reconciled) belong to the first.
func dedupeInsert(insert hookbox.InsertFunc, eps []Endpoint) hookbox.InsertFunc {
	per := map[string]string{} // endpoint as recorded -> its name, for DedupeEndpoint
	for i, ep := range eps {
		if ep.Dedupe != DedupeEndpoint {
			continue
		}
		per[ep.Name] = ep.Name
		if i == 0 {
			per[""] = ep.Name
		}
	}
	if len(per) == 0 {
		return insert
	}
	return func(ctx context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
		for _, ev := range events {
			if ev == nil {
				continue
			}
			if name, ok := per[ev.Endpoint]; ok {
				ev.ID = EndpointEventID(ev.ID, name)
			}
		}
		return insert(ctx, events)
	}
}

// EndpointEventID is the id an event is stored under at an endpoint with
// DedupeEndpoint.
func EndpointEventID(id, endpoint string) string { return id + "@" + endpoint }

// validateDedupe checks the endpoints' Dedupe.
func validateDedupe(eps []Endpoint) error {
	for _, ep := range eps {
		if _, err := ParseDedupe(string(ep.Dedupe)); err != nil {
			return fmt.Errorf("endpoint %s: %s", ep.Name, hookbox.ErrorMessage(err))
		}
		if ep.Dedupe == DedupeEndpoint && ep.Payload == PayloadThin {
			return fmt.Errorf("endpoint %s: dedupe: endpoint is for snapshot endpoints (a thin event's id is what its full event is fetched by)", ep.Name)
		}
	}
	return nil
}
