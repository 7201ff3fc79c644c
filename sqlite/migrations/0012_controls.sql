-- 0012: per-destination delivery controls kept in the store, shared by
-- every process on the database. breaker_open_at: unix ns, 0 when the
-- circuit breaker is closed; probe_at: when an open breaker lets its next
-- probe through. rate_tat and rate_next: the GCRA state of the
-- destination's rate limit (hookbox.RateState), unix ns, 0 for none.
ALTER TABLE destinations ADD COLUMN breaker_open_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN probe_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN rate_tat INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN rate_next INTEGER NOT NULL DEFAULT 0;
