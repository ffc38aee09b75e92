-- Leases (issue 11): a lifecycle with work in flight is owned by one instance at a time. The
-- fencing token comes from one sequence, so every new owner's token is greater than any before it;
-- a write names the token it holds and is refused once another instance has taken the lease over
-- (store/postgresql/leases.ts). Expiry is the database's clock (now()), the one clock every
-- instance shares: no skew between instances' clocks can make two owners.
CREATE SEQUENCE lease_tokens AS BIGINT;
CREATE TABLE leases (
  lifecycle_id TEXT COLLATE "C" PRIMARY KEY,
  owner        TEXT NOT NULL,
  token        BIGINT NOT NULL,
  expires_at   TIMESTAMPTZ NOT NULL
);
-- The take-over walk: expired leases, oldest expiry first.
CREATE INDEX leases_expiry ON leases (expires_at);
