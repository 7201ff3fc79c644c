-- 0001: the events table, the durable record of every verified Stripe event.
--
-- The same columns as the SQLite store's events table, in PostgreSQL types:
--
--   * ids and types are COLLATE "C": they compare as bytes, as SQLite's
--     BINARY collation does, so both stores list in the same order and a
--     type prefix is a plain index range;
--   * times are timestamptz (microseconds, like the SQLite store, which
--     truncates to them); an unset time is '-infinity' where SQLite stores
--     0, so "due as soon as possible" sorts first and compares <= any now;
--   * the body is bytea, kept byte for byte; the headers are a jsonb object.
--
-- text cannot hold U+0000 or invalid UTF-8; the store rejects such an
-- event on its own (EINVALID) before it reaches the INSERT.
CREATE TABLE events (
    id              text COLLATE "C" NOT NULL PRIMARY KEY CHECK (id <> ''),
    type            text COLLATE "C" NOT NULL,
    object          text        NOT NULL,
    created         bigint      NOT NULL,
    livemode        boolean     NOT NULL,
    account         text        NOT NULL,
    api_version     text        NOT NULL,
    body            bytea       NOT NULL,
    headers         jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    received_at     timestamptz NOT NULL,
    client_addr     text        NOT NULL,
    secret_index    bigint      NOT NULL,
    source          text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivering', 'delivered', 'dead')),
    attempts        bigint      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    updated_at      timestamptz NOT NULL
);

-- Listing, newest first, with the keyset cursor (received_at, id): scanned
-- backwards, and the row comparison (received_at, id) < ($1, $2) is an
-- index condition. Also the retention sweep walks it.
CREATE INDEX events_received ON events (received_at, id);

-- Listing by type (exact, or a prefix range), in listing order for an
-- exact type.
CREATE INDEX events_type ON events (type, received_at, id);
