-- No scan of every live prefix (issue 10). sharedPrefixes() reads the prefixes live_prefixes counts
-- more than once (normally none) through the first index, and their lifecycles through the second;
-- before, it grouped every live lifecycle by prefix, with no index on prefix, on every leak check.
CREATE INDEX live_prefixes_shared ON live_prefixes (prefix) WHERE n > 1;
CREATE INDEX lifecycles_live_prefix ON lifecycles (prefix) WHERE prefix IS NOT NULL AND state <> 'revoked';
