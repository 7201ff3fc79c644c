-- 0002: the delivery queue (hookbox.Queue): leases on events, the state of
-- each event at each destination, and the log of delivery attempts.
--
-- Times are INTEGER unix nanoseconds truncated to the microsecond, 0 for
-- "unset", as in 0001.

-- A claimed event (state 'delivering') names its worker and the end of its
-- lease. While it is delivering, next_attempt_at holds lease_until too: the
-- time the queue looks at the event again if the worker never reports, so
-- one index range finds both due pending events and expired leases.
-- '' and 0: not leased.
ALTER TABLE events ADD COLUMN lease_owner TEXT    NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
-- When the event was last replayed (its retry window starts again); 0: never.
ALTER TABLE events ADD COLUMN replayed_at INTEGER NOT NULL DEFAULT 0;

-- The claim query: events that may be due, in claim order. Partial, so it
-- holds only the live part of the queue, not the delivered and dead events
-- that make up most of the table; the claim query repeats the WHERE term
-- verbatim, which is what lets SQLite use a partial index. received_at makes
-- the order complete, so claiming never sorts.
CREATE INDEX events_queue ON events (next_attempt_at, received_at)
    WHERE state IN ('pending', 'delivering');

-- One row per (event, destination) once the destination has been tried.
-- events.state is the aggregate of these rows. WITHOUT ROWID: small rows
-- always reached by their key.
CREATE TABLE deliveries (
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     TEXT    NOT NULL CHECK (destination <> ''),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (event_id, destination)
) STRICT, WITHOUT ROWID;

-- Every delivery attempt, append only. The response snippet is a BLOB: it is
-- the first bytes of whatever the destination answered, cut anywhere, so not
-- necessarily text.
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY, -- recording order
    event_id    TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination TEXT    NOT NULL,
    number      INTEGER NOT NULL CHECK (number >= 1),
    started_at  INTEGER NOT NULL,
    duration_us INTEGER NOT NULL CHECK (duration_us >= 0),
    status_code INTEGER NOT NULL,
    error       TEXT    NOT NULL,
    response    BLOB    NOT NULL,
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1))
) STRICT;

-- An event's attempts, oldest first (the rowid ends every index entry, so
-- ties on started_at come in recording order); also the cascade on delete.
CREATE INDEX attempts_event ON attempts (event_id, started_at);
