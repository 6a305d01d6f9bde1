-- Inbound filtering (issue 21): per-account spam settings, Sieve scripts
-- (RFC 5228) with their compiled form, vacation memory (RFC 5230 §4.2),
-- the per-account redirect budget, and the spam-learning outbox.

-- Per-account filtering settings; no row = the defaults.
CREATE TABLE account_filter_settings (
  account_id integer PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  -- Deliver messages rspamd or DMARC would send to Junk into INBOX instead
  -- (they keep their X-Spam-* headers; a rejected message is still rejected).
  spam_to_inbox boolean NOT NULL DEFAULT false
);

-- Sieve scripts as uploaded (ManageSieve PUTSCRIPT, mailctl sieve put) and
-- their compiled form (libs/sieve's JSON tree), parsed once at upload.
CREATE TABLE sieve_scripts (
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  -- RFC 5804 §1.6: script names are UTF-8, no controls; compared exactly.
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 512),
  source text NOT NULL,
  compiled jsonb NOT NULL,
  -- The libs/sieve compiler version that produced `compiled`; an older one is recompiled on load.
  compiler_version integer NOT NULL,
  active boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, name)
);
-- At most one active script per account (RFC 5804 §2.8).
CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts (account_id) WHERE active;

-- Vacation responses sent: one per (account, :handle, sender) per :days (RFC 5230 §4.2).
CREATE TABLE sieve_vacation_sent (
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  handle text NOT NULL,
  sender text NOT NULL CHECK (sender = lower(sender)),
  sent_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, handle, sender)
);

-- Redirects made by an account's scripts per UTC day (the per-account budget).
CREATE TABLE sieve_redirect_budget (
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  day date NOT NULL,
  count integer NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, day)
);

-- Messages a user moved into (spam) or out of (ham) Junk, waiting to be
-- taught to rspamd. One row per (account, blob, kind) ever: learnt at most once.
CREATE TABLE spam_learn_outbox (
  id bigserial PRIMARY KEY,
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  blob_key text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('spam', 'ham')),
  created_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz,
  last_error text,
  UNIQUE (account_id, blob_key, kind)
);
CREATE INDEX spam_learn_outbox_due ON spam_learn_outbox (next_attempt_at) WHERE done_at IS NULL;
