-- 0015: the CHECK constraints that list three or four states name them
-- with OR instead of IN (issue #18), the same constraints in another
-- form. SQLite evaluates an IN list of three or more values by building
-- an in-memory table of the values at every execution of the statement:
-- for events, once per stored webhook, on the writer every request waits
-- for (2-4 us of the insert's 20-25). An OR of equalities is a few
-- comparisons. Partial indexes keep their IN lists: the query planner
-- matches a query's terms against them.
--
-- SQLite cannot alter a CHECK constraint; its documented procedure for
-- changes that leave the stored rows valid (lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes") edits the table's SQL in
-- sqlite_schema, then raises the schema version so that every connection
-- reads the schema again: migrate does the latter for a migration that
-- turns writable_schema on (schemaEdit). The rows are unchanged: every
-- state the old constraint accepted the new one accepts, and no other. A
-- table whose text is not the one its migration wrote (edited by hand)
-- keeps its IN list: as correct, only slower.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (state IN (''pending'', ''delivering'', ''delivered'', ''dead''))',
    'CHECK (state = ''pending'' OR state = ''delivering'' OR state = ''delivered'' OR state = ''dead'')')
WHERE type = 'table' AND name = 'events';
UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (state IN (''pending'', ''delivered'', ''dead''))',
    'CHECK (state = ''pending'' OR state = ''delivered'' OR state = ''dead'')')
WHERE type = 'table' AND name = 'deliveries';
UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (state IN (''pending'', ''fetched'', ''failed''))',
    'CHECK (state = ''pending'' OR state = ''fetched'' OR state = ''failed'')')
WHERE type = 'table' AND name = 'thin_fetches';
