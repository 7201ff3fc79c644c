-- 0006: delivery in object order (hookbox.Event.OrderKey) and skipped
-- deliveries; the same as the SQLite store's 0006.
--
-- order_key names the Stripe object an ordered event is about ('' when the
-- event is not ordered); order_skip_dead: a dead event of the key does not
-- hold the later ones.
ALTER TABLE events
    ADD COLUMN order_key       text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN order_skip_dead boolean          NOT NULL DEFAULT false;

-- The claim's gate: the live events of a key (pending, delivering, dead),
-- in the key's order. Partial twice over, so the gate of a long-lived
-- object reads its few waiting events, not its history; the claim repeats
-- the predicate.
CREATE INDEX events_order_live ON events (order_key, created, received_at, id)
    WHERE order_key <> '' AND state IN ('pending', 'delivering', 'dead');

-- Late events: the newest delivered event of a key newer than the claimed
-- one, read backwards from the end of the key's range.
CREATE INDEX events_order ON events (order_key, created, received_at, id)
    WHERE order_key <> '';

-- Why a destination was not sent the event on purpose (a late event under
-- --late skip, or a skip by hand); '' when it was sent.
ALTER TABLE deliveries ADD COLUMN skip_reason text NOT NULL DEFAULT '';
