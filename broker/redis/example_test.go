package redis_test

import (
	"fmt"
	"time"

	"github.com/hookbox/hookbox/broker/redis"
	"github.com/hookbox/hookbox/deliver"
)

// New checks the URL without connecting: one stream per livemode, trimmed
// to about a million entries, each signed with the consumers' secret.
func ExampleNew() {
	d, err := redis.New("bus", "redis://:s3cret@127.0.0.1:6379/0?stream=stripe:{livemode}&maxlen=1000000",
		"whsec_for_my_consumers", deliver.BrokerOptions{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println(d)

	_, err = redis.New("bus", "redis://:s3cret@127.0.0.1:6379/0?stream=stripe:{typ}", "whsec_x", deliver.BrokerOptions{})
	fmt.Println(err)
	// Output:
	// bus (redis://:xxxxx@127.0.0.1:6379/0?stream=stripe:{livemode}&maxlen=1000000)
	// invalid: destination bus: URL redis://:xxxxx@127.0.0.1:6379/0?stream=stripe:{typ}: stream: template: unknown field {typ} (want {type}, {account}, {livemode}, {endpoint} or {object})
}
