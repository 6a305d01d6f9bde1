-- The background search indexer (issue 20, libs/delivery search-indexer.ts):
-- delivery and APPEND no longer write the search row on their ack path; the
-- indexer finds what is unindexed soon after the commit.
--
-- "Unindexed" is `thread_id IS NULL`: the THREADID is set by the very
-- statement that writes the message's search row (search/rows.ts) and copied
-- by COPY/MOVE together with the row, so a message has a THREADID exactly when
-- it has its row (a concurrent COPY may leave a copy with its row and no
-- THREADID: it is indexed again, harmlessly). This partial index is the
-- indexer's queue and SEARCH's "which messages must I scan" list: it holds
-- only the messages waiting (one small btree entry per delivery, gone once
-- indexed), so both questions cost the backlog, not the mailbox.
CREATE INDEX messages_unindexed ON messages (mailbox_id, uid) WHERE thread_id IS NULL;

-- SEARCH BODY for a needle made of word characters only (letters, marks,
-- digits: most searches) matches exactly the messages with a WORD containing
-- it (an occurrence lies inside one maximal run of word characters). So such
-- a search asks the vocabulary which words contain the needle (a trigram LIKE
-- over short strings), then the messages having one of them (GIN over
-- body_words, exact: no body is read). The body's trigram index alone was
-- measured at 16,013 false candidates for 53 matches of a rare word at
-- 100,000 messages (trigrams shared by other words), each rechecked by reading
-- its body: 1.6 s. A row with body_words NULL (written before this migration,
-- or with a word too long to index) is searched by the LIKE over its body
-- through a partial trigram index holding only those rows.
-- The vocabulary only grows: a word whose messages are gone finds nothing.
ALTER TABLE message_search ADD COLUMN body_words text[];
CREATE INDEX message_search_body_words ON message_search USING gin (body_words);
CREATE TABLE search_vocabulary (word text PRIMARY KEY);
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX search_vocabulary_trgm ON search_vocabulary USING gin (word gin_trgm_ops);
    CREATE INDEX message_search_body_unworded_trgm ON message_search USING gin (body gin_trgm_ops)
      WHERE body_words IS NULL;
  END IF;
END
$$;
