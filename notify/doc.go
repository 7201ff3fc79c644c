// Package notify tells people when something is wrong with a hookbox, where
// nobody runs Alertmanager: an event went dead, a destination keeps
// failing, its circuit breaker is open or it has been paused for too long,
// an endpoint has received nothing for too long, signature failures spike,
// an old secret still matches a day into a rotation.
//
// A Notifier evaluates its Conditions every Every (with an injected clock)
// and sends a Message to each Channel when a condition starts and when it
// resolves, never one per event: a condition that starts again less than
// MinInterval after its previous start waits until the interval has passed.
// With a Locker (the store), replicas on one database elect one sender by a
// lock that the sender renews at every evaluation.
//
// Channels: Slack (a Slack-compatible incoming webhook), Webhook (a JSON
// body signed with a Stripe-Signature header, as hookbox signs its
// forwards) and Email (SMTP with STARTTLS). A message names the condition,
// the endpoint or destination, counts and times, and a link to the console;
// never a secret, an event body or a destination's error text (a
// transport error may quote the destination's URL and its token).
package notify
