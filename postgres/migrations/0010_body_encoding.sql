-- 0010: compressed event bodies, their dictionaries, and the object id in
-- a column.
--
-- body_encoding says how body holds the event's body (internal/bodycodec):
-- 0 the bytes themselves, 1 a zstd frame of them. The marker is a column,
-- not a prefix of the bytes: a body is any bytes, so no prefix can be
-- ruled out of the rows stored before, and a column added with a constant
-- DEFAULT marks every old row 0 without rewriting the table. The CHECK is
-- NOT VALID so that adding it does not read every old row (all 0); new
-- and updated rows are checked.
ALTER TABLE events ADD COLUMN body_encoding smallint NOT NULL DEFAULT 0;
ALTER TABLE events ADD CONSTRAINT events_body_encoding CHECK (body_encoding IN (0, 1)) NOT VALID;

-- A compressed body does not shrink again: PostgreSQL's own TOAST
-- compression (pglz, tried on values of rows over about 2 KB) would spend
-- the server's CPU for nothing. EXTERNAL still moves a large body out of
-- line; it applies to the values stored from now on.
ALTER TABLE events ALTER COLUMN body SET STORAGE EXTERNAL;

-- object_id is the body's data.object.id as the search by object id
-- (hookbox.EventQuery.ObjectID) defines it, extracted in Go at insert,
-- since SQL can no longer read a compressed body: '' when the body has
-- none. NULL for the rows stored before this migration, which the search
-- tests by reading their (uncompressed) body with hookbox_object_id (0005),
-- as before. No index: a search reads the candidate rows, no longer their
-- bodies.
ALTER TABLE events ADD COLUMN object_id text;

-- The zstd dictionaries bodies are compressed with, by the id that each
-- frame names (internal/bodycodec). A build adds its own at open and
-- never deletes one, so the rows compressed with an older dictionary stay
-- readable after a build ships a newer one.
CREATE TABLE body_dicts (
    id   bigint NOT NULL PRIMARY KEY,
    dict bytea  NOT NULL
);
