-- Search, sort and threads (libs/store/src/search/).
--
-- OBJECTID (RFC 8474): every message row gets an EMAILID at insert, which
-- COPY/MOVE carry over (the same message keeps its id), and a THREADID
-- assigned when its search row is written (NULL until then: FETCH answers NIL,
-- which RFC 8474 §5.2 allows). The ADD COLUMN with a volatile default gives
-- every existing row its own id (one table rewrite, once).
CREATE SEQUENCE message_email_id_seq;
ALTER TABLE messages ADD COLUMN email_id bigint NOT NULL DEFAULT nextval('message_email_id_seq');
ALTER TABLE messages ADD COLUMN thread_id bigint;
-- Thread assignment looks up a message's parents by Message-ID.
CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id IS NOT NULL;

-- One row per message once it is indexed (at delivery/APPEND, by COPY from the
-- source's row, or by the backfill): the lower-cased search text (libs/mime
-- search-text.ts) and the SORT/THREAD keys (libs/mime sort-keys.ts). A message
-- without a row, or with complete = false (text cut at the bound), is searched
-- by reading its blob, so answers never depend on the index being done.
-- Expunging a message removes its row; moving INBOX's rows (RENAME INBOX)
-- moves it (the foreign key cascades both).
CREATE TABLE message_search (
  mailbox_id integer NOT NULL,
  uid bigint NOT NULL,
  header text NOT NULL,
  body text NOT NULL,
  attachment_names text[] NOT NULL DEFAULT '{}',
  complete boolean NOT NULL,
  -- RFC 5256 §2.1 base subject and RFC 5051 casemapped address keys.
  base_subject text NOT NULL DEFAULT '',
  reply_or_forward boolean NOT NULL DEFAULT false,
  from_mailbox text NOT NULL DEFAULT '',
  to_mailbox text NOT NULL DEFAULT '',
  cc_mailbox text NOT NULL DEFAULT '',
  display_from text NOT NULL DEFAULT '',
  display_to text NOT NULL DEFAULT '',
  -- Message ids of the References header, in order (RFC 5256 §3).
  refs text[] NOT NULL DEFAULT '{}',
  indexed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mailbox_id, uid),
  FOREIGN KEY (mailbox_id, uid) REFERENCES messages (mailbox_id, uid) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX message_search_incomplete ON message_search (mailbox_id) WHERE NOT complete;
-- THREADID of a parent that arrives after its reply: who references it?
CREATE INDEX message_search_refs ON message_search USING gin (refs);

-- SEARCH is a case-insensitive SUBSTRING match (RFC 9051 §6.4.4), which a word
-- index (tsvector) can't answer; trigram GIN indexes answer LIKE '%x%' (the
-- texts are stored lower-cased); the mailbox filter is applied to the
-- matches. (A two-column GIN with btree_gin's mailbox id was measured: the
-- planner never picks it for a LIKE, 230 ms seq scans instead of 6 ms on 25,000
-- rows.) Where pg_trgm is not installable, no index is made and the LIKE scans
-- the mailbox's rows (still no blob reads).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX message_search_body_trgm ON message_search USING gin (body gin_trgm_ops);
    CREATE INDEX message_search_header_trgm ON message_search USING gin (header gin_trgm_ops);
  END IF;
END
$$;
