-- 0009: held deliveries (hookbox.Delivery.HoldReason), as the SQLite
-- store's 0009: pending, due at hookbox.HeldUntil, until released.
ALTER TABLE deliveries ADD COLUMN hold_reason text NOT NULL DEFAULT '';

CREATE INDEX deliveries_held ON deliveries (destination, event_id) WHERE hold_reason <> '';
