-- Storage lifecycle (issue 22): blobs freed without listing the bucket, and
-- retention rules for auto-expunge.

-- Blobs whose last reference may have gone. A row is written by the triggers
-- below in the SAME transaction that deletes a message row or an outbound
-- queue row (expunge, MOVE's source, account or mailbox deletion through the
-- cascades, a delivered/bounced outbound entry), and by libs/delivery when a
-- stored blob ends up unused (a failed or deduplicated delivery). The
-- reclaimer (libs/delivery blob-reclaimer.ts, libs/store blobs/reclaim.ts)
-- takes due rows with FOR UPDATE SKIP LOCKED, re-checks references, deletes
-- the object while it holds the row lock and leaves a 'deleted' tombstone;
-- nothing ever lists the bucket.
--
-- Why the tombstone: a delivery stores its blob BEFORE the transaction that
-- references it. If the reclaimer deleted that content in between, the
-- delivery's insert finds the tombstone (blob_refs_taken) and fails with
-- SQLSTATE AGB01, so the delivery retries or answers a temporary failure;
-- it never commits a row pointing at a deleted blob. A tombstone goes when
-- the content is stored anew (libs/delivery storeBlob) or after one grace
-- period (BLOB_RECLAIM_GRACE).
CREATE TABLE blob_reclaim_queue (
  blob_key text PRIMARY KEY,
  -- Octets (for the pending/reclaimed metrics; 0 when unknown).
  size bigint NOT NULL DEFAULT 0,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'deleted')),
  -- When the last reference was seen going; the reclaimer waits a grace
  -- period after it, so a delivery in flight (blob stored, rows not yet
  -- committed) gets its rows in first.
  released_at timestamptz NOT NULL DEFAULT now(),
  -- The transaction horizon (pg_snapshot_xmax) the reclaimer saw after the
  -- release was committed; NULL until it looks. The entry is reclaimed only
  -- once every transaction below it has ended: a delivery whose insert ran
  -- before the release was visible (so it cancelled nothing) has then
  -- committed, and the reference check sees its row. No clock involved.
  horizon bigint,
  deleted_at timestamptz
);
CREATE INDEX blob_reclaim_queue_due ON blob_reclaim_queue (released_at) WHERE state = 'pending';
CREATE INDEX blob_reclaim_queue_tombstones ON blob_reclaim_queue (deleted_at) WHERE state = 'deleted';

-- Statement-level with a transition table: one INSERT per DELETE statement,
-- however many rows it removes (an account deletion cascades through all its
-- messages). Keys in order, so concurrent expunges lock queue rows in one
-- order. A tombstone stays a tombstone (its blob is already gone).
CREATE FUNCTION blob_refs_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO blob_reclaim_queue (blob_key, size, released_at)
  SELECT blob_key, max(size), now() FROM released GROUP BY blob_key ORDER BY blob_key
  ON CONFLICT (blob_key) DO UPDATE
    SET released_at = greatest(blob_reclaim_queue.released_at, excluded.released_at), horizon = NULL
    WHERE blob_reclaim_queue.state = 'pending';
  RETURN NULL;
END
$$;

CREATE TRIGGER messages_blob_released AFTER DELETE ON messages
  REFERENCING OLD TABLE AS released FOR EACH STATEMENT EXECUTE FUNCTION blob_refs_released();
CREATE TRIGGER outbound_blob_released AFTER DELETE ON outbound_queue
  REFERENCING OLD TABLE AS released FOR EACH STATEMENT EXECUTE FUNCTION blob_refs_released();

-- A new reference cancels a pending deletion (the row is deleted under its
-- lock, so this waits for a reclaimer holding it), and a tombstone means the
-- content was deleted after this writer may have stored it: fail, never
-- commit a row pointing at a deleted blob.
CREATE FUNCTION blob_refs_taken() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  reclaimed text;
BEGIN
  WITH gone AS (
    DELETE FROM blob_reclaim_queue q
     USING (SELECT DISTINCT blob_key FROM taken) t
     WHERE q.blob_key = t.blob_key
    RETURNING q.blob_key, q.state
  )
  SELECT blob_key INTO reclaimed FROM gone WHERE state = 'deleted' LIMIT 1;
  IF reclaimed IS NOT NULL THEN
    RAISE EXCEPTION 'blob % was reclaimed after it was stored; store it again', reclaimed
      USING ERRCODE = 'AGB01', DETAIL = reclaimed;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER messages_blob_taken AFTER INSERT ON messages
  REFERENCING NEW TABLE AS taken FOR EACH STATEMENT EXECUTE FUNCTION blob_refs_taken();
CREATE TRIGGER outbound_blob_taken AFTER INSERT ON outbound_queue
  REFERENCING NEW TABLE AS taken FOR EACH STATEMENT EXECUTE FUNCTION blob_refs_taken();

-- The full-listing audit (mailctl gc) remembers where it stopped, so a run
-- over billions of keys resumes instead of starting over.
CREATE TABLE blob_audit_progress (
  id text PRIMARY KEY,
  -- The last key examined (keys are listed in lexicographic order).
  after_key text,
  scanned bigint NOT NULL DEFAULT 0,
  deleted bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Retention: messages in a mailbox older than `days` (by the date they were
-- saved into it) are expunged by the retention worker. A rule names a mailbox
-- by its special use ('\Trash', '\Junk') or by its name ('Spam'), and belongs
-- either to an account or to a domain (a default for the domain's accounts,
-- keyed by the domain's NAME so it does not depend on how domains are stored).
-- Precedence: account rule, then domain rule, then the global default from
-- configuration (RETENTION_DEFAULTS). days = 0 keeps mail forever (an account
-- opting out of its domain's default).
CREATE TABLE retention_rules (
  account_id integer REFERENCES accounts (id) ON DELETE CASCADE,
  domain text CHECK (domain = lower(domain)),
  mailbox text NOT NULL,
  days integer NOT NULL CHECK (days >= 0),
  CHECK ((account_id IS NULL) <> (domain IS NULL)),
  UNIQUE NULLS NOT DISTINCT (account_id, domain, mailbox)
);

-- IMAP migration state (mailctl migrate): per source folder, the UIDVALIDITY
-- and the highest UID copied, so a second run copies only what is new.
CREATE TABLE migration_folders (
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  source text NOT NULL,
  folder text NOT NULL,
  uidvalidity bigint NOT NULL,
  last_uid bigint NOT NULL DEFAULT 0,
  -- source UID -> our UID, for flag synchronisation on later runs.
  uid_map jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, source, folder)
);
