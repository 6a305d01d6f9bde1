-- IMAP subscriptions of names that are not (or no longer) mailboxes: RFC 9051
-- §6.3.7 lets a client subscribe a name that doesn't exist, and DELETE leaves a
-- subscription in place (§6.3.5). A mailbox's own subscription stays in
-- mailboxes.subscribed; this table holds only the names without a mailbox.
CREATE TABLE imap_orphan_subscriptions (
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name text NOT NULL,
  PRIMARY KEY (account_id, name)
);
