-- Issue 19, second part: the sender policy per account and per domain, and
-- the DSN requests (RFC 3461) a queued message carries.

-- Who a submitting account may send as (services/submission sender-policy.ts):
-- 'account' (its address and aliases), 'domain' (any address of those
-- domains) or 'any'. An account's own row wins over its domain's, which wins
-- over SUBMISSION_SENDER_POLICY. Domains are keyed by name, not by a foreign
-- key: the domains table is another branch's, and a policy may be set before
-- the domain exists.
CREATE TABLE sender_policy_accounts (
  account_id integer PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  policy text NOT NULL CHECK (policy IN ('account', 'domain', 'any'))
);
CREATE TABLE sender_policy_domains (
  domain text PRIMARY KEY CHECK (domain = lower(domain)),
  policy text NOT NULL CHECK (policy IN ('account', 'domain', 'any'))
);

-- RFC 3461 per message: RET (FULL: the DSN returns the whole message; HDRS:
-- its headers) and ENVID (echoed as Original-Envelope-Id).
ALTER TABLE outbound_queue ADD COLUMN dsn_ret text CHECK (dsn_ret IN ('FULL', 'HDRS'));
ALTER TABLE outbound_queue ADD COLUMN dsn_envid text;
-- RFC 3461 per recipient, only for recipients that gave NOTIFY or ORCPT:
-- {"<recipient as queued, lower case>": {"notify": ["SUCCESS", ...], "orcpt": "rfc822;..."}}.
ALTER TABLE outbound_queue ADD COLUMN recipient_dsn jsonb NOT NULL DEFAULT '{}';
-- Recipients already sent a delay notice (RFC 3464 Action: delayed), so each gets at most one.
ALTER TABLE outbound_queue ADD COLUMN delay_notified text[] NOT NULL DEFAULT '{}';
