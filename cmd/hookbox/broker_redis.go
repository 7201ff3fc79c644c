package main

import (
	redisdest "github.com/hookbox/hookbox/broker/redis"
	"github.com/hookbox/hookbox/deliver"
)

// Redis Streams destinations: redis:// and rediss:// (TLS).
func init() {
	for _, scheme := range []string{"redis", "rediss"} {
		brokerKinds[scheme] = func(n, u, s string, o deliver.BrokerOptions) (urlDestination, error) {
			d, err := redisdest.New(n, u, s, o)
			if err != nil {
				return nil, err
			}
			return d, nil
		}
	}
}
