-- 0003: named locks with an expiry, so that replicas sharing the database
-- run a periodic job (reconcile) one at a time (hookbox.Locker).
--
-- A table rather than pg_try_advisory_lock: a session advisory lock belongs
-- to one pooled connection and dies with it, and it has no expiry; a row
-- survives reconnects, expires on its own when its holder dies, and reads
-- the same as the SQLite store's. A row whose until has passed is a free
-- lock that the next TryLock overwrites; Unlock deletes the row.
CREATE TABLE locks (
    name  text COLLATE "C" NOT NULL PRIMARY KEY CHECK (name <> ''),
    owner text        NOT NULL CHECK (owner <> ''),
    until timestamptz NOT NULL
);
