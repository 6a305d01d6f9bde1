-- POP3 sizes (services/pop3). LIST and STAT must report the octets RETR sends,
-- which is the stored message with every bare LF turned into CRLF (RFC 1939
-- requires CRLF). That depends only on the blob's content, so it is kept per
-- content-addressed blob: computed once by the first POP3 session that lists
-- the message and shared by every copy and every later session.
CREATE TABLE pop3_blob_sizes (
  blob_key text PRIMARY KEY,
  crlf_size bigint NOT NULL CHECK (crlf_size >= 0)
);
