-- 0011: destinations paused by hand, as the SQLite store's 0011.
-- paused_at: '-infinity' when not paused.
CREATE TABLE destinations (
    name       text COLLATE "C" NOT NULL PRIMARY KEY CHECK (name <> ''),
    paused_at  timestamptz NOT NULL DEFAULT '-infinity',
    updated_at timestamptz NOT NULL
);
