package nats_test

import (
	"fmt"
	"time"

	natsdest "github.com/hookbox/hookbox/broker/nats"
	"github.com/hookbox/hookbox/deliver"
)

// A JetStream destination for a deliver.Worker (its Destinations): invoice
// events go to stripe.<livemode>.<type>, and must be stored by the stream
// STRIPE. New validates without connecting; the first Deliver connects.
func ExampleNew() {
	d, err := natsdest.New("bus", "nats://hookbox:s3cret@127.0.0.1:4222?subject=stripe.{livemode}.{type}&stream=STRIPE",
		"whsec_for_consumers", deliver.BrokerOptions{Timeout: 5 * time.Second, Types: deliver.MustParseTypes("invoice.*")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println(d)
	// Output: bus (nats://hookbox:xxxxx@127.0.0.1:4222?subject=stripe.{livemode}.{type}&stream=STRIPE)
}
