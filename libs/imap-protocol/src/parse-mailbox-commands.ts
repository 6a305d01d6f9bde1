// Mailbox commands with optional parameter lists:
//   select = "SELECT" SP mailbox [select-params]            (RFC 9051 §6.3.2, RFC 7162 §3.2.5)
//   select-params = SP "(" select-param *(SP select-param) ")"
//   select-param  = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//                   [SP known-uids] [SP seq-match-data] ")"
//   seq-match-data = "(" known-sequence-set SP known-uid-set ")"
//   create = "CREATE" SP mailbox [SP "(" "USE" SP "(" [use-attr *(SP use-attr)] ")" ")"]
//                                                           (RFC 6154 §3)

import type { CreateCommand, QresyncParameters, SelectCommand } from "./ast.ts";
import type { CommandCursor } from "./cursor.ts";
import { parseSequenceSet } from "./parse-sequence-set.ts";

export function parseSelectArguments(
  cursor: CommandCursor,
  tag: string,
  name: "SELECT" | "EXAMINE",
): SelectCommand {
  cursor.sp();
  const mailbox = cursor.mailbox();
  let condstore = false;
  let qresync: QresyncParameters | null = null;
  if (cursor.acceptSp()) {
    cursor.expect("(");
    do {
      const parameter = cursor.atom("select parameter").toUpperCase();
      if (parameter === "CONDSTORE" && !condstore) {
        condstore = true;
      } else if (parameter === "QRESYNC" && !qresync) {
        cursor.sp();
        qresync = parseQresync(cursor);
      } else {
        cursor.fail(`Unknown or repeated select parameter ${parameter}`);
      }
    } while (cursor.acceptSp());
    cursor.expect(")");
  }
  return { tag, name, uid: false, mailbox, condstore, qresync };
}

function parseQresync(cursor: CommandCursor): QresyncParameters {
  cursor.expect("(");
  const uidValidity = cursor.nzNumber("UIDVALIDITY");
  cursor.sp();
  const modseq = cursor.modseq("mod-sequence value");
  let knownUids = null;
  let sequenceMatch = null;
  if (cursor.acceptSp() && cursor.peek() !== 0x28 /* ( */) {
    // RFC 7162 §3.2.5: "*" is not allowed in known-uids.
    knownUids = parseSequenceSet(cursor, { allowSaved: false, allowStar: false });
    cursor.acceptSp();
  }
  if (cursor.accept("(")) {
    const sequenceNumbers = parseSequenceSet(cursor, { allowSaved: false, allowStar: false });
    cursor.sp();
    const uids = parseSequenceSet(cursor, { allowSaved: false, allowStar: false });
    cursor.expect(")");
    sequenceMatch = { sequenceNumbers, uids };
  }
  cursor.expect(")");
  return { uidValidity, modseq, knownUids, sequenceMatch };
}

const USE_ATTRIBUTES = ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"];
const CANONICAL_USE_ATTRIBUTE = new Map(USE_ATTRIBUTES.map((a) => [a.toUpperCase(), a]));

export function parseCreateArguments(cursor: CommandCursor, tag: string): CreateCommand {
  cursor.sp();
  const mailbox = cursor.mailbox();
  const specialUse: string[] = [];
  if (cursor.acceptSp()) {
    cursor.expect("(");
    do {
      const parameter = cursor.atom("create parameter").toUpperCase();
      if (parameter !== "USE") cursor.fail(`Unknown create parameter ${parameter}`);
      cursor.sp();
      cursor.expect("(");
      if (!cursor.accept(")")) {
        do {
          cursor.expect("\\");
          const attribute = `\\${cursor.atom("special-use attribute")}`;
          const canonical = CANONICAL_USE_ATTRIBUTE.get(attribute.toUpperCase()) ?? attribute;
          if (!specialUse.includes(canonical)) specialUse.push(canonical);
        } while (cursor.acceptSp());
        cursor.expect(")");
      }
    } while (cursor.acceptSp());
    cursor.expect(")");
  }
  return { tag, name: "CREATE", uid: false, mailbox, specialUse };
}
