package main

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

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
	// go-redis prints its pool's dial failures on stderr, unstructured,
	// one line per try while Redis is down; the failed attempt already
	// records the error (and the logs and metrics report it), so the
	// binary silences the library's own logger.
	goredis.SetLogger(quietRedis{})
}

// quietRedis drops go-redis's internal log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
