// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} in these strings is Sieve's variable syntax (RFC 5229)
/**
 * The conformance corpus: scripts × messages, each run through libs/sieve and
 * through Pigeonhole's sieve-test (Debian dovecot-sieve), whose actions must
 * agree (pigeonhole.test.ts). Scripts cover every extension we implement;
 * messages cover encodings, multipart bodies, lists and sub-addresses.
 */

export interface CorpusMessage {
  name: string;
  from: string;
  to: string;
  raw: string;
}

const crlf = (lines: string[]) => `${lines.join("\r\n")}\r\n`;

export const MESSAGES: CorpusMessage[] = [
  {
    name: "plain",
    from: "bob@example.org",
    to: "alice@example.com",
    raw: crlf([
      "Return-Path: <bob@example.org>",
      "From: Bob Example <bob@example.org>",
      "To: alice@example.com",
      "Subject: free money now",
      "Message-ID: <m1@example.org>",
      "Date: Mon, 07 Dec 2026 10:00:00 +0000",
      "X-Spam-Score: 7",
      "",
      "Hello Alice,",
      "this is about the money.",
    ]),
  },
  {
    name: "multipart-encoded",
    from: "list-bounces@lists.example.net",
    to: "alice@example.com",
    raw: crlf([
      "From: =?UTF-8?B?Q2FtaWxsZSBEdXBvbnQ=?= <camille@example.fr>",
      "To: team@lists.example.net",
      "Cc: Alice <alice@example.com>, dave@example.com",
      "Subject: =?UTF-8?Q?R=C3=A9union_d=27=C3=A9quipe?=",
      "List-Id: Team <team.lists.example.net>",
      "Precedence: list",
      "Message-ID: <m2@example.fr>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/alternative; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "Caf=C3=A9 meeting at noon, agenda attached.",
      "--b1",
      "Content-Type: text/html; charset=utf-8",
      "",
      "<p>Caf&eacute; <b>meeting</b></p>",
      "--b1--",
    ]),
  },
  {
    name: "subaddress",
    from: "shop@store.example.com",
    to: "alice+orders@example.com",
    raw: crlf([
      "From: Store <shop@store.example.com>",
      "To: alice+orders@example.com",
      "Subject: Your order 12345 has shipped",
      "X-Priority: 2",
      "X-Count: 42",
      "Message-ID: <m3@store.example.com>",
      "",
      "Order 12345 shipped.",
      ...Array.from({ length: 40 }, (_, i) => `line ${i} of a longer body to pass a size threshold.`),
    ]),
  },
  {
    name: "no-subject",
    from: "carol@sub.example.net",
    to: "alice@example.com",
    raw: crlf([
      "Received: from a by b; Mon, 07 Dec 2026 10:00:00 +0000",
      "Received: from c by d; Mon, 07 Dec 2026 09:00:00 +0000",
      "From: carol@sub.example.net",
      "To: Alice <ALICE@EXAMPLE.COM>",
      "Message-ID: <m4@sub.example.net>",
      "",
      "no subject here",
    ]),
  },
  {
    name: "bounce",
    // sieve-test can't take the null reverse-path (-f ""/"<>" are refused); the unit tests cover <>.
    from: "MAILER-DAEMON@mx.example.org",
    to: "alice@example.com",
    raw: crlf([
      "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>",
      "To: alice@example.com",
      "Subject: Undelivered Mail Returned to Sender",
      "Auto-Submitted: auto-replied",
      "Message-ID: <m5@mx.example.org>",
      "",
      "This is the mail system.",
    ]),
  },
  {
    name: "nested-multipart",
    from: "erin@example.org",
    to: "alice+lists@example.com",
    raw: crlf([
      'From: "Erin, the boss" <erin@example.org>, frank@example.net',
      "To: undisclosed-recipients:;",
      'Cc: "Alice A." <alice+lists@example.com>',
      "Subject: Quarterly report [Q3] *final*",
      "X-Spam-Score: 12",
      "X-Spam-Score: 3",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="outer"',
      "",
      "preamble",
      "--outer",
      'Content-Type: multipart/alternative; boundary="inner"',
      "",
      "--inner",
      "Content-Type: text/plain; charset=iso-8859-1",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "Bonjour, le r=E9sultat est pr=EAt.",
      "--inner",
      "Content-Type: text/html",
      "",
      "<html><body>Bonjour</body></html>",
      "--inner--",
      "--outer",
      "Content-Type: application/pdf",
      "Content-Transfer-Encoding: base64",
      "",
      "JVBERi0xLjQKJcfs",
      "--outer--",
    ]),
  },
  {
    name: "raw-8bit-folded",
    from: "gil@example.org",
    to: "alice@example.com",
    raw: crlf([
      "From: Gil Müller <gil@example.org>",
      "To: alice@example.com,",
      "  bob@example.com",
      "Subject: a folded",
      "  subject about money and",
      "\tthe order",
      "X-Empty:",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "Grüße, café ☕",
    ]),
  },
];

export const SCRIPTS: { name: string; script: string }[] = [
  { name: "empty", script: "" },
  { name: "keep", script: "keep;" },
  { name: "discard", script: "discard;" },
  { name: "stop-before-fileinto", script: 'require "fileinto";\nstop;\nfileinto "X";' },
  {
    name: "header-contains",
    script: 'require "fileinto";\nif header :contains "subject" "money" { fileinto "Spam"; }',
  },
  {
    name: "header-is-case",
    script:
      'require "fileinto";\nif header :is "Subject" "FREE MONEY NOW" { fileinto "Caps"; } else { fileinto "Other"; }',
  },
  {
    name: "header-octet",
    script:
      'require "fileinto";\nif header :is :comparator "i;octet" "Subject" "FREE MONEY NOW" { fileinto "Caps"; } else { fileinto "Other"; }',
  },
  {
    name: "header-encoded",
    script: 'require "fileinto";\nif header :contains "subject" "Réunion" { fileinto "Meetings"; }',
  },
  {
    name: "matches-glob",
    script: 'require "fileinto";\nif header :matches "subject" "*order ?????*" { fileinto "Orders"; }',
  },
  {
    name: "address-domain",
    script:
      'require "fileinto";\nif address :domain :is "from" "example.org" { fileinto "Org"; } elsif address :domain :contains "from" "example" { fileinto "Example"; }',
  },
  {
    name: "address-localpart-cc",
    script: 'require "fileinto";\nif address :localpart :is ["to","cc"] "alice" { fileinto "ToMe"; }',
  },
  {
    name: "address-all-case",
    script: 'require "fileinto";\nif address :all :is "to" "alice@example.com" { fileinto "Direct"; }',
  },
  {
    name: "envelope-from",
    script:
      'require ["envelope","fileinto"];\nif envelope :is "from" "" { fileinto "Bounces"; } elsif envelope :domain :is "from" "example.org" { fileinto "OrgEnv"; }',
  },
  {
    name: "subaddress-detail",
    script:
      'require ["envelope","fileinto","subaddress"];\nif envelope :detail "to" "orders" { fileinto "Orders"; } elsif envelope :user "to" "alice" { fileinto "Plain"; }',
  },
  {
    name: "subaddress-variables",
    script:
      'require ["envelope","fileinto","subaddress","variables","mailbox"];\nif envelope :matches :detail "to" "*" { fileinto :create "plus/${1}"; }',
  },
  { name: "exists", script: 'require "fileinto";\nif exists ["List-Id"] { fileinto "Lists"; }' },
  {
    name: "exists-all",
    script:
      'require "fileinto";\nif exists ["From","Subject","X-Missing"] { fileinto "All"; } else { fileinto "NotAll"; }',
  },
  {
    name: "size",
    script:
      'require "fileinto";\nif size :over 1K { fileinto "Big"; } elsif size :under 300 { fileinto "Tiny"; }',
  },
  {
    name: "allof-anyof-not",
    script:
      'require "fileinto";\nif allof (not exists "List-Id", anyof (header :contains "subject" "order", address :is "from" "bob@example.org")) { fileinto "Match"; }',
  },
  {
    name: "imap4flags",
    script:
      'require ["imap4flags"];\naddflag "\\\\Flagged";\naddflag ["$Work", "\\\\Seen"];\nremoveflag "\\\\Seen";\nkeep;',
  },
  {
    name: "imap4flags-fileinto",
    script:
      'require ["imap4flags","fileinto"];\nif header :contains "subject" "money" { setflag "\\\\Flagged"; fileinto :flags "$Junk" "Spam"; } else { addflag "$Seen"; }',
  },
  {
    name: "hasflag",
    script:
      'require ["imap4flags","fileinto"];\naddflag "\\\\Flagged";\nif hasflag :contains "flagged" { fileinto "Flagged"; }',
  },
  {
    name: "body-text",
    script:
      'require ["body","fileinto"];\nif body :text :contains "café" { fileinto "Cafe"; } elsif body :contains "money" { fileinto "Money"; }',
  },
  {
    name: "body-content-html",
    script: 'require ["body","fileinto"];\nif body :content "text/html" :contains "<b>" { fileinto "Html"; }',
  },
  {
    name: "body-raw",
    script: 'require ["body","fileinto"];\nif body :raw :contains "=C3=A9" { fileinto "RawQP"; }',
  },
  {
    name: "variables-set",
    script:
      'require ["variables","fileinto","mailbox"];\nset :lower "dom" "EXAMPLE";\nset :upperfirst "box" "archive";\nif address :domain :contains "from" "${dom}" { fileinto :create "${box}/${dom}"; }',
  },
  {
    name: "variables-match",
    script:
      'require ["variables","fileinto","mailbox"];\nif header :matches "from" "* <*@*>" { fileinto :create "from/${3}"; }',
  },
  {
    name: "string-test",
    script:
      'require ["variables","fileinto"];\nset "x" "abc";\nif string :is "${x}" "abc" { fileinto "Str"; }',
  },
  {
    name: "relational-value",
    script:
      'require ["relational","comparator-i;ascii-numeric","fileinto"];\nif header :value "ge" :comparator "i;ascii-numeric" "X-Spam-Score" "5" { fileinto "Spam"; }',
  },
  {
    name: "relational-count",
    script:
      'require ["relational","comparator-i;ascii-numeric","fileinto"];\nif header :count "ge" :comparator "i;ascii-numeric" "Received" "2" { fileinto "Relayed"; }',
  },
  {
    name: "relational-count-addresses",
    script:
      'require ["relational","comparator-i;ascii-numeric","fileinto"];\nif address :count "gt" :comparator "i;ascii-numeric" ["to","cc"] "1" { fileinto "Many"; }',
  },
  {
    name: "copy",
    script: 'require ["copy","fileinto"];\nfileinto :copy "Archive";\nredirect :copy "backup@example.net";',
  },
  { name: "redirect", script: 'redirect "other@example.net";' },
  {
    name: "redirect-twice",
    script: 'redirect "a@example.net";\nredirect "a@example.net";\nredirect "b@example.net";',
  },
  {
    name: "reject",
    script: 'require "reject";\nif header :contains "subject" "money" { reject "No spam please"; }',
  },
  {
    name: "vacation",
    script:
      'require "vacation";\nif not header :contains "subject" "order" { vacation :days 3 :subject "Away" "I am away until Monday."; }',
  },
  {
    name: "fileinto-twice",
    script: 'require "fileinto";\nfileinto "A";\nfileinto "A";\nfileinto "B";',
  },
  {
    name: "text-multiline",
    script: 'require "fileinto";\nif header :contains "subject" text:\nmoney\n.\n{ fileinto "Multi"; }',
  },
  {
    name: "comments",
    script: '# a comment\nrequire "fileinto"; /* block\ncomment */\nif true { fileinto "C"; }',
  },
  {
    name: "escaped-matches",
    script:
      'require "fileinto";\nif header :matches "subject" "*\\\\?*" { fileinto "Q"; } elsif header :matches "subject" "free*" { fileinto "F"; }',
  },
  // Scripts both must refuse at compile time.
  { name: "bad-missing-require", script: 'fileinto "X";' },
  { name: "bad-unknown-command", script: "frobnicate;" },
  { name: "bad-unknown-test", script: "if frob { keep; }" },
  { name: "bad-missing-semicolon", script: "keep\ndiscard;" },
  { name: "bad-unterminated-string", script: 'require "fileinto";\nfileinto "X;' },
  { name: "bad-else-without-if", script: "else { keep; }" },
  { name: "bad-require-late", script: 'keep;\nrequire "fileinto";' },
  { name: "bad-unknown-extension", script: 'require "x-nonexistent";' },
  { name: "bad-size-no-tag", script: "if size 100 { keep; }" },
  { name: "bad-header-arity", script: 'if header "subject" { keep; }' },
  { name: "bad-unclosed-block", script: "if true { keep;" },
  { name: "bad-copy-without-require", script: 'redirect :copy "a@example.net";' },
  { name: "bad-relational-without-require", script: 'if header :value "gt" "x" "1" { keep; }' },
  { name: "bad-two-match-types", script: 'if header :is :contains "subject" "x" { keep; }' },
  { name: "bad-unterminated-comment", script: "/* never ends\nkeep;" },
  { name: "bad-flags-without-require", script: 'keep :flags "x";' },
  // More semantics: several senders, groups, repeated headers, matches with many wildcards.
  {
    name: "address-multiple-from",
    script: 'require "fileinto";\nif address :is "from" "frank@example.net" { fileinto "Frank"; }',
  },
  {
    name: "header-repeated-value",
    script:
      'require ["relational","comparator-i;ascii-numeric","fileinto"];\nif header :value "lt" :comparator "i;ascii-numeric" "X-Spam-Score" "5" { fileinto "SomeLow"; }',
  },
  {
    name: "header-count-repeated",
    script:
      'require ["relational","comparator-i;ascii-numeric","fileinto"];\nif header :count "eq" :comparator "i;ascii-numeric" "X-Spam-Score" "2" { fileinto "Two"; }',
  },
  {
    name: "matches-brackets-star",
    script: 'require "fileinto";\nif header :matches "subject" "*[Q?]*\\**" { fileinto "Bracket"; }',
  },
  {
    name: "matches-captures-many",
    script:
      'require ["fileinto","variables","mailbox"];\nif header :matches "subject" "* * *" { fileinto :create "c/${1}/${2}"; }',
  },
  {
    name: "body-nested-text",
    script: 'require ["body","fileinto"];\nif body :text :contains "résultat" { fileinto "Fr"; }',
  },
  {
    name: "body-content-multipart",
    script:
      'require ["body","fileinto"];\nif body :content "application/pdf" :contains "PDF" { fileinto "Pdf"; }',
  },
  {
    name: "body-content-text-type",
    script:
      'require ["body","fileinto"];\nif body :content "text" :contains "Bonjour" { fileinto "AnyText"; }',
  },
  {
    name: "envelope-detail-star",
    script:
      'require ["envelope","subaddress","fileinto","variables","mailbox"];\nif envelope :matches :user "to" "*" { fileinto :create "u/${1}"; }',
  },
  {
    name: "address-detail-header",
    script:
      'require ["subaddress","fileinto"];\nif address :detail ["to","cc"] "lists" { fileinto "ListsTag"; }',
  },
  {
    name: "exists-case",
    script: 'require "fileinto";\nif exists "x-spam-score" { fileinto "HasScore"; }',
  },
  {
    name: "not-allof",
    script:
      'require "fileinto";\nif not allof (exists "Cc", header :contains "subject" "report") { fileinto "NotBoth"; } else { fileinto "Both"; }',
  },
  {
    name: "set-length-modifiers",
    script:
      'require ["variables","fileinto","mailbox"];\nset :length "n" "abcdef";\nset :upper "u" "mixed Case";\nfileinto :create "${n}-${u}";',
  },
  {
    name: "string-matches-empty",
    script: 'require ["variables","fileinto"];\nif string :matches "${undefined}" "" { fileinto "Empty"; }',
  },
  {
    name: "keep-with-flags-then-stop",
    script: 'require ["imap4flags"];\nkeep :flags ["\\\\Answered"];\nstop;\ndiscard;',
  },
  {
    name: "discard-then-keep",
    script: "discard;\nkeep;",
  },
  {
    name: "fileinto-inbox",
    script: 'require "fileinto";\nfileinto "INBOX";',
  },
  {
    name: "removeflag-all",
    script: 'require "imap4flags";\nsetflag ["a", "b"];\nremoveflag "a b";\naddflag "c";',
  },
  {
    name: "value-string-compare",
    script:
      'require ["relational","fileinto"];\nif header :value "gt" "subject" "M" { fileinto "AfterM"; } else { fileinto "BeforeM"; }',
  },
  {
    name: "size-exact",
    script: 'require "fileinto";\nif size :over 0 { fileinto "NonEmpty"; }',
  },
  { name: "bad-elsif-after-else", script: "if true { keep; } else { keep; } elsif true { keep; }" },
  { name: "bad-vacation-days-string", script: 'require "vacation";\nvacation :days "3" "x";' },
  { name: "bad-set-one-arg", script: 'require "variables";\nset "x";' },
  { name: "bad-body-without-require", script: 'if body :contains "x" { keep; }' },
  {
    name: "header-empty-value",
    script: 'require "fileinto";\nif header :is "X-Empty" "" { fileinto "EmptyHdr"; }',
  },
  {
    name: "header-folded",
    script:
      'require "fileinto";\nif header :contains "subject" "money and the" { fileinto "Spaces"; } elsif header :matches "subject" "a folded*order" { fileinto "Folded"; }',
  },
  {
    name: "header-8bit",
    script: 'require "fileinto";\nif header :contains "from" "Müller" { fileinto "Umlaut"; }',
  },
  {
    name: "address-8bit-name",
    script: 'require "fileinto";\nif address :domain "from" "example.org" { fileinto "OrgDomain"; }',
  },
  {
    name: "body-8bit",
    script: 'require ["body","fileinto"];\nif body :contains "☕" { fileinto "Coffee"; }',
  },
  // RFC 5260 date and index.
  {
    name: "date-year",
    script:
      'require ["date","fileinto","variables","mailbox"];\nif date :matches "date" "year" "*" { fileinto :create "y/${1}"; }',
  },
  {
    name: "date-originalzone-parts",
    script:
      'require ["date","fileinto","variables","mailbox"];\nif date :originalzone :matches "date" "iso8601" "*" { set "a" "${1}"; }\nif date :originalzone :matches "date" "std11" "*" { set "b" "${1}"; }\nif date :originalzone :matches "date" "julian" "*" { set "c" "${1}"; }\nif date :originalzone :matches "date" "weekday" "*" { set "d" "${1}"; }\nif date :originalzone :matches "date" "zone" "*" { set "e" "${1}"; }\nfileinto :create "${a}|${b}|${c}|${d}|${e}";',
  },
  {
    name: "date-zone",
    script:
      'require ["date","fileinto","variables","mailbox"];\nif date :zone "+0530" :matches "date" "time" "*" { fileinto :create "t/${1}"; }',
  },
  {
    name: "date-received",
    script:
      'require ["date","fileinto","variables","mailbox"];\nif date :originalzone :matches "received" "hour" "*" { fileinto :create "r/${1}"; }',
  },
  {
    name: "date-value",
    script:
      'require ["date","relational","fileinto"];\nif date :value "ge" "date" "date" "2026-01-01" { fileinto "Recent"; } elsif exists "date" { fileinto "Old"; }',
  },
  {
    name: "date-unknown-part",
    script:
      'require ["date","fileinto"];\nif date "date" "fortnight" "x" { fileinto "Never"; } else { fileinto "Else"; }',
  },
  {
    name: "currentdate",
    script:
      'require ["date","relational","fileinto"];\nif currentdate :value "ge" "date" "2020-01-01" { fileinto "Now"; }\nif currentdate :zone "+0000" :matches "year" "20*" { fileinto "Century"; }',
  },
  {
    name: "index-header",
    script:
      'require ["index","fileinto"];\nif header :index 2 :contains "received" "c by d" { fileinto "Second"; }\nif header :index 1 :last :contains "received" "c by d" { fileinto "LastIsSecond"; }',
  },
  {
    name: "index-address",
    script:
      'require ["index","fileinto"];\nif address :index 1 :last :localpart "to" "bob" { fileinto "LastTo"; }\nif address :index 2 :all "from" "frank@example.net" { fileinto "SecondFromField"; }',
  },
  { name: "bad-last-without-index", script: 'require "index";\nif header :last "subject" "x" { keep; }' },
  { name: "bad-date-without-require", script: 'if currentdate "year" "2026" { keep; }' },
];
