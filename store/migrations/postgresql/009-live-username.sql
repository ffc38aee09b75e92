-- Which live lifecycle holds a RADIUS username: radreply is keyed by username, so a second
-- subscriber activated with it would overwrite the first's reply, and the first's revocation would
-- delete the second's. POST /activate asks this before it takes a username. Allocated lifecycles
-- have no username yet: the allocation's insert does not touch the index.
CREATE INDEX lifecycles_live_username ON lifecycles (username) WHERE username IS NOT NULL AND state <> 'revoked';
