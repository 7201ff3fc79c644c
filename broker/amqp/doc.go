// Package amqp is a hookbox destination that publishes events to RabbitMQ
// (AMQP 0-9-1), with the guarantees of an HTTP destination: an attempt
// succeeds only when the broker has taken responsibility for the message.
//
// # URL
//
//	amqp://user:password@host:5672/vhost?exchange=stripe&routing_key=stripe.{type}
//	amqps://user:password@host:5671/vhost?...
//
// The path is the virtual host ("/" when absent; "%2F" is the vhost "/"
// too). amqps is TLS 1.2 or later, verified against the system's roots
// (or cacertfile). Query parameters:
//
//   - exchange: the exchange to publish to; default "" (the default
//     exchange, which routes a message to the queue named by its routing
//     key). It must exist: hookbox never declares exchanges, queues or
//     bindings, since their durability, type and arguments are the
//     consumer side's design. A missing exchange fails every attempt with
//     RabbitMQ's NOT_FOUND.
//   - routing_key: the routing key, a template over the event
//     (deliver.Template: {type}, {account}, {livemode}, {endpoint},
//     {object}); default "stripe.{type}".
//   - RabbitMQ's own URI parameters, passed to the client: heartbeat,
//     channel_max, auth_mechanism, and for amqps certfile, keyfile,
//     cacertfile, server_name_indication.
//
// Any other parameter is an error, as is a URL that does not parse.
// Errors never show the URL's password; URL returns it redacted.
//
// # What counts as delivered
//
// Every message is published persistent (delivery mode 2) and mandatory,
// on a channel in confirm mode. The attempt is OK only on the broker's
// publisher confirm (basic.ack); a nack, a closed channel or connection,
// a timeout, or a basic.return (mandatory and no queue bound: the message
// reached nobody) is a failed attempt, retried like any failed delivery.
// RabbitMQ acks a persistent message routed to durable queues once it is
// written to disk (a quorum queue: once a majority has it).
//
// # Message
//
// The body is the event exactly as stored. Properties: content-type
// application/json, message-id the event id (a consumer deduplicates on
// it: a retry after a lost confirm, or a replay, publishes the same id
// again), type the event type, app-id "hookbox", timestamp the attempt's
// time. The headers table carries every header of deliver.MessageHeaders
// as a string: Content-Type, Hookbox-Event-Id, Hookbox-Event-Type,
// Idempotency-Key, Hookbox-Attempt and Stripe-Signature, a signature of
// the body made with the destination's secret that a consumer verifies as
// it would a webhook (stripe-go's webhook.ValidatePayload(body, header,
// secret)).
//
// # Connections
//
// New never connects, so that a configuration is validated without a
// broker. The first Deliver dials; the connection is shared by every
// attempt, each holding one confirm-mode channel of a pool for the time of
// its publish, so that a basic.return is matched to its message without
// ambiguity. A connection or channel that fails is dropped and the next
// attempt dials again: a broker restart needs no hookbox restart. Close
// closes the connection.
package amqp
