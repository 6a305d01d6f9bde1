-- Per-user \Seen on shared mailboxes (issue 24), as Dovecot's INDEXPVT and
-- Cyrus's per-user seen state: the owner of a mailbox keeps the real flag
-- (messages.flags bit 1); every other reader has its own, here, unless the
-- mailbox says \Seen is common to all (seen_shared).
ALTER TABLE mailboxes ADD COLUMN seen_shared boolean NOT NULL DEFAULT false;

-- One row per (message, reader) the reader ever changed: `seen` is its flag,
-- `modseq` the mailbox MODSEQ its last change took. No row = not seen. A row
-- that goes back to unseen stays (seen = false) so that CHANGEDSINCE and the
-- reader's other sessions learn of the change (RFC 7162 §3.1: a change of a
-- message's metadata gives it a new MODSEQ). The MODSEQ comes from the
-- mailbox's one counter (mailboxes.highestmodseq), so a reader's effective
-- MODSEQ of a message is greatest(messages.modseq, mailbox_seen.modseq) on the
-- same scale; other readers see HIGHESTMODSEQ move with nothing changed for
-- them, as after an expunge they never saw.
--
-- Size: rows ~ messages a reader has touched × readers (Dovecot's private
-- index is one record per message per reader too). An expunge removes the
-- message's rows (the foreign key); deleting the reader removes its rows.
CREATE TABLE mailbox_seen (
  mailbox_id integer NOT NULL,
  uid bigint NOT NULL,
  account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  seen boolean NOT NULL,
  modseq bigint NOT NULL,
  PRIMARY KEY (mailbox_id, uid, account_id),
  FOREIGN KEY (mailbox_id, uid) REFERENCES messages (mailbox_id, uid) ON DELETE CASCADE
);
-- A reader's changes since MODSEQ m (every sync of its session asks), its seen
-- set (SELECT, SEARCH, STATUS UNSEEN), and the cascade when the reader goes.
CREATE INDEX mailbox_seen_reader ON mailbox_seen (account_id, mailbox_id, modseq);

-- Negative rights (RFC 4314 §2): an identifier "-<identifier>" takes rights
-- away from what the positive entries give ("-anyone" from everyone). Such a
-- row names its account like a positive one (deleted with it).
ALTER TABLE mailbox_acl DROP CONSTRAINT mailbox_acl_check;
ALTER TABLE mailbox_acl ADD CONSTRAINT mailbox_acl_check
  CHECK ((grantee_id IS NULL) = (ltrim(identifier, '-') IN ('anyone', 'authenticated')));
