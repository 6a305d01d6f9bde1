-- Mailbox access control lists (RFC 4314) for shared mailboxes.
--
-- One row per (mailbox, identifier). The owner of a mailbox has every right
-- implicitly (RFC 4314 §2: a right may be always granted to an identifier) and
-- has no row here. `identifier` is what GETACL shows: "anyone",
-- "authenticated", or an account's address; for an account `grantee_id` is set
-- so that deleting the grantee deletes its grants (and a later account that
-- takes the same address never inherits them). Deleting the owner deletes its
-- mailboxes and, through them, every grant on them.
CREATE TABLE mailbox_acl (
  mailbox_id integer NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  identifier text NOT NULL,
  grantee_id integer REFERENCES accounts (id) ON DELETE CASCADE,
  -- The standard rights in canonical order, never empty (an empty grant is deleted).
  rights text NOT NULL CHECK (rights ~ '^l?r?s?w?i?p?k?x?t?e?a?$' AND rights <> ''),
  PRIMARY KEY (mailbox_id, identifier),
  CHECK ((grantee_id IS NULL) = (identifier IN ('anyone', 'authenticated')))
);
-- "Which mailboxes of others may this account see?" (LIST, NAMESPACE's tree).
CREATE INDEX mailbox_acl_grantee ON mailbox_acl (grantee_id) WHERE grantee_id IS NOT NULL;
CREATE INDEX mailbox_acl_everyone ON mailbox_acl (mailbox_id) WHERE grantee_id IS NULL;
