// Generates the MIME comparison corpus: libs/mime/test/fixtures/corpus/*.eml.
// Run: node --import tsx libs/mime/scripts/make-corpus.ts
// Messages are CRLF unless their name says "lf"; 8-bit bytes are written as
// given (KOI8-R text is encoded here with iconv-lite).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import iconv from "iconv-lite";

const dir = join(import.meta.dirname, "../test/fixtures/corpus");

const corpus: Record<string, Buffer> = {};
const crlf = (lines: (string | Buffer)[]): Buffer => join2(lines, "\r\n");
const lf = (lines: (string | Buffer)[]): Buffer => join2(lines, "\n");
function join2(lines: (string | Buffer)[], nl: string): Buffer {
  const parts: Buffer[] = [];
  lines.forEach((l, i) => {
    parts.push(typeof l === "string" ? Buffer.from(l, "utf8") : l);
    if (i < lines.length - 1) parts.push(Buffer.from(nl));
  });
  return Buffer.concat(parts);
}
const koi8 = (s: string) => iconv.encode(s, "koi8-r");
const b64 = (s: string | Buffer, width = 76) =>
  (Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8"))
    .toString("base64")
    .replace(new RegExp(`(.{${width}})`, "g"), "$1\n")
    .trim()
    .split("\n");
const hdr = (extra: string[] = []) => [
  "From: Alice Example <alice@example.com>",
  "To: Bob <bob@example.org>",
  "Date: Mon, 3 Mar 2025 10:15:00 +0100",
  "Message-ID: <m1@example.com>",
  ...extra,
];
const add = (name: string, b: Buffer) => {
  corpus[name] = b;
};

add("01-plain", crlf([...hdr(["Subject: Plain text"]), "", "Hello Bob,", "", "just a plain message.", ""]));
add(
  "02-mime-plain-qp",
  crlf([
    ...hdr([
      "Subject: QP",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
    ]),
    "",
    "Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e, a long line that is soft-wrapped here=",
    " and continues.",
    "",
  ]),
);
add(
  "03-base64-text",
  crlf([
    ...hdr([
      "Subject: base64 text",
      "MIME-Version: 1.0",
      'Content-Type: text/plain; charset="UTF-8"',
      "Content-Transfer-Encoding: base64",
    ]),
    "",
    ...b64("Привет, мир! Это тестовое сообщение в base64.\r\nВторая строка.\r\n"),
    "",
  ]),
);
add(
  "04-alternative",
  crlf([
    ...hdr([
      "Subject: alternative",
      "MIME-Version: 1.0",
      'Content-Type: multipart/alternative; boundary="alt-1"',
    ]),
    "",
    "This is a multi-part message in MIME format.",
    "--alt-1",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "Plain version.",
    "--alt-1",
    "Content-Type: text/html; charset=us-ascii",
    "",
    "<html><body><p>HTML <b>version</b>.</p></body></html>",
    "--alt-1--",
    "",
  ]),
);
add(
  "05-mixed-attachment",
  crlf([
    ...hdr(["Subject: report attached", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=mix"]),
    "",
    "--mix",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    "See the attached report — thanks.",
    "",
    "--mix",
    'Content-Type: application/pdf; name="report.pdf"',
    "Content-Transfer-Encoding: base64",
    'Content-Disposition: attachment; filename="report.pdf"; size=120',
    "Content-Description: Quarterly report",
    "Content-ID: <report@example.com>",
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
    "Content-Language: en-US, de",
    "Content-Location: http://example.com/report.pdf",
    "",
    ...b64(Buffer.alloc(120, 7)),
    "--mix--",
    "",
  ]),
);
add(
  "06-related-nested",
  crlf([
    ...hdr(["Subject: nested", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="outer"']),
    "",
    "--outer",
    'Content-Type: multipart/alternative; boundary="inner"',
    "",
    "--inner",
    "Content-Type: text/plain",
    "",
    "plain part",
    "--inner",
    'Content-Type: multipart/related; boundary="rel"; type="text/html"',
    "",
    "--rel",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<p>html with image <img src="cid:img1"></p>',
    "--rel",
    "Content-Type: image/png",
    "Content-ID: <img1>",
    "Content-Transfer-Encoding: base64",
    "Content-Disposition: inline",
    "",
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "--rel--",
    "",
    "--inner--",
    "",
    "--outer",
    "Content-Type: text/csv; name=data.csv",
    "Content-Disposition: attachment; filename=data.csv",
    "",
    "a,b,c",
    "1,2,3",
    "--outer--",
    "",
  ]),
);
add(
  "07-attached-message",
  crlf([
    ...hdr(["Subject: Fwd: original", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="fwd"']),
    "",
    "--fwd",
    "Content-Type: text/plain",
    "",
    "Forwarding this.",
    "--fwd",
    "Content-Type: message/rfc822",
    'Content-Disposition: attachment; filename="original.eml"',
    "",
    "From: Carol <carol@example.net>",
    "To: Alice <alice@example.com>, Dave <dave@example.com>",
    "Cc: team: eve@example.com, frank@example.com;",
    "Subject: original",
    "Date: Sun, 2 Mar 2025 09:00:00 -0500",
    "Message-ID: <orig@example.net>",
    "In-Reply-To: <earlier@example.net>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/alternative; boundary="orig-alt"',
    "",
    "--orig-alt",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Original text.",
    "--orig-alt",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>Original text.</p>",
    "--orig-alt--",
    "",
    "--fwd--",
    "",
  ]),
);
add(
  "08-koi8r",
  crlf([
    ...hdr([
      "Subject: =?KOI8-R?B?" + koi8("Привет из КОИ-8").toString("base64") + "?=",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=koi8-r",
      "Content-Transfer-Encoding: 8bit",
    ]),
    "",
    koi8("Здравствуйте! Это письмо в кодировке KOI8-R."),
    koi8("Вторая строка."),
    "",
  ]),
);
add(
  "09-utf8-subject-body",
  crlf([
    ...hdr([
      "Subject: =?UTF-8?Q?=D0=9E=D1=82=D1=87=D1=91=D1=82_=D0=B7=D0=B0_?= =?UTF-8?Q?=D0=BC=D0=B0=D1=80=D1=82?=",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=UTF-8",
      "Content-Transfer-Encoding: 8bit",
    ]),
    "",
    "Отчёт за март готов. Ελληνικά, 日本語, emoji 🎉.",
    "",
  ]),
);
add(
  "10-rfc2231-filename",
  crlf([
    ...hdr(["Subject: RFC 2231", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=b2231"]),
    "",
    "--b2231",
    "Content-Type: application/octet-stream;",
    " name*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf",
    "Content-Disposition: attachment;",
    " filename*0*=UTF-8''%D0%B4%D0%BB%D0%B8%D0%BD%D0%BD%D0%BE%D0%B5%20;",
    " filename*1*=%D0%B8%D0%BC%D1%8F%20;",
    ' filename*2="file.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    "AAECAwQFBgc=",
    "--b2231",
    'Content-Type: text/plain; name*0="long"; name*1="name.txt"',
    'Content-Disposition: attachment; filename*0="a"; filename*2="c"',
    "",
    "gap in continuation indexes",
    "--b2231--",
    "",
  ]),
);
add(
  "11-encoded-words",
  crlf([
    "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
    "To: =?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
    "CC: =?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>",
    "Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=",
    "    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
    "Date: Mon, 3 Mar 2025 10:15:00 +0100",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=ISO-8859-1",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Caf=E9",
    "",
  ]),
);
add(
  "12-groups",
  crlf([
    "From: Pete <pete@silly.example>",
    "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
    "Cc: Undisclosed recipients:;",
    "Bcc: (comment only) hidden@example.com",
    "Date: Thu, 13 Feb 1969 23:32:54 -0330",
    "Subject: groups",
    "Message-ID: <testabcd.1234@silly.test>",
    "",
    "Testing.",
    "",
  ]),
);
add(
  "13-no-content-type",
  crlf([...hdr(["Subject: no content type", "MIME-Version: 1.0"]), "", "Body without Content-Type.", ""]),
);
add("14-no-body", crlf([...hdr(["Subject: header only"]), ""]));
add("15-empty-body", crlf([...hdr(["Subject: empty body"]), "", ""]));
add(
  "16-missing-close-boundary",
  crlf([
    ...hdr([
      "Subject: missing close",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="never-closed"',
    ]),
    "",
    "--never-closed",
    "Content-Type: text/plain",
    "",
    "first",
    "--never-closed",
    "Content-Type: text/plain",
    "",
    "second and last, no closing delimiter",
    "",
  ]),
);
add(
  "17-boundary-in-part",
  crlf([
    ...hdr([
      "Subject: boundary text inside",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="sep"',
    ]),
    "",
    "--sep",
    "Content-Type: text/plain",
    "",
    "This line mentions --sep but not at line start.",
    "--separator looks like a boundary prefix",
    "and --sep-- in the middle.",
    "--sep",
    "Content-Type: text/plain",
    "",
    "last",
    "--sep--",
    "",
  ]),
);
add(
  "18-lf-plain",
  lf([
    ...hdr(["Subject: bare LF", "MIME-Version: 1.0", "Content-Type: text/plain"]),
    "",
    "line one",
    "line two",
    "",
  ]),
);
add(
  "19-lf-multipart",
  lf([
    ...hdr([
      "Subject: bare LF multipart",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=lfb",
    ]),
    "",
    "--lfb",
    "Content-Type: text/plain",
    "",
    "part one",
    "--lfb",
    "Content-Type: text/html",
    "",
    "<b>two</b>",
    "--lfb--",
    "",
  ]),
);
add(
  "20-8bit-headers",
  crlf([
    "From: Jörg Müller <joerg@example.de>",
    "To: Ђорђе <djordje@example.rs>",
    Buffer.concat([Buffer.from("Subject: "), koi8("Тема в KOI8 без кодирования")]),
    "Date: Mon, 3 Mar 2025 10:15:00 +0100",
    "",
    "body",
    "",
  ]),
);
add(
  "21-invalid-base64",
  crlf([
    ...hdr([
      "Subject: bad base64",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: base64",
    ]),
    "",
    "SGVsbG8g!!!d29ybGQ*** not base64 at all ===",
    "",
  ]),
);
add(
  "22-header-no-colon",
  crlf([
    "From: Alice <alice@example.com>",
    "This line has no colon",
    "Subject: after the broken line",
    "To: bob@example.org",
    "",
    "body",
    "",
  ]),
);
add(
  "23-long-header-line",
  crlf([
    ...hdr(["Subject: " + "very long subject ".repeat(560).trim(), "X-Long: " + "x".repeat(10000)]),
    "",
    "body after huge headers",
    "",
  ]),
);
add(
  "24-duplicate-content-type",
  crlf([
    ...hdr([
      "Subject: duplicate content type",
      "MIME-Version: 1.0",
      "Content-Type: text/html; charset=utf-8",
      "Content-Type: text/plain; charset=iso-8859-1",
      "Content-Transfer-Encoding: 7bit",
      "Content-Transfer-Encoding: base64",
    ]),
    "",
    "<p>which one?</p>",
    "",
  ]),
);
add(
  "25-duplicate-subject-from",
  crlf([
    "From: First <first@example.com>",
    "From: Second <second@example.com>",
    "Subject: first subject",
    "Subject: second subject",
    "To: x@example.com",
    "",
    "dup",
    "",
  ]),
);
add(
  "26-folded-headers",
  crlf([
    'From: "Folded,',
    '  Name" <folded@example.com>',
    "To: a@example.com,",
    "\tb@example.com",
    "Subject: this subject",
    "   is folded\tover",
    "  three lines",
    "Date: Mon,",
    " 3 Mar 2025 10:15:00 +0100",
    "Message-ID:",
    " <folded@example.com>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain;",
    '\tcharset="utf-8";',
    "\tformat=flowed",
    "",
    "flowed text ",
    "continues",
    "",
  ]),
);
add(
  "27-quoted-specials",
  crlf([
    'From: "Quote \\"me\\" \\\\ back" <q@example.com>',
    'To: "a\\\\b\\\\c\\\\d\\\\e\\\\f" <many@example.com>',
    'Subject: "quoted" subject with \\ backslash',
    "Date: Mon, 3 Mar 2025 10:15:00 +0100",
    'Message-ID: <"odd"@example.com>',
    "MIME-Version: 1.0",
    'Content-Type: text/plain; charset=us-ascii; x-note="has \\"quotes\\" inside"',
    "",
    "body",
    "",
  ]),
);
add(
  "28-multipart-no-boundary",
  crlf([
    ...hdr(["Subject: multipart without boundary", "MIME-Version: 1.0", "Content-Type: multipart/mixed"]),
    "",
    "--x",
    "",
    "text",
    "",
  ]),
);
add(
  "29-digest",
  crlf([
    ...hdr(["Subject: digest", "MIME-Version: 1.0", 'Content-Type: multipart/digest; boundary="dig"']),
    "",
    "--dig",
    "",
    "From: one@example.com",
    "Subject: digest item 1",
    "",
    "item one",
    "--dig",
    "Content-Type: text/plain",
    "",
    "explicit text in digest",
    "--dig",
    "",
    "From: two@example.com",
    "Subject: digest item 2",
    "MIME-Version: 1.0",
    "Content-Type: multipart/alternative; boundary=d2",
    "",
    "--d2",
    "Content-Type: text/plain",
    "",
    "two plain",
    "--d2--",
    "--dig--",
    "",
  ]),
);
add(
  "30-nested-messages",
  crlf([
    ...hdr(["Subject: Fwd: Fwd: deep", "MIME-Version: 1.0", "Content-Type: message/rfc822"]),
    "",
    "From: level1@example.com",
    "Subject: level 1",
    "MIME-Version: 1.0",
    "Content-Type: multipart/mixed; boundary=l1",
    "",
    "--l1",
    "Content-Type: message/rfc822",
    "",
    "From: level2@example.com",
    "Subject: level 2",
    "",
    "deepest body",
    "--l1--",
    "",
  ]),
);
add(
  "31-same-boundary-nested",
  crlf([
    ...hdr([
      "Subject: same boundary reused",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="same"',
    ]),
    "",
    "--same",
    'Content-Type: multipart/alternative; boundary="same"',
    "",
    "--same",
    "Content-Type: text/plain",
    "",
    "inner?",
    "--same--",
    "--same",
    "Content-Type: text/plain",
    "",
    "outer second",
    "--same--",
    "",
  ]),
);
add(
  "32-prefix-boundaries",
  crlf([
    ...hdr([
      "Subject: prefix boundaries",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="abc"',
    ]),
    "",
    "--abc",
    'Content-Type: multipart/alternative; boundary="abcdef"',
    "",
    "--abcdef",
    "Content-Type: text/plain",
    "",
    "inner one",
    "--abcdef",
    "Content-Type: text/plain",
    "",
    "inner two",
    "--abcdef--",
    "--abc",
    "Content-Type: text/plain",
    "",
    "outer two",
    "--abc--",
    "",
  ]),
);
add(
  "33-boundary-trailing-space",
  crlf([
    ...hdr([
      "Subject: boundary whitespace",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=ws",
    ]),
    "",
    "--ws   ",
    "Content-Type: text/plain",
    "",
    "a",
    "--ws\t",
    "Content-Type: text/plain",
    "",
    "b",
    "--ws--  trailing junk",
    "epilogue text",
    "",
  ]),
);
add(
  "34-preamble-epilogue",
  crlf([
    ...hdr([
      "Subject: preamble and epilogue",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=pe",
    ]),
    "",
    "This is the preamble.",
    "It has two lines.",
    "",
    "--pe",
    "",
    "part without headers is text/plain",
    "--pe--",
    "This is the epilogue.",
    "",
  ]),
);
add(
  "35-empty-parts",
  crlf([
    ...hdr(["Subject: empty parts", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=ep"]),
    "",
    "--ep",
    "Content-Type: text/plain",
    "",
    "--ep",
    "Content-Type: text/plain",
    "",
    "",
    "--ep",
    "",
    "--ep",
    "--ep--",
  ]),
);
add(
  "36-boundary-in-headers",
  crlf([
    ...hdr([
      "Subject: boundary inside part header",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=bh",
    ]),
    "",
    "--bh",
    "Content-Type: text/plain",
    "X-Broken: the header never ends",
    "--bh",
    "Content-Type: text/plain",
    "",
    "second",
    "--bh--",
    "",
  ]),
);
add(
  "37-invalid-content-type",
  crlf([
    ...hdr([
      "Subject: invalid content types",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=ict",
    ]),
    "",
    "--ict",
    "Content-Type: text",
    "",
    "type without subtype",
    "--ict",
    "Content-Type: garbage; charset=utf-8",
    "",
    "no slash",
    "--ict",
    "Content-Type: image/ jpeg",
    "",
    "space after slash",
    "--ict",
    "Content-Type: ;;;",
    "",
    "just semicolons",
    "--ict",
    'Content-Type: APPLICATION/X-Weird (comment) ; Name = "x y.bin" ; (c) foo=bar',
    "",
    "case and comments",
    "--ict--",
    "",
  ]),
);
add(
  "38-content-type-no-mime-version",
  crlf([
    ...hdr(["Subject: no MIME-Version but Content-Type", "Content-Type: text/html; charset=utf-8"]),
    "",
    "<b>html</b>",
    "",
  ]),
);
add(
  "39-cte-without-mime",
  crlf([
    ...hdr(["Subject: CTE but not MIME", "Content-Transfer-Encoding: base64", "Content-Disposition: inline"]),
    "",
    "aGVsbG8=",
    "",
  ]),
);
add(
  "40-disposition-variants",
  crlf([
    ...hdr(["Subject: dispositions", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=dv"]),
    "",
    "--dv",
    "Content-Type: text/plain",
    "Content-Disposition: INLINE",
    "",
    "inline no params",
    "--dv",
    "Content-Type: application/octet-stream",
    "Content-Disposition: attachment",
    "Content-Disposition: attachment; filename=second.bin",
    "",
    "second disposition wins when first had no params",
    "--dv",
    "Content-Type: application/octet-stream",
    'Content-Disposition: attachment; filename="=?UTF-8?B?0YTQsNC50LsudHh0?="',
    "",
    "encoded-word in filename",
    "--dv",
    "Content-Type: application/octet-stream",
    'Content-Disposition: attachment; filename="Résumé.txt"',
    "",
    "raw utf-8 filename",
    "--dv--",
    "",
  ]),
);
add(
  "41-message-global",
  crlf([
    ...hdr(["Subject: message/global", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=mg"]),
    "",
    "--mg",
    "Content-Type: text/plain",
    "",
    "see attached",
    "--mg",
    "Content-Type: message/global",
    "",
    "From: Zoë <zoe@exämple.com>",
    "Subject: Grüße",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Grüße aus Köln",
    "--mg--",
    "",
  ]),
);
add(
  "42-crlf-mixed-endings",
  Buffer.from(
    [
      "From: mixed@example.com\r\n",
      "Subject: mixed line endings\n",
      "MIME-Version: 1.0\r\n",
      "Content-Type: multipart/mixed; boundary=me\n",
      "\r\n",
      "--me\n",
      "Content-Type: text/plain\r\n",
      "\n",
      "lf and crlf\r\nmixed\n",
      "--me--\r\n",
    ].join(""),
  ),
);
add(
  "43-address-edge-cases",
  crlf([
    "From: alice@example.com (Alice Comment)",
    'To: <@route1,@route2:user@example.com>, undisclosed, "" <empty@example.com>, <>',
    "Cc: missing@, @nodomain.example, =?UTF-8?B?0JjQstCw0L0=?= <ivan@example.ru>",
    "Reply-To: broken <unterminated@example.com",
    "Sender: Some One <one@[192.0.2.1]>",
    "Subject: addresses",
    "",
    "x",
    "",
  ]),
);
add(
  "44-in-reply-to-references",
  crlf([
    ...hdr([
      "Subject: Re: thread",
      "In-Reply-To: <parent@example.com> (comment)",
      "References: <root@example.com> <parent@example.com>",
    ]),
    "",
    "reply",
    "",
  ]),
);
add(
  "45-subject-whitespace",
  crlf([...hdr(["Subject:   leading and  double  spaces\tand tab   "]), "", "x", ""]),
);
add("46-empty-subject", crlf([...hdr(["Subject:", "Cc:"]), "", "x", ""]));
add(
  "47-big-attachment",
  crlf([
    ...hdr([
      "Subject: bigger attachment",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=big",
    ]),
    "",
    "--big",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Here comes 60 KB of base64.",
    "--big",
    'Content-Type: image/jpeg; name="photo.jpg"',
    "Content-Transfer-Encoding: base64",
    'Content-Disposition: attachment; filename="photo.jpg"',
    "",
    ...b64(Buffer.from(Array.from({ length: 45000 }, (_, i) => (i * 7919) % 251))),
    "--big--",
    "",
  ]),
);
add(
  "48-html-only-qp",
  crlf([
    ...hdr([
      "Subject: html only",
      "MIME-Version: 1.0",
      "Content-Type: text/html; charset=windows-1251",
      "Content-Transfer-Encoding: quoted-printable",
    ]),
    "",
    "<html><head><style>p{color:red}</style></head><body><p>=CF=F0=E8=E2=E5=F2 &amp; welcome</p></body></html>",
    "",
  ]),
);
add("49-nul-and-control", crlf([...hdr(["Subject: control\x01chars"]), "", "body with a NUL \x00 byte", ""]));
add(
  "50-content-language-location",
  crlf([
    ...hdr([
      "Subject: language and location",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Language: fr",
      "Content-Location: relative/path.txt",
      "Content-ID: <cid-50@example.com>",
      "Content-Description: =?UTF-8?Q?description_=C3=A9?=",
    ]),
    "",
    "Bonjour",
    "",
  ]),
);
add(
  "51-multipart-signed",
  crlf([
    ...hdr([
      "Subject: signed",
      "MIME-Version: 1.0",
      'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="sig"',
    ]),
    "",
    "--sig",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "signed text",
    "--sig",
    'Content-Type: application/pgp-signature; name="signature.asc"',
    "Content-Description: OpenPGP digital signature",
    "",
    "-----BEGIN PGP SIGNATURE-----",
    "",
    "iQEzBAEBCAAdFiEE",
    "-----END PGP SIGNATURE-----",
    "--sig--",
    "",
  ]),
);
add(
  "52-dashes-in-body",
  crlf([
    ...hdr([
      "Subject: dashes",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="----=_Part_1"',
    ]),
    "",
    "------=_Part_1",
    "Content-Type: text/plain",
    "",
    "-- ",
    "Signature after sig dashes",
    "----------",
    "------=_Part_1--",
    "",
  ]),
);
add(
  "53-rfc822-no-headers",
  crlf([
    ...hdr([
      "Subject: empty attached message",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=e8",
    ]),
    "",
    "--e8",
    "Content-Type: message/rfc822",
    "",
    "--e8",
    "Content-Type: message/rfc822",
    "",
    "",
    "body only, no headers",
    "--e8--",
    "",
  ]),
);
add(
  "54-lf-attached-message",
  lf([
    ...hdr(["Subject: LF forward", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=lfm"]),
    "",
    "--lfm",
    "Content-Type: message/rfc822",
    "",
    "From: inner@example.com",
    "Subject: inner LF",
    "MIME-Version: 1.0",
    "Content-Type: multipart/alternative; boundary=lfi",
    "",
    "--lfi",
    "Content-Type: text/plain",
    "",
    "inner plain",
    "--lfi--",
    "--lfm--",
    "",
  ]),
);
add(
  "55-8bit-param-values",
  crlf([
    ...hdr(["Subject: 8-bit parameter", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=8p"]),
    "",
    "--8p",
    Buffer.concat([
      Buffer.from('Content-Type: text/plain; charset=koi8-r; name="'),
      koi8("файл.txt"),
      Buffer.from('"'),
    ]),
    "Content-Transfer-Encoding: 8bit",
    "",
    koi8("текст"),
    "--8p--",
    "",
  ]),
);
add(
  "56-trailing-whitespace-blank-line",
  crlf([...hdr(["Subject: whitespace-only line is a continuation"]), " ", "", "body", ""]),
);
add(
  "57-charset-param-case",
  crlf([
    ...hdr([
      "Subject: charset case",
      "MIME-Version: 1.0",
      "Content-Type: TEXT/Plain; CHARSET=UTF-8; Format=Flowed; DelSp=Yes",
    ]),
    "",
    "x",
    "",
  ]),
);
add(
  "58-no-final-newline",
  Buffer.from("From: a@example.com\r\nSubject: no final newline\r\n\r\nlast line without CRLF"),
);

// Issue 15 part 3: message/rfc822 parts whose inner message is malformed,
// or which are themselves transfer-encoded (RFC 2046 §5.2.1 forbids it;
// mail still has it).
add(
  "59-rfc822-header-no-blank-line",
  crlf([
    ...hdr([
      "Subject: attached header, no blank line",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=nb",
    ]),
    "",
    "--nb",
    "Content-Type: text/plain",
    "",
    "first",
    "--nb",
    "Content-Type: message/rfc822",
    "",
    "From: inner@example.com",
    "Subject: inner header only",
    "--nb",
    "Content-Type: text/plain",
    "",
    "after",
    "--nb--",
    "",
  ]),
);
add(
  "60-rfc822-no-header-at-all",
  crlf([
    ...hdr([
      "Subject: attached text, no header",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=nh",
    ]),
    "",
    "--nh",
    "Content-Type: message/rfc822",
    "",
    "just a line of text, no colon",
    "and a second line",
    "",
    "after a blank line",
    "--nh",
    "Content-Type: message/rfc822",
    "",
    "only one line without header",
    "--nh--",
    "",
  ]),
);
add(
  "61-rfc822-base64",
  crlf([
    ...hdr([
      "Subject: base64 attached message",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=b6",
    ]),
    "",
    "--b6",
    "Content-Type: text/plain",
    "",
    "see attachment",
    "--b6",
    "Content-Type: message/rfc822",
    "Content-Transfer-Encoding: base64",
    'Content-Disposition: attachment; filename="fwd.eml"',
    "",
    ...b64(
      "From: carol@example.net\r\nSubject: inside base64\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhidden body\r\n",
    ),
    "--b6--",
    "",
  ]),
);
add(
  "62-rfc822-qp-last-part",
  crlf([
    ...hdr([
      "Subject: qp attached message last",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=qp",
    ]),
    "",
    "--qp",
    "Content-Type: message/rfc822",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "From: dave@example.net",
    "Subject: =3D in qp",
    "",
    "caf=C3=A9",
    "--qp--",
    "",
  ]),
);
add(
  "63-lf-rfc822-header-no-blank-line",
  lf([
    ...hdr([
      "Subject: LF attached header only",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=lh",
    ]),
    "",
    "--lh",
    "Content-Type: message/rfc822",
    "",
    "From: inner@example.com",
    "Subject: LF inner header only",
    "--lh--",
    "",
  ]),
);
add(
  "65-rfc822-nested-cut-header",
  crlf([
    ...hdr([
      "Subject: nested attached, inner header cut",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=nc",
    ]),
    "",
    "--nc",
    "Content-Type: message/rfc822",
    "",
    "From: middle@example.com",
    "Subject: middle",
    "MIME-Version: 1.0",
    "Content-Type: message/rfc822",
    "",
    "From: innermost@example.com",
    "Subject: innermost header only",
    "--nc",
    "Content-Type: text/plain",
    "",
    "after",
    "--nc--",
    "",
  ]),
);
// Issue 15 part 2: CRLF header with an 8bit body whose lines end in bare LF
// (scripts writing files on Unix); served with CRLF everywhere.
add(
  "64-lf-8bit-body",
  Buffer.concat([
    crlf([
      ...hdr([
        "Subject: 8bit body with bare LF",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=e8b",
      ]),
      "",
      "--e8b",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "",
    ]),
    lf([
      "Grüße aus Köln",
      "zweite Zeile",
      "--e8b",
      "Content-Type: application/octet-stream",
      "Content-Transfer-Encoding: binary",
      "",
      "",
    ]),
    Buffer.from([0x01, 0x0a, 0x0a, 0x0d, 0x41, 0x0a, 0xff, 0x0d, 0x0a, 0x0a]),
    Buffer.from("\n--e8b--\n"),
  ]),
);

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (const [name, body] of Object.entries(corpus)) writeFileSync(join(dir, `${name}.eml`), body);
console.log(`wrote ${readdirSync(dir).length} messages to ${dir}`);
