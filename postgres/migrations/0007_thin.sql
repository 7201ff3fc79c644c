-- 0007: thin events (API v2 event destinations); the same as the SQLite
-- store's 0007.
--
-- related_id, related_type: the notification's related_object; context:
-- the Stripe-Context its full event is fetched in. '' for snapshot events.
ALTER TABLE events
    ADD COLUMN related_id   text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN related_type text             NOT NULL DEFAULT '',
    ADD COLUMN context      text             NOT NULL DEFAULT '';

CREATE INDEX events_related ON events (related_id, received_at DESC, id DESC)
    WHERE related_id <> '';

-- The fetch of each thin event's full form (hookbox.ThinStore), written in
-- the transaction that stores the event. While lease_owner is set,
-- next_attempt_at is the end of the fetcher's claim, so one index range
-- finds due fetches and expired claims alike; claims take rows with FOR
-- UPDATE SKIP LOCKED, so replicas never fetch one event at once.
CREATE TABLE thin_fetches (
    event_id        text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    state           text        NOT NULL CHECK (state IN ('pending', 'fetched', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    lease_owner     text        NOT NULL DEFAULT '',
    last_error      text        NOT NULL DEFAULT '',
    body            bytea       NOT NULL DEFAULT '',
    fetched_at      timestamptz NOT NULL DEFAULT '-infinity',
    updated_at      timestamptz NOT NULL
);

CREATE INDEX thin_fetches_due ON thin_fetches (next_attempt_at) WHERE state = 'pending';
