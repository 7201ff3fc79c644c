-- 0003: named locks with an expiry, so that replicas sharing the database
-- run a periodic job (reconcile) one at a time (hookbox.Locker).
--
-- A row is a lock taken until "until" (INTEGER unix nanoseconds, UTC,
-- truncated to the microsecond like every stored time); a row whose until
-- has passed is a free lock that the next TryLock overwrites. Unlock
-- deletes the row.
CREATE TABLE locks (
    name  TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    owner TEXT    NOT NULL CHECK (owner <> ''),
    until INTEGER NOT NULL
) STRICT;
