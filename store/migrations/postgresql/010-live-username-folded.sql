-- The live usernames as MySQL/MariaDB's stock collation compares them (case, trailing spaces:
-- PAD SPACE): with FreeRADIUS's radreply there, 'Alice', 'alice' and 'alice ' are one RADIUS
-- user, so POST /activate asks this (runtime/usernames.ts) instead of the exact index.
CREATE INDEX lifecycles_live_username_folded ON lifecycles (lower(rtrim(username, ' '))) WHERE username IS NOT NULL AND state <> 'revoked';
