-- 0004: the name of the endpoint that received each event. Destinations are
-- configured per endpoint; '' for rows from before endpoints had names and
-- for reconciled events, which belong to the default endpoint.
ALTER TABLE events ADD COLUMN endpoint text COLLATE "C" NOT NULL DEFAULT '';
