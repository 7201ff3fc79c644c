-- 0013: leaner indexes (issue #18), measured by BenchmarkIngestSchema
-- (sqlite/schema_bench_test.go; figures in the README).
--
-- events_received and events_type were DESC, the listing's order. SQLite
-- stores a DESC index in descending order, so every new event (the
-- newest) went in at the left end of its range: each page split there
-- leaves a half-full page behind, and both indexes stayed under half full
-- (46-47% in the benchmark's store, 87-90% ascending). Ascending, a new
-- entry is appended at the right end of its range, and the listing reads
-- the same index backwards (ORDER BY ... DESC needs no sort either way).
-- Rebuilding them reads the table once, at the first open of this build.
DROP INDEX events_received;
CREATE INDEX events_received ON events (received_at, id);

DROP INDEX events_type;
CREATE INDEX events_type ON events (type, received_at, id);

-- events_state_next_attempt indexed every event by state: at ingest each
-- new event, and at every claim and completion it moved within it. What
-- read it is served by smaller partial indexes now:
--   * pending and delivering events (the counts at each scrape, the
--     oldest unsettled event, a search by those states) by events_queue,
--     which holds exactly those events and now covers state too;
--   * dead events (their count, a search by state dead, the blocked
--     filter) by events_dead below, which holds only them;
--   * delivered events, most of a store, are the total less the others,
--     and a search by state delivered walks events_received, where nearly
--     every row matches.
-- The claim's order (next_attempt_at, received_at) is unchanged: state
-- only follows it.
DROP INDEX events_state_next_attempt;
DROP INDEX events_queue;
CREATE INDEX events_queue ON events (next_attempt_at, received_at, state)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX events_dead ON events (received_at, id) WHERE state = 'dead';

-- The request headers kept with an event (a few, usually Stripe's three),
-- in the compact form of internal/headercodec: about 45 bytes where the
-- JSON object of headers took about 230, checked by json_valid at every
-- insert. New rows store '{}' in headers; the rows stored before keep
-- their JSON there and NULL here, and read as before.
ALTER TABLE events ADD COLUMN headers_packed BLOB;
