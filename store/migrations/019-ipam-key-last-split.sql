-- Migration 018's insert through ipam_allocations read another lifecycle's spelling of a key as the
-- lifecycle before the key's FIRST `:allocate:`: a lifecycle whose id holds `:allocate:` (an id is
-- any text to the port) had its step key `x:allocate:1:allocate:2` stored as (x:allocate:1, 2), and
-- the same text inserted for lifecycle x went in as a second block under the key. A generation is
-- digits only, so the split is at the LAST `:allocate:`: the key without its trailing digits ends in
-- it. services/ipam/embedded-blocks.ts keyAsAnothers() reads it the same way. Nothing stored changes:
-- the encoding of a block (its own lifecycle's generation, else the text) was right.
DROP TRIGGER ipam_allocations_insert;
CREATE TRIGGER ipam_allocations_insert INSTEAD OF INSERT ON ipam_allocations BEGIN
  SELECT RAISE(ABORT, 'UNIQUE constraint failed: ipam_allocations.key')
    WHERE EXISTS (SELECT 1 FROM ipam_blocks WHERE typeof(key_gen) = 'text' AND key_gen = NEW.key)
       OR EXISTS (SELECT 1 FROM ipam_blocks
                  WHERE rtrim(CAST(NEW.key AS TEXT), '0123456789') GLOB '*:allocate:'
                    AND length(substr(CAST(NEW.key AS TEXT), length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) + 1)) BETWEEN 1 AND 15 AND (substr(CAST(NEW.key AS TEXT), length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) + 1) = '0' OR substr(CAST(NEW.key AS TEXT), length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) + 1) NOT GLOB '0*')
                    AND lifecycle_id = (CASE WHEN substr(rtrim(CAST(NEW.key AS TEXT), '0123456789'), 1, length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) - 10) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(substr(rtrim(CAST(NEW.key AS TEXT), '0123456789'), 1, length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) - 10), '-', '')) ELSE substr(rtrim(CAST(NEW.key AS TEXT), '0123456789'), 1, length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) - 10) END)
                    AND key_gen = CAST(substr(CAST(NEW.key AS TEXT), length(rtrim(CAST(NEW.key AS TEXT), '0123456789')) + 1) AS INTEGER));
  INSERT INTO ipam_blocks (pool, start_hex, end_hex, prefix, prefix_length, lifecycle_id, key_gen, subscriber_id, allocated_at) VALUES (
    NEW.pool, NEW.start_hex, NEW.end_hex, NEW.prefix, NEW.prefix_length,
    CASE WHEN NEW.lifecycle_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(NEW.lifecycle_id, '-', '')) ELSE CAST(NEW.lifecycle_id AS TEXT) END,
    coalesce((CASE WHEN substr(NEW.key, 1, length(NEW.lifecycle_id) + 10) = NEW.lifecycle_id || ':allocate:' AND length(substr(NEW.key, length(NEW.lifecycle_id) + 11)) BETWEEN 1 AND 15 AND substr(NEW.key, length(NEW.lifecycle_id) + 11) NOT GLOB '*[^0-9]*' AND (substr(NEW.key, length(NEW.lifecycle_id) + 11) = '0' OR substr(NEW.key, length(NEW.lifecycle_id) + 11) NOT GLOB '0*') THEN CAST(substr(NEW.key, length(NEW.lifecycle_id) + 11) AS INTEGER) END), CAST(NEW.key AS TEXT)),
    NEW.subscriber_id,
    CASE WHEN NEW.allocated_at >= '1970' AND strftime('%Y-%m-%dT%H:%M:%fZ', NEW.allocated_at) IS NEW.allocated_at
      THEN CAST(round((julianday(NEW.allocated_at) - 2440587.5) * 86400000) AS INTEGER) ELSE CAST(NEW.allocated_at AS TEXT) END);
END;
