package amqp_test

import (
	"fmt"
	"time"

	"github.com/hookbox/hookbox/broker/amqp"
	"github.com/hookbox/hookbox/deliver"
)

// New checks the URL without connecting: a topic exchange, a routing key
// per livemode and type, each message signed with the consumers' secret.
func ExampleNew() {
	d, err := amqp.New("bus", "amqp://hookbox:s3cret@127.0.0.1:5672/prod?exchange=stripe&routing_key=stripe.{livemode}.{type}",
		"whsec_for_my_consumers", deliver.BrokerOptions{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println(d)

	_, err = amqp.New("bus", "amqp://hookbox:s3cret@127.0.0.1:5672/prod?queue=stripe", "whsec_x", deliver.BrokerOptions{})
	fmt.Println(err)
	// Output:
	// bus (amqp://hookbox:xxxxx@127.0.0.1:5672/prod?exchange=stripe&routing_key=stripe.{livemode}.{type})
	// invalid: destination bus: URL amqp://hookbox:xxxxx@127.0.0.1:5672/prod?queue=stripe: unknown parameter "queue" (want exchange, routing_key or RabbitMQ's auth_mechanism, cacertfile, certfile, channel_max, heartbeat, keyfile, server_name_indication)
}
