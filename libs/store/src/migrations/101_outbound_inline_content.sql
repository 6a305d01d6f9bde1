-- Issue 19: one durable flush per submitted message. A small message for
-- remote recipients only is kept in its queue rows (content) instead of the
-- blob store, so PostgreSQL's commit is the only flush before the 250: on a
-- filesystem blob store the put cost a file fsync and a directory fsync
-- (about 33 ms of wall time per message on the bench machine) on top of the
-- commit. Larger messages (SUBMISSION_INLINE_QUEUE_MAX_BYTES) and messages
-- with local recipients keep the content-addressed blob. A row has exactly
-- one of the two.
ALTER TABLE outbound_queue ALTER COLUMN blob_key DROP NOT NULL;
ALTER TABLE outbound_queue ADD COLUMN content bytea;
ALTER TABLE outbound_queue
  ADD CONSTRAINT outbound_queue_content_or_blob CHECK ((blob_key IS NULL) <> (content IS NULL));

-- A deleted row without a blob releases nothing (blob_reclaim_queue's key
-- cannot be NULL). Same function as 030's otherwise; messages rows always
-- have a blob_key, so the filter changes nothing for them.
CREATE OR REPLACE FUNCTION blob_refs_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO blob_reclaim_queue (blob_key, size, released_at)
  SELECT blob_key, max(size), now() FROM released WHERE blob_key IS NOT NULL GROUP BY blob_key ORDER BY blob_key
  ON CONFLICT (blob_key) DO UPDATE
    SET released_at = greatest(blob_reclaim_queue.released_at, excluded.released_at), horizon = NULL
    WHERE blob_reclaim_queue.state = 'pending';
  RETURN NULL;
END
$$;
