/**
 * The concurrent-mailbox checker's rule for a STORE's own answers
 * (imap-view.ts storeAnswerViolations), on responses taken from its traces.
 * Its earlier rule took the first FETCH of each target as the answer, also
 * after .SILENT, where the gateway sends no FLAGS answer and the first FETCH
 * is the sync's report of a later change by another session: it flagged
 * correct responses as "-FLAGS (X) answered FLAGS (X …)" (issue 17), which
 * looked like a race in the store's flag write.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseFetch, type StoreRequest, storeAnswerViolations } from "./imap-view.ts";

const fetches = (lines: string[]) => lines.map((l) => parseFetch(l)!).map((f) => ({ ...f, uid: f.uid }));
const none = new Set<number>();

test("after .SILENT a later change reported by the sync is not the STORE's answer", () => {
  // UID STORE 60:61 -FLAGS.SILENT (\Flagged \Answered): nothing to change (60 was
  // expunged, 61 had neither flag); another session's +FLAGS at MODSEQ 152 came after.
  const req: StoreRequest = {
    action: "-FLAGS",
    flags: ["\\Flagged", "\\Answered"],
    silent: true,
    uids: [60, 61],
    modified: none,
  };
  const out = fetches([
    "* 1 FETCH (UID 59 FLAGS (\\Answered \\Deleted $Chaos2) MODSEQ (151))",
    "* 2 FETCH (UID 61 FLAGS (\\Answered $Chaos1 \\Recent) MODSEQ (152))",
  ]);
  assert.deepEqual(storeAnswerViolations(req, out), []);
  // UID STORE 158,163,179 FLAGS.SILENT (\Seen \Flagged): 163 and 179 changed at 423,
  // 158 already had those flags; the sync then reports another session's change at 425.
  const replace: StoreRequest = {
    action: "FLAGS",
    flags: ["\\Seen", "\\Flagged"],
    silent: true,
    uids: [158, 163, 179],
    modified: none,
  };
  const answer = fetches([
    "* 9 FETCH (UID 163 MODSEQ (423))",
    "* 17 FETCH (UID 179 MODSEQ (423))",
    "* 8 FETCH (UID 158 FLAGS (\\Seen \\Answered \\Flagged) MODSEQ (425))",
  ]);
  assert.deepEqual(storeAnswerViolations(replace, answer), []);
});

test("a state at or below a .SILENT STORE's own MODSEQ that lacks its change is a violation", () => {
  const req: StoreRequest = {
    action: "FLAGS",
    flags: ["\\Seen", "\\Flagged"],
    silent: true,
    uids: [158, 163],
    modified: none,
  };
  // 158 reported at 420 < 423: a state this STORE saw under the lock, so it must satisfy the request.
  const out = fetches([
    "* 9 FETCH (UID 163 MODSEQ (423))",
    "* 8 FETCH (UID 158 FLAGS (\\Seen \\Answered \\Flagged) MODSEQ (420))",
  ]);
  assert.equal(storeAnswerViolations(req, out).length, 1);
  // And the state at its own MODSEQ must be its result.
  const own = fetches([
    "* 9 FETCH (UID 163 MODSEQ (423))",
    "* 9 FETCH (UID 163 FLAGS (\\Seen) MODSEQ (423))",
  ]);
  assert.match(storeAnswerViolations(req, own)[0]!, /UID 163 reported FLAGS \(\\Seen\) at MODSEQ 423/);
});

test("without .SILENT the first FETCH of each target is the answer and must show the change", () => {
  const req: StoreRequest = {
    action: "-FLAGS",
    flags: ["\\Answered"],
    silent: false,
    uids: [61, 62],
    modified: none,
  };
  const stale = fetches([
    "* 2 FETCH (UID 61 FLAGS (\\Answered $Chaos1) MODSEQ (150))",
    "* 3 FETCH (UID 62 FLAGS ($Chaos1) MODSEQ (153))",
  ]);
  assert.deepEqual(storeAnswerViolations(req, stale), [
    "-FLAGS (\\Answered) on UID 61 answered FLAGS (\\Answered $Chaos1)",
  ]);
  // The answer first, then the sync's report of a later change to the same message.
  const later = fetches([
    "* 2 FETCH (UID 61 FLAGS ($Chaos1) MODSEQ (153))",
    "* 3 FETCH (UID 62 FLAGS ($Chaos1) MODSEQ (153))",
    "* 2 FETCH (UID 61 FLAGS (\\Answered $Chaos1) MODSEQ (154))",
  ]);
  assert.deepEqual(storeAnswerViolations(req, later), []);
  // MODIFIED (UNCHANGEDSINCE failed): not stored, nothing to check.
  assert.deepEqual(storeAnswerViolations({ ...req, modified: new Set([61]) }, stale), []);
  // +FLAGS and FLAGS (\Recent is per session, not compared).
  assert.equal(storeAnswerViolations({ ...req, action: "+FLAGS", flags: ["\\Seen"] }, later).length, 2);
  assert.deepEqual(
    storeAnswerViolations(
      { ...req, action: "FLAGS", flags: ["$Chaos1"], uids: [61] },
      fetches(["* 2 FETCH (UID 61 FLAGS ($Chaos1 \\Recent) MODSEQ (153))"]),
    ),
    [],
  );
});
