package main

import (
	"github.com/hookbox/hookbox/broker/kafka"
	"github.com/hookbox/hookbox/deliver"
)

// kafka:// destinations produce to Kafka (broker/kafka).
func init() {
	brokerKinds["kafka"] = func(n, u, s string, o deliver.BrokerOptions) (urlDestination, error) {
		d, err := kafka.New(n, u, s, o)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}
