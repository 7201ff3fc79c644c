-- 0009: held deliveries (hookbox.Delivery.HoldReason): a destination states
-- a Stripe API version the event is not in. A held delivery is pending and
-- due at hookbox.HeldUntil (never), so the queue passes it by; 'released'
-- once released or replayed, until delivered.
ALTER TABLE deliveries ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';

-- CountHeld at every scrape, ReleaseHeld and the held filter: the held
-- deliveries only.
CREATE INDEX deliveries_held ON deliveries (destination, event_id) WHERE hold_reason <> '';
