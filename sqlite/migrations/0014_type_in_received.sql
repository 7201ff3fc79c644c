-- 0014: the type moves into the listing index (issue #18), measured
-- side by side behind HTTP (hookbox-bench; figures in the README).
--
-- events_type (type, received_at, id) took each new event at the end of
-- its type's range: a batch of events of N types changed N pages of it,
-- one each, written to the WAL at every commit and again at checkpoint.
-- With ingest's batches of 10-30 events of many types that was as many
-- pages as the id's primary key, and dropping it gave 1.11-1.13x the
-- ingest rate at 0.88-0.90 of the CPU per request. events_received now
-- carries the type instead: it still takes every new event at its one end
-- (one page per batch), and a listing or search by type walks it newest
-- first, testing the type in the index before it reads any row (SQLite
-- defers the row's seek), until the page is full. A type with few events
-- in a large store reads more of that index than events_type did: the
-- price, paid at read time by a filter, not by every webhook.
-- PostgreSQL keeps its events_type: its ingest is not bound by pages.
DROP INDEX events_type;
DROP INDEX events_received;
CREATE INDEX events_received ON events (received_at, id, type);
