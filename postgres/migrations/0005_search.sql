-- 0005: the object id of each event (its body's data.object.id), kept in
-- a column and indexed, so the console finds an object's events without
-- reading bodies (hookbox.EventQuery.ObjectID).
--
-- hookbox_object_id returns data.object.id when the body is UTF-8 JSON and
-- that value is a JSON string; NULL otherwise (an emptied body, a number,
-- invalid JSON or UTF-8, JSON that jsonb refuses such as \u0000). It is
-- declared IMMUTABLE although convert_from is only STABLE: convert_from
-- depends on the server encoding, which a database cannot change. The
-- EXCEPTION block makes it PARALLEL RESTRICTED.
--
-- A stored generated column rather than an index on the expression: the
-- queue updates every event two or more times (claim, complete), each a
-- non-HOT update (state is indexed), and PostgreSQL evaluates index
-- expressions on every non-HOT update, which would parse the body again
-- each time. A generated column is computed on insert, and recomputed only
-- when the body changes (retention empties it). Measured on 100k events of
-- 2.4 KB: an UPDATE of state costs 22 us/row with the column and its index,
-- 17-20 us/row with neither, 44-53 us/row with an expression index.
--
-- The cost is on insert: parsing the body takes about 15 us of server CPU
-- per event (an INSERT of 100k events: 13 us/row without, 28 with). Should
-- the receiver one day supply the id itself, ALTER COLUMN object_id DROP
-- EXPRESSION keeps the column and its index without the parse.
--
-- The value is cut to 200 characters so that no body can make an index
-- entry exceed the btree limit and fail its INSERT; SearchEvents compares
-- the full id for longer ones.
--
-- Adding the column rewrites the events table under an ACCESS EXCLUSIVE
-- lock: about 20 s per million events (measured: 500k events of 2.4 KB in
-- 9.6 s), during which ingest and the queue wait. On a large store, run
-- "hookbox migrate" in a quiet period.
CREATE FUNCTION hookbox_object_id(body bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$
DECLARE
    v jsonb;
BEGIN
    IF octet_length(body) = 0 THEN
        RETURN NULL;
    END IF;
    BEGIN
        v := convert_from(body, 'UTF8')::jsonb -> 'data' -> 'object' -> 'id';
    EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(v) = 'string' THEN
        RETURN v #>> '{}';
    END IF;
    RETURN NULL;
END
$$;

ALTER TABLE events ADD COLUMN object_id text COLLATE "C"
    GENERATED ALWAYS AS (left(hookbox_object_id(body), 200)) STORED;

-- An object's events in listing order, with the keyset cursor.
CREATE INDEX events_object ON events (object_id, received_at, id);
