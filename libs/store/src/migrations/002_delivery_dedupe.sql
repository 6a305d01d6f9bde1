-- Delivery deduplication (SMTP-in). A crash after the delivery transaction
-- commits and before the client sees 250 makes the client retry; the retry
-- carries the same body, envelope and Message-ID, so its key is the same. The
-- key is inserted in the SAME transaction as the message rows: either both
-- exist or neither does, so a retry is recognised exactly when the first
-- attempt became visible.
CREATE TABLE delivery_dedupe (
  -- sha256 hex over the DATA payload, sender, sorted recipients and Message-ID.
  key text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Pruning of keys older than the window.
CREATE INDEX delivery_dedupe_created ON delivery_dedupe (created_at);
