/**
 * Raw protocol scripts over a real socket: every command, and bad input
 * (unknown commands, bad sequence sets, unbalanced parentheses, a 1 GB literal
 * announcement, non-UTF-8 and invalid modified UTF-7 names, wrong-state commands).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

async function loggedIn(
  opts: { quotaBytes?: number } = {},
): Promise<{ client: RawClient; user: string; pass: string; id: number }> {
  const account = await createAccount(fixture.gateway.runtime);
  if (opts.quotaBytes !== undefined)
    await fixture.gateway.runtime.store.accounts.setQuota(account.id, opts.quotaBytes);
  const client = await RawClient.connect(fixture.gateway.port);
  assert.match(
    await client.login(account.user, account.pass),
    /t\d+ OK \[CAPABILITY .*IMAP4rev2.*\] Logged in/,
  );
  return { client, ...account };
}

async function appendMessage(client: RawClient, mailbox: string, text: string, flags = ""): Promise<string> {
  client.write(
    `ap APPEND ${mailbox} ${flags ? `(${flags}) ` : ""}{${Buffer.byteLength(text)}+}\r\n${text}\r\n`,
  );
  return client.response("ap");
}

describe("not authenticated", () => {
  test("greeting, CAPABILITY, NOOP, ID and wrong-state commands", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const client = await RawClient.connect(fixture.gateway.port);
    try {
      const caps = await client.command("CAPABILITY");
      assert.match(caps, /\* CAPABILITY IMAP4rev1 IMAP4rev2 .*AUTH=PLAIN AUTH=LOGIN/);
      assert.match(await client.command("NOOP"), /OK NOOP/);
      assert.match(await client.command('ID ("name" "test")'), /\* ID \("name" "Aerogram"/);
      assert.match(
        await client.command("SELECT INBOX"),
        /t\d+ BAD SELECT is not valid in the not-authenticated state/,
      );
      assert.match(await client.command("FETCH 1 FLAGS"), /BAD/);
      assert.match(await client.command("ENABLE IMAP4rev2"), /BAD/);
      assert.match(await client.command("STARTTLS"), /BAD STARTTLS is not available/);
      client.write("up APPEND INBOX {100000}\r\n");
      const upload = await client.response("up");
      assert.doesNotMatch(upload, /^\+/m, "no continuation for an anonymous upload");
      assert.match(upload, /up NO \[TOOBIG\]/);
      assert.match(await client.command("AUTHENTICATE CRAM-MD5"), /NO \[CANNOT\]/);
      assert.match(await client.command('LOGIN "nobody@example.org" "x"'), /NO \[AUTHENTICATIONFAILED\]/);
      assert.match(await client.command("LOGOUT"), /\* BYE Logging out\r\nt\d+ OK LOGOUT completed/);
      await client.readUntil(() => client.closed);
      assert.ok(client.closed);
    } finally {
      client.close();
    }
  });

  test("AUTHENTICATE PLAIN with SASL-IR, and with a continuation; LOGIN mechanism", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const account = await createAccount(fixture.gateway.runtime);
    const plain = Buffer.from(`\0${account.user}\0${account.pass}`).toString("base64");
    const a = await RawClient.connect(fixture.gateway.port);
    assert.match(await a.command(`AUTHENTICATE PLAIN ${plain}`), /OK \[CAPABILITY/);
    a.close();

    const b = await RawClient.connect(fixture.gateway.port);
    b.write("p1 AUTHENTICATE PLAIN\r\n");
    await b.readUntil((s) => s.startsWith("+ "));
    b.take();
    b.write(`${plain}\r\n`);
    assert.match(await b.response("p1"), /p1 OK/);
    b.close();

    const c = await RawClient.connect(fixture.gateway.port);
    c.write("l1 AUTHENTICATE LOGIN\r\n");
    await c.readUntil((s) => s.includes("+ VXNlcm5hbWU6"));
    c.take();
    c.write(`${Buffer.from(account.user).toString("base64")}\r\n`);
    await c.readUntil((s) => s.includes("+ UGFzc3dvcmQ6"));
    c.take();
    c.write(`${Buffer.from(account.pass).toString("base64")}\r\n`);
    assert.match(await c.response("l1"), /l1 OK/);
    c.close();

    const d = await RawClient.connect(fixture.gateway.port);
    d.write("x1 AUTHENTICATE PLAIN\r\n");
    await d.readUntil((s) => s.startsWith("+ "));
    d.write("*\r\n");
    assert.match(await d.response("x1"), /x1 BAD Authentication cancelled/);
    d.close();
  });
});

describe("bad input", () => {
  test("unknown commands, bad sequence sets, unbalanced parentheses, bad tags", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      assert.match(await client.command("FROBNICATE"), /t\d+ BAD .*Unknown command FROBNICATE/);
      assert.match(await client.command("SELECT INBOX"), /OK \[READ-WRITE\]/);
      assert.match(await client.command("FETCH 0 FLAGS"), /t\d+ BAD/);
      assert.match(await client.command("FETCH 1:x FLAGS"), /t\d+ BAD/);
      assert.match(await client.command("FETCH 5 FLAGS"), /t\d+ BAD Invalid sequence set/);
      assert.match(await client.command("FETCH 1 (FLAGS UID"), /t\d+ BAD/);
      assert.match(await client.command("SEARCH (OR SEEN"), /t\d+ BAD/);
      assert.match(await client.command("STORE 1 +FLAGS (\\Seen"), /t\d+ BAD/);
      client.write("\r\n");
      client.write("* NOOP\r\n");
      assert.match(await client.readUntil((s) => s.includes("BAD")), /\* BAD/);
      client.take();
      assert.match(await client.command("UID FETCH 1:* FLAGS"), /OK/);
      assert.match(await client.command("NOOP"), /OK/);
    } finally {
      client.close();
    }
  });

  test("a 1 GB literal announcement is refused without reading it", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      client.write("big APPEND INBOX {1073741824}\r\n");
      const reply = await client.response("big");
      assert.match(reply, /big NO \[TOOBIG\]/);
      assert.doesNotMatch(reply, /^\+/m);
      // The connection is still usable: the literal was never expected.
      assert.match(await client.command("NOOP"), /OK NOOP/);
      // A non-synchronizing one is on its way already (RFC 7888 §4): refused and the
      // connection closed at once, before the client has sent a single octet of it.
      client.write("big2 APPEND INBOX {1073741824+}\r\n");
      const refusal = await client.readUntil(() => client.closed);
      assert.match(refusal, /^big2 (NO|BAD) \[TOOBIG\][^\r\n]*\r\n\* BYE \[TOOBIG\]/);
      assert.ok(client.closed, "the server closed the connection");
    } finally {
      client.close();
    }
  });

  test("APPEND of a message larger than the account's whole quota is refused before the literal", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn({ quotaBytes: 10_000 });
    try {
      client.write("q1 APPEND INBOX {20000}\r\n");
      const reply = await client.response("q1");
      assert.match(reply, /q1 NO \[TOOBIG\]/);
      assert.doesNotMatch(reply, /^\+/m, "no continuation");
      const small = "Subject: fits\r\n\r\nhello\r\n";
      client.write(`q2 APPEND INBOX {${small.length}+}\r\n${small}\r\n`);
      assert.match(await client.response("q2"), /q2 OK \[APPENDUID/, "the session goes on");
    } finally {
      client.close();
    }
  });

  test("non-UTF-8 and invalid modified UTF-7 mailbox names", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      client.write(
        Buffer.concat([Buffer.from('n1 CREATE "'), Buffer.from([0xff, 0xfe]), Buffer.from('"\r\n')]),
      );
      assert.match(await client.response("n1"), /n1 (NO|BAD)/);
      assert.match(await client.command("CREATE &Jjo!-"), /NO \[CANNOT\]/);
      assert.match(await client.command("SELECT &AGE-"), /NO \[CANNOT\]/);
      // Valid modified UTF-7 round-trips: "Entwürfe" is Entw&APw-rfe.
      assert.match(await client.command("CREATE Entw&APw-rfe"), /OK/);
      assert.match(
        await client.command('LIST "" "Entw*"'),
        /\* LIST \(\\HasNoChildren\) "\/" "?Entw&APw-rfe"?/,
      );
      assert.match(await client.command("ENABLE UTF8=ACCEPT"), /\* ENABLED UTF8=ACCEPT/);
      const utf8List = Buffer.from(await client.command('LIST "" "Entw*"'), "latin1").toString("utf8");
      assert.match(utf8List, /\* LIST \(\\HasNoChildren\) "\/" "Entwürfe"/);
      client.write(
        Buffer.concat([Buffer.from('n2 SELECT "'), Buffer.from([0xc3, 0x28]), Buffer.from('"\r\n')]),
      );
      assert.match(await client.response("n2"), /n2 BAD .*UTF-8/);
    } finally {
      client.close();
    }
  });
});

describe("authenticated and selected commands", () => {
  test("mailbox management: CREATE, LIST variants, RENAME, DELETE, SUBSCRIBE, STATUS, NAMESPACE, quota", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      assert.match(
        await client.command("NAMESPACE"),
        /\* NAMESPACE \(\(""\s"\/"\)\) \(\("Other Users\/" "\/"\)\) \(\("Shared\/" "\/"\)\)/,
      );
      assert.match(await client.command('LIST "" ""'), /\* LIST \(\\Noselect\) "\/" ""/);
      assert.match(await client.command("CREATE Projects/2024/"), /OK \[MAILBOXID \(M\d+\)\] CREATE/);
      assert.match(await client.command("CREATE Projects/2024"), /NO \[ALREADYEXISTS\]/);
      assert.match(await client.command("CREATE INBOX"), /NO \[ALREADYEXISTS\]/);
      const percent = await client.command('LIST "" "%"');
      assert.match(percent, /\* LIST \(\\HasChildren\) "\/" "?Projects"?/);
      assert.doesNotMatch(percent, /Projects\/2024/);
      assert.match(await client.command('LIST "Projects/" "*"'), /Projects\/2024/);
      assert.match(await client.command('LIST (SPECIAL-USE) "" "*"'), /\\Sent/);
      const extended = await client.command(
        'LIST "" "*" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN))',
      );
      assert.match(extended, /\* LIST \(\\HasNoChildren \\Subscribed\) "\/" "INBOX"/);
      assert.match(extended, /\* STATUS "?INBOX"? \(MESSAGES 0 UNSEEN 0\)/);
      assert.match(await client.command('XLIST "" "*"'), /\* XLIST \(\\HasNoChildren \\Inbox\) "\/" "INBOX"/);
      assert.match(await client.command("SUBSCRIBE Projects/2024"), /OK/);
      assert.match(await client.command('LSUB "" "Proj*"'), /\* LSUB \(\) "\/" "?Projects\/2024"?/);
      assert.match(await client.command("UNSUBSCRIBE Projects/2024"), /OK/);
      assert.doesNotMatch(await client.command('LSUB "" "Proj*"'), /Projects\/2024/);
      assert.match(await client.command("RENAME Projects Work"), /OK RENAME/);
      const afterRename = await client.command('LIST "" "*"');
      assert.match(afterRename, /"?Work\/2024"?/);
      assert.doesNotMatch(afterRename, /Projects/);
      assert.match(await client.command("RENAME Nope Other"), /NO \[NONEXISTENT\]/);
      assert.match(await client.command("RENAME Work Sent"), /NO \[ALREADYEXISTS\]/);
      assert.match(await client.command("DELETE INBOX"), /NO/);
      assert.match(await client.command("DELETE Work/2024"), /OK DELETE/);
      assert.match(await client.command("STATUS Nope (MESSAGES)"), /NO \[NONEXISTENT\]/);
      assert.match(
        await client.command(
          "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ DELETED)",
        ),
        /\* STATUS "?INBOX"? \(MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 SIZE 0 HIGHESTMODSEQ \d+ DELETED 0\)/,
      );
      // Subscriptions of names without a mailbox survive, and outlive DELETE (RFC 9051 §6.3.5, §6.3.7).
      assert.match(await client.command("SUBSCRIBE Ghost"), /OK/);
      assert.match(await client.command('LSUB "" "Ghost"'), /\* LSUB \(\) "\/" "?Ghost"?/);
      assert.match(
        await client.command('LIST (SUBSCRIBED) "" "Ghost"'),
        /\* LIST \(\\NonExistent \\HasNoChildren \\Subscribed\) "\/" "?Ghost"?/,
      );
      assert.doesNotMatch(await client.command('LIST "" "Ghost"'), /\* LIST/);
      assert.match(await client.command("CREATE Ghost"), /OK/);
      assert.match(await client.command('LIST "" "Ghost" RETURN (SUBSCRIBED)'), /\\Subscribed/);
      assert.match(await client.command("DELETE Ghost"), /OK/);
      assert.match(await client.command('LSUB "" "Ghost"'), /\* LSUB \(\) "\/" "?Ghost"?/);
      assert.match(await client.command("UNSUBSCRIBE Ghost"), /OK/);
      assert.doesNotMatch(await client.command('LSUB "" "Ghost"'), /\* LSUB/);
      assert.match(await client.command("GETQUOTAROOT INBOX"), /\* QUOTAROOT "?INBOX"? ""/);
      assert.match(await client.command('GETQUOTA ""'), /\* QUOTA "" \(\)/);
    } finally {
      client.close();
    }
  });

  test("INBOX rename moves its messages to the new mailbox and leaves INBOX empty", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      assert.match(await appendMessage(client, "INBOX", message("keep me")), /OK \[APPENDUID \d+ 1\]/);
      assert.match(await client.command("RENAME INBOX Old-Inbox"), /OK/);
      assert.match(await client.command("STATUS INBOX (MESSAGES)"), /MESSAGES 0/);
      assert.match(await client.command("STATUS Old-Inbox (MESSAGES)"), /MESSAGES 1/);
      assert.match(await client.command("SELECT Old-Inbox"), /\* 1 EXISTS/);
      assert.match(await client.command("FETCH 1 ENVELOPE"), /"keep me"/);
    } finally {
      client.close();
    }
  });

  test("APPEND (flags, date, MULTIAPPEND, TRYCREATE), SELECT/EXAMINE, FETCH items, STORE, SEARCH, COPY, MOVE, EXPUNGE", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      assert.match(await appendMessage(client, "Nope", message("x")), /NO \[TRYCREATE\]/);
      const m1 = message("alpha", "first body line\r\n");
      const m2 = message("beta", "second body text\r\n");
      client.write(
        `m1 APPEND INBOX (\\Seen $Label) "01-Feb-2024 10:00:00 +0100" {${m1.length}+}\r\n${m1} () {${m2.length}+}\r\n${m2}\r\n`,
      );
      assert.match(await client.response("m1"), /m1 OK \[APPENDUID \d+ 1:2\]/);
      assert.match(
        await appendMessage(client, "INBOX", message("gamma", "third\r\n"), "\\Flagged"),
        /APPENDUID \d+ 3/,
      );

      const examine = await client.command("EXAMINE INBOX");
      assert.match(examine, /\* 3 EXISTS/);
      assert.match(examine, /\* 3 RECENT/);
      assert.match(examine, /OK \[READ-ONLY\]/);
      assert.match(await client.command("STORE 1 +FLAGS (\\Deleted)"), /NO .*read-only/i);
      const select = await client.command("SELECT INBOX");
      assert.match(select, /\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \$Label\)/);
      assert.match(select, /\* OK \[PERMANENTFLAGS \(.*\\\*\)\]/);
      assert.match(select, /\* OK \[UIDNEXT 4\]/);
      assert.match(select, /\* OK \[UNSEEN 2\]/);

      const fetched = await client.command(
        "FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE)",
      );
      assert.match(
        fetched,
        /\* 1 FETCH \(UID 1 FLAGS \(\\Seen \$Label( \\Recent)?\) INTERNALDATE " 1-Feb-2024 09:00:00 \+0000" RFC822\.SIZE \d+ ENVELOPE \(/,
      );
      assert.match(fetched, /BODY \("text" "plain"/);
      assert.match(
        await client.command("FETCH 1 FAST"),
        /\* 1 FETCH \(FLAGS .* INTERNALDATE .* RFC822\.SIZE \d+\)/,
      );
      assert.match(
        await client.command("FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]"),
        /BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{17\}\r\nSubject: beta\r\n\r\n/,
      );
      assert.match(await client.command("FETCH 2 (FLAGS)"), /\\Seen/, "BODY[...] without PEEK set \\Seen");
      assert.match(await client.command("FETCH 3 BODY.PEEK[TEXT]<0.5>"), /BODY\[TEXT\]<0> \{5\}\r\nthird\)/);
      assert.doesNotMatch(await client.command("FETCH 3 FLAGS"), /\\Seen/);
      assert.match(await client.command("FETCH 3 RFC822.HEADER"), /RFC822\.HEADER \{\d+\}\r\nFrom: Alice/);
      assert.match(await client.command("FETCH 1 BODY.PEEK[1.MIME]"), /BODY\[1\.MIME\]/);
      assert.match(
        await client.command("FETCH 1 BINARY.PEEK[1]"),
        /BINARY\[1\] \{17\}\r\nfirst body line\r\n/,
      );
      assert.match(await client.command("FETCH 1 BINARY.SIZE[1]"), /BINARY\.SIZE\[1\] 17/);
      assert.match(await client.command("UID FETCH 2:* (FLAGS)"), /\* 2 FETCH \(UID 2 FLAGS/);
      assert.match(
        await client.command("FETCH 1 (MODSEQ)"),
        /\* OK \[HIGHESTMODSEQ \d+\][\s\S]*\* 1 FETCH \(MODSEQ \(\d+\)\)/,
      );

      assert.match(
        await client.command("STORE 3 +FLAGS (\\Answered)"),
        /\* 3 FETCH \(FLAGS \(\\Answered \\Flagged[^)]*\) MODSEQ/,
      );
      assert.doesNotMatch(await client.command("STORE 3 +FLAGS.SILENT (\\Draft)"), /FLAGS \(/);
      assert.match(await client.command("STORE 3 FLAGS.SILENT (\\Flagged)"), /OK/);
      assert.match(await client.command("UID STORE 3 -FLAGS (\\Flagged)"), /\* 3 FETCH \(UID 3 FLAGS \(/);
      assert.match(
        await client.command("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)"),
        /OK \[MODIFIED 1\]/,
      );

      assert.match(await client.command("SEARCH ALL"), /\* SEARCH 1 2 3/);
      assert.match(await client.command("SEARCH SUBJECT beta"), /\* SEARCH 2\r\n/);
      assert.match(await client.command('SEARCH BODY "second body"'), /\* SEARCH 2\r\n/);
      assert.match(await client.command("SEARCH TEXT alpha"), /\* SEARCH 1\r\n/);
      assert.match(await client.command("SEARCH KEYWORD $Label"), /\* SEARCH 1\r\n/);
      assert.match(await client.command("SEARCH OR SUBJECT alpha SUBJECT gamma"), /\* SEARCH 1 3\r\n/);
      assert.match(await client.command("SEARCH NOT FROM alice"), /\* SEARCH\r\n/);
      assert.match(await client.command("SEARCH HEADER Message-ID beta"), /\* SEARCH 2\r\n/);
      assert.match(await client.command("SEARCH SENTON 7-Feb-1994"), /\* SEARCH 1 2 3\r\n/);
      assert.match(await client.command("SEARCH BEFORE 2-Feb-2024"), /\* SEARCH 1\r\n/);
      assert.match(await client.command("SEARCH LARGER 1 SMALLER 100000 2:3"), /\* SEARCH 2 3\r\n/);
      assert.match(await client.command("UID SEARCH UID 2:*"), /\* SEARCH 2 3\r\n/);
      assert.match(await client.command("SEARCH CHARSET KOI8-R ALL"), /NO \[BADCHARSET/);
      assert.match(
        await client.command("UID SEARCH RETURN (MIN MAX COUNT ALL) ALL"),
        /\* ESEARCH \(TAG "t\d+"\) UID MIN 1 MAX 3 ALL 1:3 COUNT 3/,
      );
      assert.match(await client.command("SEARCH RETURN (SAVE) SUBJECT gamma"), /OK/);
      assert.match(await client.command("FETCH $ (UID)"), /\* 3 FETCH \(UID 3\)/);

      assert.match(await client.command("COPY 1:2 Archive"), /OK \[COPYUID \d+ 1:2 1:2\] COPY/);
      assert.match(await client.command("COPY 1 Nope"), /NO \[TRYCREATE\]/);
      const move = await client.command("UID MOVE 3 Trash");
      assert.match(move, /\* OK \[COPYUID \d+ 3 1\][\s\S]*\* 3 EXPUNGE/);
      assert.match(await client.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
      assert.match(await client.command("EXPUNGE"), /\* 1 EXPUNGE\r\n/);
      assert.match(await client.command("NOOP"), /OK/);
      assert.match(await client.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
      assert.match(await client.command("UID EXPUNGE 1"), /OK/, "UID EXPUNGE of an absent UID does nothing");
      assert.match(await client.command("CLOSE"), /OK CLOSE/);
      assert.match(await client.command("STATUS INBOX (MESSAGES)"), /MESSAGES 0/);
      assert.match(await client.command("SELECT Archive"), /\* 2 EXISTS/);
      assert.match(await client.command("UNSELECT"), /OK UNSELECT/);
      assert.match(await client.command("FETCH 1 FLAGS"), /BAD/);
      assert.match(await client.command("CHECK"), /BAD/);
    } finally {
      client.close();
    }
  });

  test("ENABLE IMAP4rev2 drops \\Recent; QRESYNC SELECT reports VANISHED (EARLIER)", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      await appendMessage(client, "INBOX", message("one"));
      await appendMessage(client, "INBOX", message("two"));
      assert.match(
        await client.command("ENABLE IMAP4rev2 QRESYNC NOTHING"),
        /\* ENABLED IMAP4rev2 QRESYNC\r\n/,
      );
      const select = await client.command("SELECT INBOX");
      assert.doesNotMatch(select, /RECENT/);
      assert.match(select, /\* LIST \(\) "\/" "INBOX"/);
      const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(select)![1]);
      const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(select)![1]);
      assert.match(await client.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
      assert.match(await client.command("EXPUNGE"), /\* VANISHED 1\r\n/);
      assert.match(await client.command("UNSELECT"), /OK/);
      const resync = await client.command(`SELECT INBOX (QRESYNC (${uidValidity} ${modseq} 1:2))`);
      assert.match(resync, /\* VANISHED \(EARLIER\) 1\r\n/);
      assert.match(
        await client.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`),
        /VANISHED \(EARLIER\) 1/,
      );
    } finally {
      client.close();
    }
  });

  test("APPEND of a literal8 with NUL octets stores the part base64; BINARY returns the octets", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      const payload = Buffer.from([0x20, 0x2d, 0x00, 0xff, 0x0d, 0x0a]);
      const head =
        "From: a@example.org\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n";
      const data = Buffer.concat([Buffer.from(head), payload]);
      client.write(`b8 APPEND INBOX ~{${data.length}+}\r\n`);
      client.write(data);
      client.write("\r\n");
      assert.match(await client.response("b8"), /b8 OK \[APPENDUID/);
      assert.match(await client.command("SELECT INBOX"), /\* 1 EXISTS/);
      assert.match(await client.command("FETCH 1 BODY.PEEK[1]"), /BODY\[1\] \{8\}\r\nIC0A\/w0K\)/);
      const binary = await client.command("FETCH 1 BINARY.PEEK[1]");
      assert.ok(binary.includes(`BINARY[1] ~{6}\r\n${payload.toString("latin1")})`), binary);
    } finally {
      client.close();
    }
  });

  test("streamed APPEND of a large message, then a ranged partial FETCH", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const { client } = await loggedIn();
    try {
      const line = `${"0123456789".repeat(7)}ab\r\n`;
      const body = line.repeat(20_000); // ~1.4 MB: streamed, not buffered
      const text = message("large", body);
      client.write(`big APPEND INBOX {${text.length}}\r\n`);
      await client.readUntil((s) => s.startsWith("+ "));
      client.take();
      client.write(`${text}\r\n`);
      assert.match(await client.response("big"), /big OK \[APPENDUID/);
      assert.match(await client.command("SELECT INBOX"), /\* 1 EXISTS/);
      const partial = await client.command("FETCH 1 BODY.PEEK[TEXT]<720.36>");
      assert.ok(partial.includes(`BODY[TEXT]<720> {36}\r\n${body.slice(720, 756)})`), partial);
      const whole = await client.command("FETCH 1 BODY.PEEK[]");
      assert.ok(whole.includes(`{${text.length}}`));
      assert.ok(whole.includes(body.slice(-200)));
    } finally {
      client.close();
    }
  });
});
