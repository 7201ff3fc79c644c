package kafka_test

import (
	"fmt"
	"time"

	"github.com/hookbox/hookbox/broker/kafka"
	"github.com/hookbox/hookbox/deliver"
)

// A Kafka destination producing each event to a topic per livemode and
// type, keyed by the event's object so that an object's events share a
// partition. New only validates: the client connects on the first attempt.
// Give it to a deliver.Worker like any destination, and Close it after the
// worker has shut down.
func ExampleNew() {
	d, err := kafka.New("bus",
		"kafka://hookbox:s3cret@kafka-1:9092,kafka-2:9092?topic=stripe.{livemode}.{type}&key=object&sasl=scram-sha-512&tls=1",
		"whsec_secret_shared_with_consumers",
		deliver.BrokerOptions{Timeout: 5 * time.Second, Types: deliver.MustParseTypes("invoice.*")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println(d)
	// Output: bus (kafka://hookbox:xxxxx@kafka-1:9092,kafka-2:9092?topic=stripe.{livemode}.{type}&key=object&sasl=scram-sha-512&tls=1)
}
