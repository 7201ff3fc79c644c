// Package broker is the home of hookbox's queue destinations, one package
// per kind, each a deliver.Destination chosen by the destination URL's
// scheme:
//
//   - broker/nats: NATS JetStream (nats://)
//   - broker/amqp: RabbitMQ (amqp://, amqps://)
//   - broker/kafka: Kafka (kafka://)
//   - broker/redis: Redis Streams (redis://, rediss://)
//
// This package itself holds no code: its tests benchmark the four kinds
// side by side with the HTTP destination (BenchmarkDrain in
// drain_test.go), draining one backlog of events through a deliver.Worker
// to each in one run.
package broker
