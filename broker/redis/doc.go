// Package redis is a hookbox destination that appends events to Redis
// Streams with XADD, through github.com/redis/go-redis/v9.
//
// # URL
//
//	redis://[user[:password]@]host[:port][/db][?stream=T&maxlen=N&...]
//	rediss://...   the same over TLS (certificates verified)
//
// The port defaults to 6379 and db to 0. Query parameters:
//
//   - stream: the stream's key, a deliver.Template over the event
//     ({type}, {account}, {livemode}, {endpoint}, {object}); default
//     "stripe". Examples: "stripe", "stripe:{livemode}", "stripe:{type}".
//   - maxlen: trim the stream to about N entries (XADD MAXLEN ~ N, a
//     positive integer); omitted, the stream is never trimmed. Trimming
//     drops the oldest entries whether a consumer has read them or not:
//     size it above the consumer's worst lag.
//   - every other parameter is go-redis's own (dial_timeout, pool_size,
//     client_name, protocol, db, skip_verify, ...: see redis.ParseURL);
//     an unknown one is an error. max_retries defaults to -1 here (go-redis
//     does not resend a command): hookbox's retry policy retries, and each
//     attempt it records is one XADD.
//
// One Redis server (or a proxy in front of several) is the target: Redis
// Cluster and Sentinel are not supported.
//
// # Streams are created by XADD
//
// hookbox creates no stream and no consumer group: XADD creates the stream
// on the first event, as Redis does by default. A consumer creates its group
// itself (XGROUP CREATE key group 0 MKSTREAM reads from the first entry,
// whether it was added before the group or after).
//
// # Entries
//
// Each event is one entry with the field "body" (FieldBody: the exact
// stored bytes, as Stripe sent them) then one field per header of
// deliver.MessageHeaders, in deliver.HeaderNames' order: Content-Type,
// Hookbox-Event-Id, Hookbox-Event-Type, Idempotency-Key, Hookbox-Attempt and
// Stripe-Signature, a signature of body made with the destination's secret
// at the time of the attempt. A consumer verifies it as it would a webhook
// (stripe-go's webhook.ValidatePayload(body, signature, secret)).
//
// # Acknowledgement and duplicates
//
// An attempt is OK when XADD answers with the entry's id (Attempt.Response
// holds it and the stream); an error, a refused connection or no answer
// within the destination's timeout is a failed attempt that the worker
// retries. The id means that Redis holds the entry in memory: whether it
// survives a Redis restart is Redis's persistence setting (appendonly yes
// with appendfsync always writes it to disk before answering).
//
// Redis has no deduplication of stream entries, so an event can appear more
// than once: an attempt whose answer was lost (timeout, connection cut after
// the write) is retried, and a replay appends the event again. Consumers
// deduplicate on the Hookbox-Event-Id field (also Idempotency-Key), as an
// HTTP receiver would.
//
// # Connections
//
// New validates and never connects, so a configuration is checked without
// Redis running. The first Deliver opens a connection pool; connections
// that fail are dropped and new ones dialled on the next attempt, so a Redis
// restart needs no hookbox restart. A Destination is safe for concurrent
// use; Close releases the pool.
package redis
