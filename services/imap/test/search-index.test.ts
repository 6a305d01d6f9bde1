/**
 * Issue 20 over a real socket: SEARCH through the full-text index (and the
 * scan of what is not indexed), SORT with SORT=DISPLAY and ESORT, THREAD
 * ORDEREDSUBJECT/REFERENCES, OBJECTID, and COMPRESS=DEFLATE (a raw client
 * that deflates by hand, and imapflow, which negotiates it by itself).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { constants, createDeflateRaw, createInflateRaw } from "node:zlib";
import { createSearchIndexWorker } from "@aerogram/delivery";
import { ImapFlow } from "imapflow";
import {
  type Backends,
  createAccount,
  type Gateway,
  RawClient,
  startBackends,
  startGateway,
} from "./helpers.ts";

let backends: Backends;
let gateway: Gateway;
let user: { user: string; pass: string; id: number };
let client: RawClient;

function msg(headers: Record<string, string>, body: string): string {
  return `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
}

/** The corpus: base subjects, display names, dates and references chosen so every key orders differently. */
const CORPUS: { text: string; internalDate?: string }[] = [
  {
    text: msg(
      {
        From: "Zed <zed@x.org>",
        To: "team@x.org",
        Subject: "Re: Meeting",
        Date: "Thu, 2 Jan 2020 10:00:00 +0000",
        "Message-ID": "<m2@x>",
        "In-Reply-To": "<m1@x>",
        References: "<m1@x>",
      },
      "Quarterly numbers attached.\r\n",
    ),
  },
  {
    text: msg(
      {
        From: "alice@x.org",
        To: "team@x.org",
        Subject: "Meeting",
        Date: "Wed, 1 Jan 2020 10:00:00 +0000",
        "Message-ID": "<m1@x>",
      },
      "Let us meet on Friday.\r\n",
    ),
  },
  {
    text: msg(
      {
        From: "Xavier <bob@x.org>",
        To: "team@x.org",
        Subject: "[list] Fwd: Lunch (fwd)",
        Date: "Fri, 3 Jan 2020 10:00:00 +0000",
        "Message-ID": "<m3@x>",
        "MIME-Version": "1.0",
        "Content-Type": "text/html; charset=utf-8",
      },
      "<html><body><p>Sandwich <b>menu</b> &amp; soup</p></body></html>\r\n",
    ),
  },
  {
    // no Date: SORT DATE falls back to the internal date (RFC 5256 §2.2)
    text: msg(
      {
        From: "carol@x.org",
        To: "team@x.org",
        Subject: "lunch",
        "Message-ID": "<m4@x>",
        References: "<m3@x>",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "quoted-printable",
      },
      "Un caf=C3=A9 au lait, s'il vous pla=C3=AEt.\r\n",
    ),
    internalDate: "05-Jan-2020 10:00:00 +0000",
  },
  {
    text: msg(
      {
        From: "dave@x.org",
        To: "team@x.org",
        Subject: "Other",
        Date: "Sat, 4 Jan 2020 10:00:00 +0000",
        "Message-ID": "<m5@x>",
        References: "<missing@x>",
      },
      "Unrelated matters.\r\n",
    ),
  },
  {
    text: msg(
      {
        From: "erin@x.org",
        To: "team@x.org",
        Subject: "Re: Lunch",
        Date: "Mon, 6 Jan 2020 10:00:00 +0000",
        "Message-ID": "<m6@x>",
      },
      "Count me in.\r\n",
    ),
  },
  {
    text: msg(
      {
        From: "fred@x.org",
        To: "team@x.org",
        Subject: "Meeting",
        Date: "Tue, 7 Jan 2020 10:00:00 +0000",
        "Message-ID": "<m7@x>",
      },
      "Another meeting, unrelated to the first.\r\n",
    ),
  },
];

async function append(c: RawClient, mailbox: string, text: string, internalDate?: string): Promise<string> {
  const date = internalDate ? ` "${internalDate}"` : "";
  return c.command(`APPEND ${mailbox}${date} {${Buffer.byteLength(text)}+}\r\n${text}`);
}

function untaggedLine(response: string, name: string): string {
  const line = response.split("\r\n").find((l) => l.startsWith(`* ${name}`));
  assert.ok(line, `no * ${name} in ${response}`);
  return line;
}

before(async () => {
  backends = await startBackends();
  gateway = await startGateway(backends);
  user = await createAccount(gateway.runtime);
  client = await RawClient.connect(gateway.port);
  assert.match(await client.login(user.user, user.pass), /OK/);
  for (const m of CORPUS) assert.match(await append(client, "INBOX", m.text, m.internalDate), /OK/);
  assert.match(await client.command("SELECT INBOX"), /OK/);
});
after(async () => {
  client?.close();
  await gateway?.close();
  await backends?.stop();
});

describe("capabilities", () => {
  test("SORT, THREAD, ESORT, OBJECTID, WITHIN, PREVIEW, SAVEDATE, COMPRESS are advertised", async () => {
    const caps = untaggedLine(await client.command("CAPABILITY"), "CAPABILITY");
    for (const c of [
      "SORT",
      "SORT=DISPLAY",
      "ESORT",
      "THREAD=ORDEREDSUBJECT",
      "THREAD=REFERENCES",
      "OBJECTID",
      "WITHIN",
      "PREVIEW",
      "SAVEDATE",
      "COMPRESS=DEFLATE",
    ]) {
      assert.ok(caps.split(" ").includes(c), `${c} missing from ${caps}`);
    }
  });
});

describe("SEARCH through the full-text index", () => {
  test("right after APPEND (no row yet) SEARCH scans the new messages; the indexer then writes every row", async () => {
    const rowCount = async () =>
      Number(
        (
          await gateway.runtime.store.pool.query<{ n: string }>(
            "SELECT count(*) AS n FROM message_search s JOIN mailboxes b ON b.id = s.mailbox_id WHERE b.account_id = $1",
            [user.id],
          )
        ).rows[0]!.n,
      );
    assert.equal(await rowCount(), 0, "APPEND's ack path writes no search row");
    const answers = async () => [
      untaggedLine(await client.command('UID SEARCH BODY "unrelated"'), "SEARCH"),
      untaggedLine(await client.command('UID SEARCH TEXT "zed@x.org"'), "SEARCH"),
      untaggedLine(await client.command("UID SEARCH NOT BODY friday"), "SEARCH"),
    ];
    const scanned = await answers();
    assert.deepEqual(scanned, ["* SEARCH 5 7", "* SEARCH 1", "* SEARCH 1 3 4 5 6 7"]);
    assert.equal(await createSearchIndexWorker(gateway.runtime).runOnce(), CORPUS.length);
    assert.equal(await rowCount(), CORPUS.length);
    assert.deepEqual(await answers(), scanned, "the index answers as the scan did");
  });

  test("with the indexer running, a message APPENDed is found at once and indexed within a poll", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    await c.command("CREATE Fresh");
    await c.command("SELECT Fresh");
    const worker = createSearchIndexWorker(gateway.runtime);
    worker.start();
    try {
      const box = (await gateway.runtime.store.mailboxes.byName(user.id, "Fresh"))!;
      for (let i = 1; i <= 3; i++) {
        assert.match(
          await append(c, "Fresh", msg({ Subject: `fresh ${i}` }, `zyzzyva${i} arrives\r\n`)),
          /OK/,
        );
        // the very next command: found whether the indexer got to it yet or not
        assert.match(await c.command(`UID SEARCH BODY "zyzzyva${i}"`), new RegExp(`\\* SEARCH ${i}\r\n`));
        assert.match(
          await c.command('UID SEARCH BODY "arrives"'),
          new RegExp(`\\* SEARCH ${[1, 2, 3].slice(0, i).join(" ")}\r\n`),
        );
      }
      const deadline = Date.now() + 20_000;
      while ((await gateway.runtime.store.search.unindexed(box.id)).length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(await gateway.runtime.store.search.unindexed(box.id), []);
      assert.match(await c.command('UID SEARCH BODY "zyzzyva2"'), /\* SEARCH 2\r\n/);
    } finally {
      await worker.stop();
      c.close();
    }
  });

  test("a word needle is answered by the words holding it; a body with an overlong word by its LIKE", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    await c.command("CREATE Words");
    await append(c, "Words", msg({ Subject: "one" }, "The Supercalifragilistic word, twice: word.\r\n"));
    await append(c, "Words", msg({ Subject: "two" }, `${"x".repeat(150)}needle${"y".repeat(10)} tail\r\n`));
    await createSearchIndexWorker(gateway.runtime).runOnce();
    await c.command("SELECT Words");
    const box = (await gateway.runtime.store.mailboxes.byName(user.id, "Words"))!;
    const { rows } = await gateway.runtime.store.pool.query<{ uid: number; body_words: string[] | null }>(
      `SELECT uid, CASE WHEN body_word_ids IS NOT NULL THEN ARRAY(SELECT v.word FROM unnest(body_word_ids) i
              JOIN search_vocabulary v ON v.id = i) END AS body_words
         FROM message_search WHERE mailbox_id = $1 ORDER BY uid`,
      [box.id],
    );
    assert.deepEqual(rows[0]!.body_words?.sort(), ["supercalifragilistic", "the", "twice", "word"]);
    assert.equal(rows[1]!.body_words, null, "a 166-character word: no words, the LIKE answers");
    try {
      for (const [command, answer] of [
        ['UID SEARCH BODY "CALIFRAG"', "* SEARCH 1"],
        ['UID SEARCH TEXT "califrag"', "* SEARCH 1"],
        ['UID SEARCH BODY "xneedley"', "* SEARCH 2"],
        ['UID SEARCH BODY "tail"', "* SEARCH 2"],
        ['UID SEARCH BODY "word"', "* SEARCH 1"],
        ['UID SEARCH NOT BODY "word"', "* SEARCH 2"],
        ['UID SEARCH BODY "word, twice"', "* SEARCH 1"],
        ['UID SEARCH BODY "wordx"', "* SEARCH"],
      ] as const)
        assert.equal(untaggedLine(await c.command(command), "SEARCH"), answer, command);
    } finally {
      c.close();
    }
  });

  test("any needle, inside words, across words, non-ASCII, in headers: the index answers as the blob scan does", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    await c.command("CREATE Needles");
    const texts = [
      msg(
        { From: "Ana <ana@needle.example>", Subject: "Quarterly report, final", "Message-ID": "<n1@needle>" },
        "The quarterly report is final. See a.b and foo-bar; café au lait.\r\n",
      ),
      msg(
        { From: "bo@needle.example", Subject: "Straße", "Content-Type": "text/plain; charset=utf-8" },
        "ΟΔΟΣ Straße — naïve résumé, 2024-01-05 at 10:30. report-final\r\n",
      ),
      msg({ From: "cy@needle.example", Subject: "words" }, "reporting finally, a b ab ba. final report\r\n"),
      // more than MAX_VOCABULARY_MATCHES words containing "zq": the needle reads the bodies instead
      msg(
        { From: "di@needle.example", Subject: "many" },
        `${Array.from({ length: 260 }, (_, i) => `zq${i}`).join(" ")} end.\r\n`,
      ),
      msg({ From: "ed@needle.example", Subject: "long" }, `${"w".repeat(120)} report final\r\n`),
    ];
    for (const text of texts) assert.match(await append(c, "Needles", text), /OK/);
    await c.command("SELECT Needles");
    const needles = [
      "report",
      "REPORT",
      "port",
      "eport fin",
      "report, final",
      "report final",
      "report-final",
      "ort is fin",
      "a.b",
      "a b",
      "b a",
      "foo-bar",
      "o-b",
      "café au",
      "CAFÉ AU LAIT",
      "au l",
      "é au",
      "straße",
      "STRASSE",
      "ΟΔΟΣ",
      "οδος",
      "naïve rés",
      "ïve",
      "2024-01",
      "-01-",
      "10:30",
      ":",
      ".",
      " ",
      ", ",
      "—",
      "zq",
      "zq17",
      "q17 z",
      "zq259 end",
      "9 e",
      "needle.example",
      "ana@needle",
      "quarterly report,",
      "nally, a",
      "w report",
      "wwww",
      "ww rep",
      "",
      "x y z",
    ];
    const answers = async (key: "BODY" | "TEXT") => {
      const out: string[] = [];
      for (const n of needles)
        out.push(untaggedLine(await c.command(`UID SEARCH CHARSET UTF-8 ${key} "${n}"`), "SEARCH"));
      return out;
    };
    try {
      const scanned = { BODY: await answers("BODY"), TEXT: await answers("TEXT") };
      await createSearchIndexWorker(gateway.runtime).runOnce();
      const box = (await gateway.runtime.store.mailboxes.byName(user.id, "Needles"))!;
      const { rows } = await gateway.runtime.store.pool.query<{ n: number; worded: number }>(
        "SELECT count(*)::int AS n, count(body_word_ids)::int AS worded FROM message_search WHERE mailbox_id = $1",
        [box.id],
      );
      assert.deepEqual(rows[0], { n: 5, worded: 4 }, "every message indexed, one without words (overlong)");
      for (const key of ["BODY", "TEXT"] as const) {
        const indexed = await answers(key);
        for (let i = 0; i < needles.length; i++)
          assert.equal(indexed[i], scanned[key][i], `${key} "${needles[i]}": the index against the scan`);
      }
      // a few spelled out, so the reference itself is checked
      assert.deepEqual(scanned.BODY.slice(0, 8), [
        "* SEARCH 1 2 3 5",
        "* SEARCH 1 2 3 5",
        "* SEARCH 1 2 3 5",
        "* SEARCH 5",
        "* SEARCH",
        "* SEARCH 5",
        "* SEARCH 2",
        "* SEARCH 1",
      ]);
      assert.equal(scanned.TEXT[needles.indexOf("report, final")], "* SEARCH 1", "in the Subject only");
      assert.equal(scanned.BODY[needles.indexOf("zq")], "* SEARCH 4");
      assert.equal(scanned.BODY[needles.indexOf("q17 z")], "* SEARCH 4");
    } finally {
      c.close();
    }
  });

  test("BODY/TEXT: decoded (QP, UTF-8, HTML to text), case-insensitive substrings, with other keys in one query", async () => {
    assert.match(await client.command('UID SEARCH BODY "CAFÉ"'), /\* SEARCH 4\r\n/);
    assert.match(await client.command('UID SEARCH CHARSET UTF-8 BODY "café au"'), /\* SEARCH 4\r\n/);
    // HTML is searched as its text: tags don't split "menu & soup"
    assert.match(await client.command('UID SEARCH BODY "menu & soup"'), /\* SEARCH 3\r\n/);
    assert.match(await client.command('UID SEARCH BODY "unrelated"'), /\* SEARCH 5 7\r\n/);
    assert.match(await client.command('UID SEARCH BODY "unrelated" NOT FROM "fred"'), /\* SEARCH 5\r\n/);
    assert.match(await client.command('UID SEARCH OR BODY "friday" BODY "count me"'), /\* SEARCH 2 6\r\n/);
    // TEXT covers the header; BODY does not
    assert.match(await client.command('UID SEARCH TEXT "zed@x.org"'), /\* SEARCH 1\r\n/);
    assert.match(await client.command('UID SEARCH BODY "zed@x.org"'), /\* SEARCH\r\n/);
    // LIKE's own characters are plain text
    assert.match(await client.command('UID SEARCH BODY "%"'), /\* SEARCH\r\n/);
    assert.match(await client.command('UID SEARCH BODY "s_il"'), /\* SEARCH\r\n/);
    assert.match(await client.command("UID SEARCH HEADER Message-ID m3"), /\* SEARCH 3\r\n/);
    assert.match(await client.command("UID SEARCH HEADER References missing"), /\* SEARCH 5\r\n/);
  });

  test("ESEARCH and SEARCHRES stay correct with text keys", async () => {
    assert.match(
      await client.command('UID SEARCH RETURN (MIN MAX COUNT ALL) BODY "unrelated"'),
      /\* ESEARCH \(TAG "t\d+"\) UID MIN 5 MAX 7 ALL 5,7 COUNT 2\r\n/,
    );
    await client.command('SEARCH RETURN (SAVE) TEXT "meeting"');
    assert.match(await client.command("UID SEARCH $ BODY friday"), /\* SEARCH 2\r\n/);
  });

  test("messages without a search row are scanned, so the answers are the same; SORT writes their rows", async () => {
    const inbox = (await gateway.runtime.store.mailboxes.byName(user.id, "INBOX"))!;
    const before = untaggedLine(await client.command('UID SEARCH TEXT "unrelated"'), "SEARCH");
    // as if never indexed (a row and its THREADID are written together)
    await gateway.runtime.store.pool.query(
      "DELETE FROM message_search WHERE mailbox_id = $1 AND uid IN (5, 7)",
      [inbox.id],
    );
    await gateway.runtime.store.pool.query(
      "UPDATE messages SET thread_id = NULL WHERE mailbox_id = $1 AND uid IN (5, 7)",
      [inbox.id],
    );
    assert.equal(untaggedLine(await client.command('UID SEARCH TEXT "unrelated"'), "SEARCH"), before);
    assert.equal(before, "* SEARCH 5 7");
    assert.equal((await gateway.runtime.store.search.unindexed(inbox.id)).length, 2);
    await client.command("UID SORT (SUBJECT) UTF-8 ALL");
    assert.equal((await gateway.runtime.store.search.unindexed(inbox.id)).length, 0);
  });

  test("expunging a message removes its search row", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    await c.command("CREATE Scratch");
    await append(c, "Scratch", CORPUS[0]!.text);
    await createSearchIndexWorker(gateway.runtime).runOnce();
    await c.command("SELECT Scratch");
    const box = (await gateway.runtime.store.mailboxes.byName(user.id, "Scratch"))!;
    const count = async () =>
      Number(
        (
          await gateway.runtime.store.pool.query(
            "SELECT count(*) AS n FROM message_search WHERE mailbox_id = $1",
            [box.id],
          )
        ).rows[0].n,
      );
    assert.equal(await count(), 1);
    await c.command("STORE 1 +FLAGS (\\Deleted)");
    await c.command("EXPUNGE");
    assert.equal(await count(), 0);
    c.close();
  });
});

describe("SORT (RFC 5256, RFC 5957) and ESORT (RFC 5267)", () => {
  test("SUBJECT uses the base subject, ties in mailbox order", async () => {
    // LUNCH: 3 ("[list] Fwd: Lunch (fwd)"), 4, 6 ("Re: Lunch"); MEETING: 1, 2, 7; OTHER: 5
    assert.match(await client.command("SORT (SUBJECT) UTF-8 ALL"), /\* SORT 3 4 6 1 2 7 5\r\n/);
  });

  test("DATE falls back to the internal date; REVERSE; ARRIVAL", async () => {
    assert.match(await client.command("UID SORT (DATE) UTF-8 ALL"), /\* SORT 2 1 3 5 4 6 7\r\n/);
    assert.match(await client.command("UID SORT (REVERSE DATE) UTF-8 ALL"), /\* SORT 7 6 4 5 3 1 2\r\n/);
    assert.match(await client.command("UID SORT (ARRIVAL) UTF-8 ALL"), /\* SORT 4 1 2 3 5 6 7\r\n/);
  });

  test("FROM sorts by mailbox, DISPLAYFROM by display name (else the address)", async () => {
    assert.match(await client.command("UID SORT (FROM) UTF-8 ALL"), /\* SORT 2 3 4 5 6 7 1\r\n/);
    assert.match(await client.command("UID SORT (DISPLAYFROM) UTF-8 ALL"), /\* SORT 2 4 5 6 7 3 1\r\n/);
  });

  test("several keys, with search keys", async () => {
    assert.match(
      await client.command('UID SORT (SUBJECT REVERSE DATE) UTF-8 NOT BODY "unrelated"'),
      /\* SORT 6 4 3 1 2\r\n/,
    );
  });

  test("ESORT: MIN/MAX in sort order, ALL keeps the order, COUNT", async () => {
    const r = await client.command("UID SORT RETURN (MIN MAX ALL COUNT) (REVERSE DATE) UTF-8 ALL");
    assert.match(r, /\* ESEARCH \(TAG "t\d+"\) UID MIN 7 MAX 2 ALL 7,6,4:5,3,1:2 COUNT 7\r\n/);
  });

  test("bad sort key and unknown charset are refused", async () => {
    assert.match(await client.command("SORT (BOGUS) UTF-8 ALL"), /BAD/);
    assert.match(await client.command("SORT (DATE) KOI8-R ALL"), /NO \[BADCHARSET/);
  });
});

describe("THREAD (RFC 5256 §3)", () => {
  test("ORDEREDSUBJECT", async () => {
    assert.match(
      await client.command("UID THREAD ORDEREDSUBJECT UTF-8 ALL"),
      /\* THREAD \(2 \(1\)\(7\)\)\(3 \(4\)\(6\)\)\(5\)\r\n/,
    );
  });

  test("REFERENCES: parents by References, dummies pruned, roots merged by base subject", async () => {
    // 3's subject is a forward ("Fwd:", "(fwd)"), like 6's reply: both under a dummy (RFC 5256 §3 (6)(C))
    assert.match(
      await client.command("UID THREAD REFERENCES UTF-8 ALL"),
      /\* THREAD \(\(2 1\)\(7\)\)\(\(3 4\)\(6\)\)\(5\)\r\n/,
    );
  });

  test("REFERENCES: two root dummies of one subject merge with every child kept (RFC 5256 §3 (6)(A))", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    await c.command("CREATE Dummies");
    // 1 and 2 reply to a missing <x1@d>, 3 and 4 to a missing <x2@d>: two dummy roots, subject "topic"
    for (const [n, parent] of [
      [1, "x1"],
      [2, "x1"],
      [3, "x2"],
      [4, "x2"],
    ] as const)
      assert.match(
        await append(
          c,
          "Dummies",
          msg(
            {
              From: "a@d",
              Subject: "Re: Topic",
              Date: `Wed, ${n} Jan 2020 10:00:00 +0000`,
              "Message-ID": `<r${n}@d>`,
              "In-Reply-To": `<${parent}@d>`,
              References: `<${parent}@d>`,
            },
            "x\r\n",
          ),
        ),
        /OK/,
      );
    await c.command("SELECT Dummies");
    try {
      assert.equal(
        untaggedLine(await c.command("UID THREAD REFERENCES UTF-8 ALL"), "THREAD"),
        "* THREAD ((1)(2)(3)(4))",
      );
    } finally {
      c.close();
    }
  });

  test("a repeated THREAD or SORT ... ALL follows APPEND and EXPUNGE by another session (the answers are cached)", async () => {
    const a = await RawClient.connect(gateway.port);
    const b = await RawClient.connect(gateway.port);
    await a.login(user.user, user.pass);
    await b.login(user.user, user.pass);
    await a.command("CREATE Cached");
    const mail = (n: number, subject: string, parent?: number) =>
      msg(
        {
          From: "a@d",
          Subject: subject,
          Date: `Wed, ${n} Jan 2020 10:00:00 +0000`,
          "Message-ID": `<c${n}@d>`,
          ...(parent ? { "In-Reply-To": `<c${parent}@d>`, References: `<c${parent}@d>` } : {}),
        },
        "x\r\n",
      );
    try {
      assert.match(await append(a, "Cached", mail(1, "one")), /OK/);
      assert.match(await append(a, "Cached", mail(2, "two")), /OK/);
      await a.command("SELECT Cached");
      const thread = async (cmd: string) => untaggedLine(await a.command(cmd), "THREAD");
      const sort = async (cmd: string) => untaggedLine(await a.command(cmd), "SORT");
      assert.equal(await thread("UID THREAD REFERENCES UTF-8 ALL"), "* THREAD (1)(2)");
      assert.equal(await sort("UID SORT (REVERSE DATE) UTF-8 ALL"), "* SORT 2 1");
      assert.equal(await sort("UID SORT (REVERSE DATE) UTF-8 ALL"), "* SORT 2 1");
      assert.equal(await sort("UID SORT (DATE) UTF-8 ALL"), "* SORT 1 2");
      assert.equal(await thread("UID THREAD REFERENCES UTF-8 ALL"), "* THREAD (1)(2)");
      assert.equal(await thread("UID THREAD ORDEREDSUBJECT UTF-8 ALL"), "* THREAD (1)(2)");
      // a reply to 1, by another session: A's view takes it in, the tree changes
      assert.match(await append(b, "Cached", mail(3, "Re: one", 1)), /OK/);
      await a.command("NOOP");
      assert.equal(await thread("UID THREAD REFERENCES UTF-8 ALL"), "* THREAD (1 3)(2)");
      assert.equal(await thread("THREAD REFERENCES UTF-8 ALL"), "* THREAD (1 3)(2)");
      assert.equal(await sort("UID SORT (REVERSE DATE) UTF-8 ALL"), "* SORT 3 2 1");
      // 2 expunged elsewhere: gone from the answer at once (the mailbox's HIGHESTMODSEQ moved),
      // whether or not A's view has taken the expunge in yet
      await b.command("SELECT Cached");
      assert.match(await b.command("UID STORE 2 +FLAGS.SILENT (\\Deleted)"), /OK/);
      assert.match(await b.command("EXPUNGE"), /OK/);
      assert.equal(await thread("UID THREAD REFERENCES UTF-8 ALL"), "* THREAD (1 3)");
      assert.equal(await sort("UID SORT (REVERSE DATE) UTF-8 ALL"), "* SORT 3 1");
      await a.command("NOOP");
      assert.equal(await sort("SORT (REVERSE DATE) UTF-8 ALL"), "* SORT 2 1");
      // sequence numbers after the renumbering: 3 is now message 2
      assert.equal(await thread("THREAD REFERENCES UTF-8 ALL"), "* THREAD (1 2)");
      assert.equal(await thread("UID THREAD REFERENCES UTF-8 ALL"), "* THREAD (1 3)");
    } finally {
      a.close();
      b.close();
    }
  });

  test("with search keys and sequence numbers", async () => {
    assert.match(
      await client.command('THREAD REFERENCES UTF-8 BODY "unrelated"'),
      /\* THREAD \(5\)\(7\)\r\n/,
    );
  });
});

describe("OBJECTID (RFC 8474)", () => {
  test("MAILBOXID in SELECT, STATUS and CREATE", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    const created = await c.command("CREATE Ids");
    const id = /\[MAILBOXID \((M\d+)\)\]/.exec(created)?.[1];
    assert.ok(id, created);
    assert.match(await c.command("STATUS Ids (MAILBOXID MESSAGES)"), new RegExp(`MAILBOXID \\(${id}\\)`));
    assert.match(await c.command("SELECT Ids"), new RegExp(`\\[MAILBOXID \\(${id}\\)\\]`));
    c.close();
  });

  test("EMAILID is kept by COPY, THREADID is shared by a reply", async () => {
    const r = await client.command("UID FETCH 1:2 (EMAILID THREADID)");
    const ids = [
      ...r.matchAll(
        /UID (\d+) EMAILID \((E\d+)\) THREADID \((T\d+)\)|EMAILID \((E\d+)\) THREADID \((T\d+)\)/g,
      ),
    ];
    assert.equal(ids.length, 2, r);
    const rows = ids.map((m) => ({ email: m[2] ?? m[4], thread: m[3] ?? m[5] }));
    assert.notEqual(rows[0]!.email, rows[1]!.email);
    assert.equal(rows[0]!.thread, rows[1]!.thread, "the reply (uid 1) is in its parent's thread (uid 2)");
    await client.command("CREATE Copies");
    assert.match(await client.command("UID COPY 1 Copies"), /OK/);
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    await c.command("SELECT Copies");
    const copied = await c.command("FETCH 1 (EMAILID THREADID)");
    assert.match(copied, new RegExp(`EMAILID \\(${rows[0]!.email}\\) THREADID \\(${rows[0]!.thread}\\)`));
    // the copy is searchable by its copied row
    assert.match(await c.command('SEARCH BODY "quarterly"'), /\* SEARCH 1\r\n/);
    c.close();
  });
});

describe("COMPRESS=DEFLATE (RFC 4978)", () => {
  test("a raw client deflating by hand: commands and responses are compressed after the OK", async () => {
    const c = await RawClient.connect(gateway.port);
    await c.login(user.user, user.pass);
    assert.match(await c.command("COMPRESS DEFLATE"), /OK/);
    const deflate = createDeflateRaw();
    const inflate = createInflateRaw();
    c.socket.removeAllListeners("data");
    c.socket.pipe(inflate);
    deflate.pipe(c.socket);
    let text = "";
    inflate.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    const send = (line: string) =>
      new Promise<void>((resolve) => {
        deflate.write(line);
        deflate.flush(constants.Z_SYNC_FLUSH, () => resolve());
      });
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(text); i++) await new Promise((r) => setTimeout(r, 25));
      assert.match(text, re);
    };
    await send("z1 SELECT INBOX\r\n");
    await waitFor(/z1 OK/);
    await send('z2 UID SEARCH BODY "friday"\r\nz3 COMPRESS DEFLATE\r\n');
    await waitFor(/z3 (OK|NO|BAD)[^\r]*\r\n/);
    assert.match(text, /\* SEARCH 2\r\nz2 OK/);
    assert.match(text, /z3 NO \[COMPRESSIONACTIVE\]/);
    c.close();
  });

  test("imapflow negotiates COMPRESS and works through it", async () => {
    const flow = new ImapFlow({
      host: "127.0.0.1",
      port: gateway.port,
      secure: false,
      auth: { user: user.user, pass: user.pass },
      logger: false,
      disableAutoIdle: true,
    });
    await flow.connect();
    try {
      assert.ok((flow as unknown as { _deflate?: unknown })._deflate, "imapflow did not enable compression");
      const lock = await flow.getMailboxLock("INBOX");
      try {
        const uids = await flow.search({ body: "sandwich" }, { uid: true });
        assert.deepEqual(uids, [3]);
        const fetched = [];
        for await (const m of flow.fetch("1:*", { envelope: true, source: true }, { uid: true }))
          fetched.push(m);
        assert.equal(fetched.length, CORPUS.length);
        assert.ok(fetched.every((m) => (m.source?.length ?? 0) > 0));
      } finally {
        lock.release();
      }
    } finally {
      await flow.logout();
    }
  });
});
