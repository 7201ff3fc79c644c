-- 0012: per-destination delivery controls, as the SQLite store's 0012:
-- the circuit breaker ('-infinity' when closed), its next probe, and the
-- rate limit's GCRA state (hookbox.RateState).
ALTER TABLE destinations
    ADD COLUMN breaker_open_at timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN probe_at        timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN rate_tat        timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN rate_next       timestamptz NOT NULL DEFAULT '-infinity';
