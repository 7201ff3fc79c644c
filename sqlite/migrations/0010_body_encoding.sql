-- 0010: compressed event bodies, their dictionaries, and the object id in
-- a column.
--
-- event_bodies.encoding says how body holds the event's body
-- (internal/bodycodec): 0 the bytes themselves, 1 a zstd frame of them.
-- The marker is a column, not a prefix of the bytes: a body is any bytes,
-- so no prefix can be ruled out of the rows stored before, and ADD COLUMN
-- with a DEFAULT marks every old row 0 without rewriting it (SQLite reads
-- the default for records that end before the column). New bodies are
-- stored compressed when that makes them smaller.
ALTER TABLE event_bodies ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0 CHECK (encoding IN (0, 1));

-- object_id is the body's data.object.id as the search by object id
-- (hookbox.EventQuery.ObjectID) defines it, extracted in Go at insert,
-- since SQL can no longer read a compressed body: '' when the body has
-- none. NULL for the rows stored before this migration, which the search
-- tests by reading their (uncompressed) body, as before. No index: a
-- search scans the candidate events rows, which no longer means reading
-- their bodies.
ALTER TABLE events ADD COLUMN object_id TEXT;

-- The zstd dictionaries bodies are compressed with, by the id that each
-- frame names (internal/bodycodec). A build adds its own at open and
-- never deletes one, so the rows compressed with an older dictionary stay
-- readable after a build ships a newer one.
CREATE TABLE body_dicts (
    id   INTEGER PRIMARY KEY,
    dict BLOB    NOT NULL
) STRICT;
