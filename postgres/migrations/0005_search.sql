-- 0005: hookbox_object_id(body), the object id of an event (its body's
-- data.object.id), for the console's search (hookbox.EventQuery.ObjectID).
--
-- hookbox_object_id returns data.object.id when the body is UTF-8 JSON and
-- that value is a JSON string; NULL otherwise (an emptied body, a number,
-- invalid JSON or UTF-8, JSON that jsonb refuses such as \u0000). It is
-- declared IMMUTABLE although convert_from is only STABLE: convert_from
-- depends on the server encoding, which a database cannot change. The
-- EXCEPTION block makes it PARALLEL RESTRICTED.
--
-- No column and no index of it: a stored generated column parsed every body
-- at insert (about 15 us of server CPU per event, halving the group-commit
-- insert rate in a benchmark), and an expression index re-parsed it on every
-- queue update. Ingest is the hot path; a search by object id is an
-- operator's occasional query, so it reads the bodies of the events in the
-- searched time range instead (a byte search first, then this function), as
-- the SQLite store does.
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
