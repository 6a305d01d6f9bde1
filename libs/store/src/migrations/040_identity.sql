-- Issue 23: first-class domains, forwarding aliases, app passwords.

-- Domains were implicit (a row appeared with an account's first address).
-- They keep their name as the key; per-domain defaults are keyed by that name
-- (not a foreign key) so other features can read them without depending on us.
ALTER TABLE domains
  -- An alias domain delivers local@alias to local@target (target is a local domain).
  ADD COLUMN alias_of text CHECK (alias_of IS NULL OR alias_of = lower(alias_of)),
  -- Address that receives mail for unknown local parts of this domain.
  ADD COLUMN catch_all text CHECK (catch_all IS NULL OR catch_all = lower(catch_all)),
  ADD COLUMN default_quota_bytes bigint CHECK (default_quota_bytes IS NULL OR default_quota_bytes >= 0),
  ADD COLUMN retention_days integer CHECK (retention_days IS NULL OR retention_days > 0),
  ADD COLUMN spam_action text CHECK (spam_action IS NULL OR spam_action IN ('inbox', 'junk', 'reject')),
  ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- Addresses that forward to other (usually external) addresses through the
-- outbound queue. An address is either an account, an account alias or a forward.
CREATE TABLE address_forwards (
  address text PRIMARY KEY CHECK (address = lower(address)),
  targets text[] NOT NULL CHECK (cardinality(targets) BETWEEN 1 AND 50),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- App passwords: random secrets, so a SHA-256 (keyed by the account id) is
-- enough and lookups are by hash, no scrypt per candidate.
CREATE TABLE app_passwords (
  id serial PRIMARY KEY,
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  secret_hash text NOT NULL,
  -- Subset of imap, pop3, submission, managesieve.
  protocols text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  last_used_ip text,
  revoked_at timestamptz
);
CREATE UNIQUE INDEX app_passwords_live_name ON app_passwords (account_id, name) WHERE revoked_at IS NULL;
CREATE INDEX app_passwords_secret ON app_passwords (account_id, secret_hash) WHERE revoked_at IS NULL;

-- The main password then only serves the admin/web side; mail protocols need an app password.
ALTER TABLE accounts ADD COLUMN require_app_passwords boolean NOT NULL DEFAULT false;
