package main

import (
	amqpdest "github.com/hookbox/hookbox/broker/amqp"
	"github.com/hookbox/hookbox/deliver"
)

// RabbitMQ destinations: amqp:// and amqps:// URLs (broker/amqp).
func init() {
	mk := func(n, u, s string, o deliver.BrokerOptions) (urlDestination, error) {
		d, err := amqpdest.New(n, u, s, o)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	brokerKinds["amqp"] = mk
	brokerKinds["amqps"] = mk
}
