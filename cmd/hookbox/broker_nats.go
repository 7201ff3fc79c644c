package main

import (
	natsdest "github.com/hookbox/hookbox/broker/nats"
	"github.com/hookbox/hookbox/deliver"
)

// NATS JetStream destinations: nats://host[:port][,host...]?subject=...
// (TLS with ?tls=1; see package broker/nats).
func init() {
	brokerKinds["nats"] = func(n, u, s string, o deliver.BrokerOptions) (urlDestination, error) {
		d, err := natsdest.New(n, u, s, o)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}
