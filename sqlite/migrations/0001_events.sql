-- 0001: the events table, the durable record of every verified Stripe event.
--
-- The table is STRICT, so a value of the wrong type is an error instead of
-- being stored under SQLite's type affinity rules. It keeps its rowid:
-- WITHOUT ROWID clusters rows by key and suits rows far smaller than a body
-- of a few kilobytes.
--
-- Times are INTEGER unix nanoseconds, UTC; the store writes them truncated to
-- the microsecond (the precision every hookbox Store keeps). 0 means "unset"
-- (next_attempt_at = 0: due as soon as possible).
CREATE TABLE events (
    -- The dedupe key. NOT NULL is explicit: a TEXT PRIMARY KEY of a rowid
    -- table accepts NULL in SQLite for historical reasons.
    id              TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    type            TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    created         INTEGER NOT NULL,
    livemode        INTEGER NOT NULL CHECK (livemode IN (0, 1)),
    account         TEXT    NOT NULL,
    api_version     TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    headers         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(headers) AND json_type(headers) = 'object'),
    received_at     INTEGER NOT NULL,
    client_addr     TEXT    NOT NULL,
    secret_index    INTEGER NOT NULL,
    source          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivering', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) STRICT;

-- Listing, newest first, with the keyset cursor (received_at, id); also the
-- retention sweep (delete older than 30 days) walks it.
CREATE INDEX events_received ON events (received_at DESC, id DESC);

-- The delivery queue: pending events due at or before now.
CREATE INDEX events_state_next_attempt ON events (state, next_attempt_at);

-- Listing by type (exact or prefix range), already in listing order for an
-- exact type.
CREATE INDEX events_type ON events (type, received_at DESC, id DESC);

-- Planned for the processing work, not built yet (each its own migration):
--   * leases: events.lease_owner TEXT, events.lease_expires_at INTEGER, so a
--     worker claims pending rows (state -> delivering) and a crashed worker's
--     claim expires; the claim query uses events_state_next_attempt.
--   * deliveries (event_id TEXT NOT NULL REFERENCES events (id) ON DELETE
--     CASCADE, destination TEXT NOT NULL, state, attempts, next_attempt_at,
--     PRIMARY KEY (event_id, destination)): per-destination state, with
--     events.state the aggregate. foreign_keys is on for every connection.
--   * attempts (id INTEGER PRIMARY KEY, event_id, destination, started_at,
--     duration, status_code, error): one row per delivery attempt, append only.
