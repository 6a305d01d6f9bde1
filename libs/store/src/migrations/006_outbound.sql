-- Outbound mail (issue 19): the durable queue of submitted messages for
-- remote domains, and the per-domain DKIM signing keys.

-- One row per (message, recipient domain): a domain's recipients go out in one
-- SMTP transaction to that domain's MX. The row is committed before the
-- submission client gets its 250, and deleted once the domain's recipients are
-- all delivered or bounced; the blob is shared by the rows of one message.
CREATE TABLE outbound_queue (
  id bigserial PRIMARY KEY,
  blob_key text NOT NULL,
  size bigint NOT NULL,
  -- MAIL FROM as submitted; '' is the null reverse-path (never bounced).
  sender text NOT NULL,
  -- The submitting account, whose INBOX receives bounces; NULL: no bounce.
  sender_account_id integer REFERENCES accounts (id) ON DELETE SET NULL,
  -- The Message-ID header, for logs, DSNs and the chaos test's accounting.
  message_id text,
  -- The message has octets above 127: it goes only to servers offering 8BITMIME (RFC 6152).
  eight_bit boolean NOT NULL DEFAULT false,
  domain text NOT NULL CHECK (domain = lower(domain)),
  -- Recipients still to deliver (each one's address as given in RCPT TO).
  recipients text[] NOT NULL CHECK (cardinality(recipients) > 0),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- Past this the entry is bounced as expired (RFC 5321 §4.5.4.1: 4-5 days).
  expires_at timestamptz NOT NULL,
  -- The worker holding the entry and until when; another worker may take it
  -- only after lease_until (a killed worker's entries come back by themselves).
  lease_owner text,
  lease_until timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_queue_due ON outbound_queue (next_attempt_at);
CREATE INDEX outbound_queue_blob ON outbound_queue (blob_key);

-- DKIM keys (RFC 6376), several selectors per domain for rotation; the newest
-- active one signs. The private key is stored encrypted (libs/dkim).
CREATE TABLE dkim_keys (
  domain text NOT NULL CHECK (domain = lower(domain)),
  selector text NOT NULL,
  algorithm text NOT NULL CHECK (algorithm IN ('ed25519', 'rsa')),
  private_key_encrypted text NOT NULL,
  -- The p= value of the DNS TXT record.
  public_key text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain, selector)
);
