-- 0011: destinations paused by hand (hookbox destinations pause), kept in
-- the store so that the pause survives restarts and holds on every
-- replica. paused_at: unix ns, 0 when not paused. While a destination is
-- paused its deliveries are parked like held ones (deliveries.hold_reason
-- 'paused', due at hookbox.HeldUntil); a resume makes them due.
CREATE TABLE destinations (
    name       TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    paused_at  INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
) STRICT;
