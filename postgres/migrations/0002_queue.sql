-- 0002: the delivery queue. The events row carries the aggregate state and
-- the lease; one deliveries row per (event, destination) once tried; an
-- append-only log of attempts.

-- The lease of a worker that claimed the event (state 'delivering'): its
-- owner and end; '' and '-infinity' when not leased. While the event is
-- delivering, next_attempt_at holds lease_until too (when the queue looks
-- at the event again if the worker never reports), so one range of
-- events_queue holds both the due pending events and the expired leases.
-- replayed_at: the last replay (its retry window starts again), '-infinity'
-- if never.
ALTER TABLE events
    ADD COLUMN replayed_at timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN lease_owner text        NOT NULL DEFAULT '',
    ADD COLUMN lease_until timestamptz NOT NULL DEFAULT '-infinity';

-- The claim query: events that may be due, in claim order, so claiming
-- never sorts and stops after LIMIT rows. Partial: it holds only the live
-- part of the queue, not the delivered and dead events that make up most
-- of the table; the claim query repeats its predicate verbatim.
CREATE INDEX events_queue ON events (next_attempt_at, received_at, id)
    WHERE state IN ('pending', 'delivering');

-- Listing by state, CountEvents, and the oldest pending event.
CREATE INDEX events_state ON events (state, received_at, id);

CREATE TABLE deliveries (
    event_id        text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     text COLLATE "C" NOT NULL CHECK (destination <> ''),
    state           text        NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        bigint      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    last_error      text        NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (event_id, destination)
);

-- One row per delivery attempt, whatever its outcome; never updated. The
-- response snippet is bytea: its first MaxResponseSnippet bytes may end in
-- the middle of a UTF-8 sequence, or not be text at all.
CREATE TABLE attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination text COLLATE "C" NOT NULL,
    number      bigint      NOT NULL CHECK (number >= 1),
    started_at  timestamptz NOT NULL,
    duration_us bigint      NOT NULL CHECK (duration_us >= 0),
    status_code bigint      NOT NULL,
    error       text        NOT NULL,
    response    bytea       NOT NULL,
    ok          boolean     NOT NULL
);

-- An event's attempts, oldest first, ties in recording order; also the
-- cascade on delete and the count CompleteClaim keeps in events.attempts.
CREATE INDEX attempts_event ON attempts (event_id, started_at, id);
