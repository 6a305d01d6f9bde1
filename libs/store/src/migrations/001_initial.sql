-- Aerogram metadata schema, version 1.
-- Blobs live in the blob store (S3 or filesystem) under their sha256; Postgres
-- holds everything an IMAP/POP3 session needs without touching a blob.

-- Domains we accept mail for: RCPT TO a foreign domain is a relay attempt.
CREATE TABLE domains (
  name text PRIMARY KEY CHECK (name = lower(name))
);

CREATE TABLE accounts (
  id serial PRIMARY KEY,
  -- Addresses are stored lowercased; lookups lowercase their input.
  address text NOT NULL UNIQUE CHECK (address = lower(address)),
  -- "scrypt$N$r$p$salt$hash" (see password.ts).
  password_hash text NOT NULL,
  -- Optional POP3 APOP shared secret: APOP needs a secret the server can read
  -- back, so it is separate from the one-way password hash and off by default.
  pop3_secret text,
  quota_bytes bigint CHECK (quota_bytes IS NULL OR quota_bytes >= 0),
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_aliases (
  address text PRIMARY KEY CHECK (address = lower(address)),
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
);
CREATE INDEX account_aliases_account ON account_aliases (account_id);

-- UIDVALIDITY values come from one global sequence started at the epoch second
-- the schema was created: a mailbox deleted and created again under the same
-- name never reuses a UIDVALIDITY (RFC 9051 §2.3.1.1).
CREATE SEQUENCE mailbox_uidvalidity_seq MINVALUE 1 MAXVALUE 4294967295;
SELECT setval('mailbox_uidvalidity_seq', greatest(1, extract(epoch FROM now())::bigint));

CREATE TABLE mailboxes (
  id serial PRIMARY KEY,
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  -- Full hierarchical name, "/" as delimiter; the inbox is always "INBOX".
  name text NOT NULL,
  -- RFC 6154 special use (\Sent, \Drafts, \Trash, \Junk, \Archive, \All, \Flagged) or NULL.
  special_use text,
  subscribed boolean NOT NULL DEFAULT true,
  uidvalidity bigint NOT NULL DEFAULT nextval('mailbox_uidvalidity_seq'),
  -- Next UID to assign. Only ever grows (UIDs are never reused within a UIDVALIDITY).
  uidnext bigint NOT NULL DEFAULT 1 CHECK (uidnext >= 1),
  -- RFC 7162 HIGHESTMODSEQ; every change to the mailbox's messages bumps it.
  highestmodseq bigint NOT NULL DEFAULT 1,
  -- Messages with uid >= recent_uid are \Recent and not yet claimed by a
  -- session (RFC 3501 §2.3.2: only one session sees a message as recent).
  recent_uid bigint NOT NULL DEFAULT 1,
  -- Counters kept in the same transactions that change messages, so STATUS
  -- and quota checks are one row read.
  message_count integer NOT NULL DEFAULT 0,
  total_size bigint NOT NULL DEFAULT 0,
  -- Keywords ever used in this mailbox (the FLAGS response; RFC 9051 §7.3.5).
  keywords text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, name)
);

CREATE TABLE messages (
  mailbox_id integer NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  uid bigint NOT NULL,
  modseq bigint NOT NULL,
  -- System flags as a bit set: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft.
  flags smallint NOT NULL DEFAULT 0,
  keywords text[] NOT NULL DEFAULT '{}',
  internal_date timestamptz NOT NULL,
  saved_date timestamptz NOT NULL DEFAULT now(),
  -- RFC822.SIZE: octets of the stored blob, which is the message as served.
  size bigint NOT NULL,
  -- sha256 hex of the blob (content addressed: shared by every copy).
  blob_key text NOT NULL,
  -- The MIME index computed once at delivery (libs/mime): IMAP-serialised
  -- ENVELOPE, BODYSTRUCTURE and BODY, and the part tree with byte offsets.
  envelope text,
  body_structure text,
  body text,
  mime jsonb,
  -- Decoded header fields for SEARCH and sorting.
  header_date timestamptz,
  subject text,
  from_addr text,
  to_addr text,
  cc_addr text,
  bcc_addr text,
  message_id text,
  in_reply_to text,
  preview text,
  PRIMARY KEY (mailbox_id, uid)
);
-- "What changed since MODSEQ m" (every IMAP command asks).
CREATE INDEX messages_mailbox_modseq ON messages (mailbox_id, modseq);
-- Blob garbage collection: is any row still pointing at this blob?
CREATE INDEX messages_blob_key ON messages (blob_key);
-- STATUS UNSEEN without a scan of the seen ones.
CREATE INDEX messages_unseen ON messages (mailbox_id, uid) WHERE flags & 1 = 0;

-- The expunge log: what was removed and at which MODSEQ, so a session (or a
-- QRESYNC client, RFC 7162 §3.2.10) learns of expunges since its last MODSEQ.
CREATE TABLE expunged (
  mailbox_id integer NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  uid bigint NOT NULL,
  modseq bigint NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_mailbox_modseq ON expunged (mailbox_id, modseq);
