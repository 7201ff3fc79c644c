-- 0007: thin events (API v2 event destinations).
--
-- A thin notification names the object it is about (related_object) and
-- the context its full event is fetched in; both are read at ingest.
-- related_id is searched (hookbox.EventQuery.ObjectID matches it as well
-- as a snapshot body's data.object.id); '' for snapshot events, which the
-- partial index leaves out.
ALTER TABLE events ADD COLUMN related_id   TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN related_type TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN context      TEXT NOT NULL DEFAULT '';

CREATE INDEX events_related ON events (related_id, received_at DESC, id DESC)
    WHERE related_id <> '';

-- The fetch of each thin event's full form (hookbox.ThinStore): one row
-- per thin event, written in the transaction that stores the event.
-- next_attempt_at is also the end of a fetcher's claim while lease_owner
-- is set, as events.next_attempt_at is for the delivery queue, so one
-- index range finds due fetches and expired claims alike. body is the
-- fetched event, x'' until then. Times as in 0001.
CREATE TABLE thin_fetches (
    event_id        TEXT    NOT NULL PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'fetched', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    last_error      TEXT    NOT NULL DEFAULT '',
    body            BLOB    NOT NULL DEFAULT x'',
    fetched_at      INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The fetchers' claim: pending fetches by due time. Partial: done and
-- failed fetches, the bulk, are not in it.
CREATE INDEX thin_fetches_due ON thin_fetches (next_attempt_at) WHERE state = 'pending';
