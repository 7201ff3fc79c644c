-- 0004: the name of the endpoint that received each event. Destinations are
-- configured per endpoint (an account endpoint and a Connect endpoint side
-- by side); '' for rows from before endpoints had names and for reconciled
-- events, which belong to the default endpoint.
ALTER TABLE events ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
