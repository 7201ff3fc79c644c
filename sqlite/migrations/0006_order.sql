-- 0006: delivery in object order (hookbox.Event.OrderKey) and skipped
-- deliveries.
--
-- order_key names the Stripe object an ordered event is about ('' when the
-- event is not ordered); order_skip_dead is 1 when a dead event of the key
-- does not hold the later ones.
ALTER TABLE events ADD COLUMN order_key       TEXT    NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN order_skip_dead INTEGER NOT NULL DEFAULT 0 CHECK (order_skip_dead IN (0, 1));

-- The claim's gate: the live events of a key (pending, delivering, dead),
-- in the key's order. Partial twice over: only ordered events, and only
-- while they are live, so the gate of a long-lived object reads its few
-- waiting events, not its history. The claim repeats the WHERE verbatim.
-- state and order_skip_dead are in it too, so the gate reads the index
-- alone, never the table.
CREATE INDEX events_order_live ON events (order_key, created, received_at, id, state, order_skip_dead)
    WHERE order_key <> '' AND state IN ('pending', 'delivering', 'dead');

-- Late events: the newest delivered event of a key newer than the claimed
-- one is a range of this index read backwards from its end.
CREATE INDEX events_order ON events (order_key, created, received_at, id)
    WHERE order_key <> '';

-- Why a destination was not sent the event on purpose (a late event under
-- --late skip, or a skip by hand); '' when it was sent. Such a delivery is
-- 'delivered' (settled).
ALTER TABLE deliveries ADD COLUMN skip_reason TEXT NOT NULL DEFAULT '';
