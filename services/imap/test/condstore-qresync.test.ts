/**
 * RFC 7162's example scenarios, over a raw socket against a real gateway
 * (Postgres, s3rver): CONDSTORE (§3.1: HIGHESTMODSEQ on SELECT, FETCH MODSEQ,
 * CHANGEDSINCE, STORE UNCHANGEDSINCE → [MODIFIED], SEARCH MODSEQ, STATUS
 * HIGHESTMODSEQ, the NOMODSEQ cases) and QRESYNC (§3.2: ENABLE, SELECT (QRESYNC
 * ...) with VANISHED (EARLIER) and the changed flags, UID FETCH (CHANGEDSINCE m
 * VANISHED), VANISHED instead of EXPUNGE, a UIDVALIDITY mismatch).
 *
 * The RFC's UIDs and MODSEQs are illustrative; these scripts assert our exact
 * answers for the same shapes. A fresh INBOX has HIGHESTMODSEQ 1 and each APPEND,
 * STORE or EXPUNGE allocates the next MODSEQ, so the numbers below are derived
 * from the SELECT that precedes them (`base`).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

/** An account with `count` messages in INBOX (UIDs 1..count), and two logged-in sessions. */
async function mailbox(count: number): Promise<{ c: RawClient; other: RawClient }> {
  const account = await createAccount(fixture.gateway.runtime);
  const c = await RawClient.connect(fixture.gateway.port);
  const other = await RawClient.connect(fixture.gateway.port);
  assert.match(await c.login(account.user, account.pass), /OK/);
  assert.match(await other.login(account.user, account.pass), /OK/);
  for (let i = 1; i <= count; i++) {
    const text = message(`m${i}`);
    c.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await c.response("ap"), /ap OK \[APPENDUID \d+ \d+\]/);
  }
  return { c, other };
}

/** The untagged lines of a response, without the tagged line. */
function untaggedLines(response: string): string[] {
  return response.split("\r\n").filter((l) => l.startsWith("* "));
}

function field(response: string, re: RegExp): number {
  const m = re.exec(response);
  assert.ok(m, `no ${re} in ${JSON.stringify(response)}`);
  return Number(m[1]);
}

describe("CONDSTORE (RFC 7162 §3.1)", () => {
  test("SELECT (CONDSTORE) reports HIGHESTMODSEQ; FETCH (MODSEQ); CHANGEDSINCE", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { c, other } = await mailbox(5);
    try {
      // §3.1.2.1 example: every SELECT reports HIGHESTMODSEQ (persistent mod-sequences:
      // never NOMODSEQ). Five APPENDs after the mailbox's MODSEQ 1.
      const select = await c.command("SELECT INBOX (CONDSTORE)");
      assert.match(select, /\* OK \[HIGHESTMODSEQ 6\] Highest\r\n/);
      assert.doesNotMatch(select, /NOMODSEQ/);
      assert.match(select, /t\d+ OK \[READ-WRITE\] SELECT completed\r\n$/);

      // §3.1.4.1 (FETCH MODSEQ): one MODSEQ per message, in parentheses.
      assert.equal(
        await c.command("FETCH 1:* (MODSEQ)", "a1"),
        "* 1 FETCH (MODSEQ (2))\r\n* 2 FETCH (MODSEQ (3))\r\n* 3 FETCH (MODSEQ (4))\r\n" +
          "* 4 FETCH (MODSEQ (5))\r\n* 5 FETCH (MODSEQ (6))\r\na1 OK FETCH completed\r\n",
      );
      assert.equal(
        await c.command("UID STORE 2,4 +FLAGS (\\Seen)", "a2"),
        "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (7))\r\n* 4 FETCH (UID 4 FLAGS (\\Seen \\Recent) MODSEQ (7))\r\n" +
          "a2 OK STORE completed\r\n",
      );
      // §3.1.4.1 example "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)": only the
      // messages changed since, with MODSEQ added; a non-UID FETCH adds no UID.
      assert.equal(
        await c.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6)", "s100"),
        "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (7))\r\n* 4 FETCH (UID 4 FLAGS (\\Seen \\Recent) MODSEQ (7))\r\n" +
          "s100 OK FETCH completed\r\n",
      );
      assert.equal(
        await c.command("FETCH 1:* (FLAGS) (CHANGEDSINCE 6)", "s101"),
        "* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (7))\r\n* 4 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (7))\r\ns101 OK FETCH completed\r\n",
      );
      assert.equal(
        await c.command("FETCH 1:* (FLAGS) (CHANGEDSINCE 7)", "s102"),
        "s102 OK FETCH completed\r\n",
      );
      // VANISHED needs QRESYNC (§3.2.6): BAD without it.
      assert.match(
        await c.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6 VANISHED)"),
        /t\d+ BAD VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE/,
      );

      // Once CONDSTORE is enabled, unsolicited FETCH responses carry MODSEQ (§3.1.10 / §3.1.3).
      assert.match(await other.command("SELECT INBOX"), /OK \[READ-WRITE\]/);
      assert.equal(
        await other.command("STORE 1 +FLAGS (\\Flagged)", "o1"),
        "* 1 FETCH (FLAGS (\\Flagged))\r\no1 OK STORE completed\r\n",
        "no MODSEQ in a session that never enabled CONDSTORE",
      );
      assert.equal(
        await c.command("NOOP", "n1"),
        "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ (8))\r\nn1 OK NOOP completed\r\n",
      );
    } finally {
      c.close();
      other.close();
    }
  });

  test("a FETCH of MODSEQ enables CONDSTORE for the rest of the session (§3.1)", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { c, other } = await mailbox(2);
    try {
      assert.match(await c.command("SELECT INBOX"), /\* OK \[HIGHESTMODSEQ 3\]/);
      assert.match(await other.command("SELECT INBOX"), /OK/);
      assert.match(await other.command("STORE 2 +FLAGS.SILENT (\\Answered)"), /OK/);
      assert.equal(
        await c.command("NOOP", "n1"),
        "* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))\r\nn1 OK NOOP completed\r\n",
      );
      // The first CONDSTORE-enabling command in a selected mailbox reports HIGHESTMODSEQ (§3.1).
      assert.equal(
        await c.command("FETCH 2 (MODSEQ)", "f1"),
        "* OK [HIGHESTMODSEQ 4] Highest\r\n* 2 FETCH (MODSEQ (4))\r\nf1 OK FETCH completed\r\n",
      );
      assert.match(await other.command("STORE 2 -FLAGS.SILENT (\\Answered)"), /OK/);
      assert.equal(
        await c.command("NOOP", "n2"),
        "* 2 FETCH (UID 2 FLAGS (\\Recent) MODSEQ (5))\r\nn2 OK NOOP completed\r\n",
      );
    } finally {
      c.close();
      other.close();
    }
  });

  test("STORE (UNCHANGEDSINCE) and [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { c, other } = await mailbox(5);
    try {
      assert.match(await c.command("SELECT INBOX (CONDSTORE)"), /\* OK \[HIGHESTMODSEQ 6\]/);
      assert.match(await other.command("SELECT INBOX"), /OK/);
      assert.match(await other.command("UID STORE 2 +FLAGS.SILENT (\\Seen)"), /OK/); // UID 2 → MODSEQ 7

      // §3.1.3 example 7 ("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) ..."): the messages
      // changed since are not touched and named in [MODIFIED]; the others are stored and,
      // though .SILENT, reported with their new MODSEQ. The change made elsewhere is
      // reported too (flags of UID 2), after the STORE's own responses.
      assert.equal(
        await c.command("UID STORE 1,2,3 (UNCHANGEDSINCE 6) +FLAGS.SILENT (\\Deleted)", "d105"),
        "* 1 FETCH (UID 1 MODSEQ (8))\r\n* 3 FETCH (UID 3 MODSEQ (8))\r\n" +
          "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (7))\r\n" +
          "d105 OK [MODIFIED 2] Conditional STORE failed\r\n",
      );
      // §3.1.3 example 3 ("a103 UID STORE 6,4,8 (UNCHANGEDSINCE ...) +FLAGS.SILENT"): all unchanged.
      assert.equal(
        await c.command("UID STORE 4,5 (UNCHANGEDSINCE 8) +FLAGS.SILENT (\\Answered)", "a103"),
        "* 4 FETCH (UID 4 MODSEQ (9))\r\n* 5 FETCH (UID 5 MODSEQ (9))\r\na103 OK STORE completed\r\n",
      );
      // UNCHANGEDSINCE 0 always fails (§3.1.3).
      assert.equal(
        await c.command("STORE 1:5 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Draft)", "a104"),
        "a104 OK [MODIFIED 1:5] Conditional STORE failed\r\n",
      );
      // A keyword new to the mailbox: FLAGS and PERMANENTFLAGS first (RFC 9051 §7.3.5).
      assert.equal(
        await c.command("STORE 5 (UNCHANGEDSINCE 100) +FLAGS ($Processed)", "a105"),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Processed)\r\n" +
          "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Processed \\*)] Flags permitted\r\n" +
          "* 5 FETCH (FLAGS (\\Answered $Processed \\Recent) MODSEQ (10))\r\na105 OK STORE completed\r\n",
      );

      // §3.1.5 (SEARCH MODSEQ, example "a SEARCH MODSEQ "/flags/\\draft" all 620162338"):
      // messages with MODSEQ >= the value, and the highest MODSEQ among them.
      assert.equal(
        await c.command("SEARCH MODSEQ 9", "s1"),
        "* SEARCH 4 5 (MODSEQ 10)\r\ns1 OK SEARCH completed\r\n",
      );
      assert.equal(
        await c.command('SEARCH MODSEQ "/flags/\\\\deleted" all 8', "s2"),
        "* SEARCH 1 3 4 5 (MODSEQ 10)\r\ns2 OK SEARCH completed\r\n",
      );
      assert.equal(
        await c.command("UID SEARCH MODSEQ 8 NOT DELETED", "s3"),
        "* SEARCH 4 5 (MODSEQ 10)\r\ns3 OK SEARCH completed\r\n",
      );
      // No match: no MODSEQ (§3.1.5).
      assert.equal(await c.command("SEARCH MODSEQ 11", "s4"), "* SEARCH\r\ns4 OK SEARCH completed\r\n");
      assert.equal(
        await c.command("UID SEARCH RETURN (ALL MAX) MODSEQ 7", "s5"),
        '* ESEARCH (TAG "s5") UID MAX 5 ALL 1:5 MODSEQ 10\r\ns5 OK SEARCH completed\r\n',
      );

      // §3.1.6 (STATUS HIGHESTMODSEQ, example "A042 STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)"),
      // from a session without the mailbox selected (so no untagged updates follow).
      assert.match(await other.command("UNSELECT"), /OK/);
      assert.equal(
        await other.command("STATUS INBOX (UIDNEXT MESSAGES HIGHESTMODSEQ)", "A042"),
        '* STATUS "INBOX" (UIDNEXT 6 MESSAGES 5 HIGHESTMODSEQ 10)\r\nA042 OK STATUS completed\r\n',
      );
      // NOMODSEQ cases (§3.1.2.2): every mailbox here keeps persistent mod-sequences,
      // so a new, empty mailbox has HIGHESTMODSEQ 1 in STATUS and SELECT, never NOMODSEQ.
      assert.match(await other.command("CREATE Empty"), /OK/);
      assert.equal(
        await other.command("STATUS Empty (HIGHESTMODSEQ)", "st"),
        '* STATUS "Empty" (HIGHESTMODSEQ 1)\r\nst OK STATUS completed\r\n',
      );
      const empty = await other.command("EXAMINE Empty (CONDSTORE)");
      assert.match(empty, /\* OK \[HIGHESTMODSEQ 1\] Highest\r\n/);
      assert.doesNotMatch(empty, /NOMODSEQ/);
      assert.equal(await other.command("FETCH 1:* (MODSEQ)", "e1"), "e1 OK FETCH completed\r\n");
    } finally {
      c.close();
      other.close();
    }
  });
});

describe("QRESYNC (RFC 7162 §3.2)", () => {
  /**
   * Eight messages (UIDs 1..8, MODSEQ 2..9, HIGHESTMODSEQ 9); another session then
   * expunges UIDs 2 and 7 (MODSEQ 11), flags UID 4 (MODSEQ 12); this one expunges
   * UID 1 (MODSEQ 14). Left: UIDs 3,4,5,6,8.
   */
  async function resyncFixture(): Promise<{ c: RawClient; other: RawClient; uidValidity: number }> {
    const { c, other } = await mailbox(8);
    assert.equal(await c.command("ENABLE QRESYNC", "en"), "* ENABLED QRESYNC\r\nen OK ENABLE completed\r\n");
    // Already enabled: an empty ENABLED (RFC 5161 §3.1).
    assert.equal(await c.command("ENABLE QRESYNC", "en2"), "* ENABLED\r\nen2 OK ENABLE completed\r\n");
    const select = await c.command("SELECT INBOX");
    assert.match(select, /\* OK \[HIGHESTMODSEQ 9\]/);
    const uidValidity = field(select, /UIDVALIDITY (\d+)/);
    inboxObjectId = /\[MAILBOXID \((M\d+)\)\]/.exec(select)![1]!;
    assert.match(await other.command("SELECT INBOX"), /OK/);
    assert.match(await other.command("UID STORE 2,7 +FLAGS.SILENT (\\Deleted)"), /OK/);
    assert.match(await other.command("UID EXPUNGE 2,7"), /\* 7 EXPUNGE\r\n\* 2 EXPUNGE\r\n/);
    assert.match(await other.command("UID STORE 4 +FLAGS.SILENT (\\Seen \\Answered)"), /OK/);
    // §3.2.10: VANISHED instead of EXPUNGE, for changes made elsewhere and for our own.
    assert.equal(
      await c.command("NOOP", "n1"),
      "* VANISHED 2,7\r\n* 3 FETCH (UID 4 FLAGS (\\Seen \\Answered \\Recent) MODSEQ (12))\r\nn1 OK NOOP completed\r\n",
    );
    assert.match(await c.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /\* 1 FETCH \(UID 1 MODSEQ \(13\)\)/);
    assert.equal(
      await c.command("EXPUNGE", "x1"),
      "* VANISHED 1\r\nx1 OK [HIGHESTMODSEQ 14] EXPUNGE completed\r\n",
    );
    return { c, other, uidValidity };
  }

  /** RFC 8474 MAILBOXID of the fixture's INBOX (SELECT's response code). */
  let inboxObjectId = "";
  const header = (uidValidity: number, readOnly = false): string =>
    "* OK [CLOSED] Previous mailbox closed\r\n* 5 EXISTS\r\n* 0 RECENT\r\n" +
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" +
    (readOnly
      ? "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n"
      : "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n") +
    `* OK [UIDVALIDITY ${uidValidity}] UIDs valid\r\n* OK [UIDNEXT 9] Predicted next UID\r\n` +
    `* OK [MAILBOXID (${inboxObjectId})] Ok\r\n` +
    "* OK [UNSEEN 1] First unseen\r\n* OK [HIGHESTMODSEQ 14] Highest\r\n";

  test("SELECT (QRESYNC (uidvalidity modseq known-uids)): VANISHED (EARLIER) and changed flags", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { c, other, uidValidity } = await resyncFixture();
    try {
      // §3.2.5.1 example "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,...))":
      // [CLOSED] for the mailbox left, VANISHED (EARLIER) for known UIDs expunged since,
      // then FETCH (UID FLAGS MODSEQ) for those changed since.
      assert.equal(
        await c.command(`SELECT INBOX (QRESYNC (${uidValidity} 9 1:8))`, "A02"),
        `${header(uidValidity)}* VANISHED (EARLIER) 1:2,7\r\n` +
          "* 2 FETCH (UID 4 FLAGS (\\Seen \\Answered) MODSEQ (12))\r\nA02 OK [READ-WRITE] SELECT completed\r\n",
      );
      // Only UIDs the client names in known-uids are reported as vanished.
      assert.equal(
        await c.command(`SELECT INBOX (QRESYNC (${uidValidity} 9 3:8))`, "A03"),
        `${header(uidValidity)}* VANISHED (EARLIER) 7\r\n` +
          "* 2 FETCH (UID 4 FLAGS (\\Seen \\Answered) MODSEQ (12))\r\nA03 OK [READ-WRITE] SELECT completed\r\n",
      );
      // Without known-uids: every UID expunged since the MODSEQ.
      assert.equal(
        await c.command(`SELECT INBOX (QRESYNC (${uidValidity} 9))`, "A04"),
        `${header(uidValidity)}* VANISHED (EARLIER) 1:2,7\r\n` +
          "* 2 FETCH (UID 4 FLAGS (\\Seen \\Answered) MODSEQ (12))\r\nA04 OK [READ-WRITE] SELECT completed\r\n",
      );
      // §3.2.5.2 sequence-match data: ignored (the expunge log is complete, so the
      // answer above is already exact); EXAMINE works the same way.
      assert.equal(
        await c.command(`EXAMINE INBOX (QRESYNC (${uidValidity} 9 1:8 (1:3 1:3)))`, "A05"),
        `${header(uidValidity, true)}* VANISHED (EARLIER) 1:2,7\r\n` +
          "* 2 FETCH (UID 4 FLAGS (\\Seen \\Answered) MODSEQ (12))\r\nA05 OK [READ-ONLY] EXAMINE completed\r\n",
      );
      // Nothing changed since the current HIGHESTMODSEQ: no VANISHED, no FETCH.
      assert.equal(
        await c.command(`SELECT INBOX (QRESYNC (${uidValidity} 14 1:8))`, "A06"),
        `${header(uidValidity)}A06 OK [READ-WRITE] SELECT completed\r\n`,
      );
      // §3.2.5: a UIDVALIDITY mismatch means the client's cache is void: a plain SELECT.
      assert.equal(
        await c.command(`SELECT INBOX (QRESYNC (${uidValidity + 1} 9 1:8))`, "A07"),
        `${header(uidValidity)}A07 OK [READ-WRITE] SELECT completed\r\n`,
      );
      // "*" is not allowed in known-uids.
      assert.match(await c.command(`SELECT INBOX (QRESYNC (${uidValidity} 9 1:*))`), /t\d+ BAD/);
    } finally {
      c.close();
      other.close();
    }
  });

  test("UID FETCH (CHANGEDSINCE m VANISHED); QRESYNC SELECT requires ENABLE", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { c, other, uidValidity } = await resyncFixture();
    try {
      // §3.2.6 example "A22 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)".
      assert.equal(
        await c.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 9 VANISHED)", "A22"),
        "* VANISHED (EARLIER) 1:2,7\r\n* 2 FETCH (UID 4 FLAGS (\\Seen \\Answered \\Recent) MODSEQ (12))\r\n" +
          "A22 OK FETCH completed\r\n",
      );
      // VANISHED (EARLIER) is limited to the UID range of the command.
      assert.equal(
        await c.command("UID FETCH 5:8 (FLAGS) (CHANGEDSINCE 9 VANISHED)", "A23"),
        "* VANISHED (EARLIER) 7\r\nA23 OK FETCH completed\r\n",
      );
      assert.equal(
        await c.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 9)", "A24"),
        "* 2 FETCH (UID 4 FLAGS (\\Seen \\Answered \\Recent) MODSEQ (12))\r\nA24 OK FETCH completed\r\n",
      );
      // VANISHED needs a UID FETCH.
      assert.match(
        await c.command("FETCH 1:* (FLAGS) (CHANGEDSINCE 9 VANISHED)"),
        /t\d+ BAD VANISHED requires UID FETCH with CHANGEDSINCE/,
      );
      // §3.2.3: QRESYNC must be enabled before the SELECT that uses it.
      const fresh = other;
      assert.match(await fresh.command("UNSELECT"), /OK/);
      assert.equal(
        await fresh.command(`SELECT INBOX (QRESYNC (${uidValidity} 9 1:8))`, "q1"),
        "q1 BAD QRESYNC is not enabled\r\n",
      );
      // ENABLE is valid only in the authenticated state (RFC 5161 §3.1).
      assert.match(await c.command("ENABLE QRESYNC"), /t\d+ BAD ENABLE is not valid in the selected state/);
    } finally {
      c.close();
      other.close();
    }
  });

  test("IDLE after ENABLE QRESYNC: VANISHED, not EXPUNGE, for another session's expunge", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { c, other } = await mailbox(3);
    try {
      assert.match(await c.command("ENABLE QRESYNC"), /ENABLED QRESYNC/);
      assert.match(await c.command("SELECT INBOX"), /OK/);
      assert.match(await other.command("SELECT INBOX"), /OK/);
      c.write("idle IDLE\r\n");
      await c.readUntil((s) => s.includes("+ idling\r\n"));
      c.take();
      assert.match(await other.command("STORE 2 +FLAGS.SILENT (\\Deleted)"), /OK/);
      assert.match(await other.command("EXPUNGE"), /\* 2 EXPUNGE\r\n/);
      // No NATS here: the in-process bus wakes the IDLE session.
      const pushed = await c.readUntil((s) => s.includes("* VANISHED 2\r\n"), 15_000);
      assert.doesNotMatch(pushed, /EXPUNGE/);
      c.write("DONE\r\n");
      assert.match(await c.response("idle"), /idle OK IDLE terminated/);
      assert.deepEqual(untaggedLines(await c.command("UID FETCH 1:* (UID)")), [
        "* 1 FETCH (UID 1)",
        "* 2 FETCH (UID 3)",
      ]);
    } finally {
      c.close();
      other.close();
    }
  });
});
