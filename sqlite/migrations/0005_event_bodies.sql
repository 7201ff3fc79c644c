-- 0005: event bodies move out of events into their own table.
--
-- A body is a few kilobytes, so an events row holding it filled about a
-- page: every claim and every completion, which change only the small
-- state and lease columns, rewrote that page (SQLite rewrites the whole
-- record), and the WAL wrote and synced a page per event and per state
-- change. Without the body an events row is a few hundred bytes, a page
-- holds a dozen of them, and the rows a batch claims or completes (near
-- each other, in receive order) share pages.
--
-- event_bodies is keyed by an INTEGER PRIMARY KEY (its rowid) that the
-- event row names in body_id: bodies are appended in insert order, with no
-- second b-tree keyed by the random event id to update at ingest. The
-- store assigns body_id as max(id) + 1 inside the inserting transaction and
-- inserts the body only once the event row is in (a duplicate id or a
-- rejected row stores no body). body_id 0 means no body (read as empty).
-- An explicit INTEGER PRIMARY KEY keeps its values across VACUUM, which
-- the implicit rowid of events does not, hence a key of its own.
--
-- No REFERENCES: the event names the body, and deleting an event deletes
-- its body through the trigger below.
CREATE TABLE event_bodies (
    id   INTEGER PRIMARY KEY,
    body BLOB    NOT NULL
) STRICT;

ALTER TABLE events ADD COLUMN body_id INTEGER NOT NULL DEFAULT 0;

INSERT INTO event_bodies (id, body) SELECT rowid, body FROM events;
UPDATE events SET body_id = rowid;
ALTER TABLE events DROP COLUMN body;

CREATE TRIGGER events_delete_body AFTER DELETE ON events
WHEN old.body_id <> 0
BEGIN
    DELETE FROM event_bodies WHERE id = old.body_id;
END;
