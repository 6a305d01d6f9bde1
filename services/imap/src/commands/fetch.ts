// FETCH / UID FETCH (RFC 9051 §6.4.5): every requested message's metadata in ONE
// query (ENVELOPE, BODYSTRUCTURE, BODY, FLAGS, dates, sizes, MODSEQ — never S3);
// BODY[section]<partial> and BINARY read only the byte ranges the MIME index names,
// prefetched a few messages ahead while earlier responses are written.
// BODY[...] without .PEEK (and RFC822, RFC822.TEXT, BINARY) sets \Seen and reports
// FLAGS (§6.4.5). CONDSTORE: MODSEQ item and CHANGEDSINCE; QRESYNC: VANISHED (RFC 7162).
import {
  atom,
  compressSequenceSet,
  dateTimeValue,
  type FetchCommand,
  type FetchItem,
  fetchResponse,
  fetchResponseName,
  flagList,
  type ImapValue,
  type ResponseChunk,
  rangesContain,
  rawData,
  resolveSequenceSet,
  responseCodes,
  untagged,
} from "@aerogram/imap-protocol";
import type { FetchRow } from "@aerogram/store";
import { columnBits } from "../fetch/message-cache.ts";
import {
  binaryValue,
  decodedPart,
  type StoredMime,
  sectionValue,
  toSectionSpec,
} from "../fetch/section-data.ts";
import { readerRows, updateFlagsAsReader } from "../private-seen.ts";
import { publishChange } from "../publish.ts";
import { selectedHas } from "../rights.ts";
import { emailIdValue, threadIdValue } from "../search/object-id.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

const PREFETCH = 8;
const ALL_COLUMNS = { envelope: true, bodyStructure: true, body: true, mime: true, preview: true };

function setsSeen(item: FetchItem): boolean {
  if (item.kind === "body-section" || item.kind === "binary") return !item.peek;
  return item.kind === "attribute" && (item.name === "RFC822" || item.name === "RFC822.TEXT");
}

function needsBlob(item: FetchItem): boolean {
  if (item.kind === "attribute")
    return item.name === "RFC822" || item.name === "RFC822.HEADER" || item.name === "RFC822.TEXT";
  return item.kind === "body-section" || item.kind === "binary" || item.kind === "binary-size";
}

export async function fetch(session: Session, command: FetchCommand): Promise<CommandResult> {
  const view = session.selected!;
  const { uids, invalid } = view.resolve(command.sequenceSet, command.uid, session.savedSearch);
  if (invalid) return { condition: "BAD", text: "Invalid sequence set" };
  if (command.vanished && (!command.uid || !session.qresync || command.changedSince === null)) {
    return { condition: "BAD", text: "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE" };
  }
  let items = [...command.items];
  if (command.changedSince !== null || items.some((i) => i.kind === "attribute" && i.name === "MODSEQ")) {
    await session.enableCondstore();
  }
  if (command.uid && !items.some((i) => i.kind === "attribute" && i.name === "UID")) {
    items = [{ kind: "attribute", name: "UID" }, ...items];
  }
  if (
    session.condstore &&
    command.changedSince !== null &&
    !items.some((i) => i.kind === "attribute" && i.name === "MODSEQ")
  ) {
    items.push({ kind: "attribute", name: "MODSEQ" });
  }
  const out: ResponseChunk[] = [];
  if (command.vanished && command.changedSince !== null) {
    const changes = await session.ctx.runtime.store.messages.changesSince(
      view.id,
      Number(command.changedSince),
    );
    const ranges =
      command.sequenceSet.kind === "ranges" ? resolveSequenceSet(command.sequenceSet, view.uidNext) : [];
    const gone = changes.expunged.filter((uid) => rangesContain(ranges, uid));
    if (gone.length)
      out.push(...untagged([atom("VANISHED"), atom("(EARLIER)"), atom(compressSequenceSet(gone))]));
  }
  const has = (name: string) => items.some((i) => i.kind === "attribute" && i.name === name);
  const columns = {
    envelope: has("ENVELOPE"),
    bodyStructure: has("BODYSTRUCTURE"),
    body: has("BODY"),
    mime: items.some(needsBlob),
    preview: items.some((i) => i.kind === "preview"),
    // RFC 8474 ids: THREADID can still change (null until threaded), so rows
    // that carry them bypass the message cache.
    objectIds: has("EMAILID") || has("THREADID"),
  };
  const bits = columnBits({ ...columns, savedDate: has("SAVEDATE") });
  const cache = session.ctx.messageCache;
  const cacheable = !columns.objectIds;
  // No MODSEQ asked (the view has none per message) and the view is current: the
  // rows are the cache's static part with the view's flags, no read at all.
  let rows =
    cacheable &&
    command.changedSince === null &&
    !has("MODSEQ") &&
    session.ctx.heads.current(view.id, view.modseq)
      ? rowsFromMemory(session, uids, bits)
      : null;
  if (!rows) {
    // A FETCH that needs some of the larger columns reads all of them for the
    // cache: clients vary the items (ENVELOPE now, BODYSTRUCTURE next), the
    // messages stay the same. One that needs none (FLAGS of 1:*) reads none.
    const widen = cacheable && bits !== 0 && cache.enabled;
    const read = await session.ctx.imapMessages.fetchRowsWithHead(
      view.id,
      uids,
      widen ? ALL_COLUMNS : columns,
    );
    view.knownHead = read.highestModseq;
    if (cacheable) cache.put(view.id, read.rows, widen ? columnBits(ALL_COLUMNS) : bits);
    rows = read.rows;
    await readerRows(session, view, rows);
  }
  const selected =
    command.changedSince === null ? rows : rows.filter((r) => r.modseq > Number(command.changedSince));
  // \Seen first, so the responses show the new flags.
  const flagsChanged = new Set<number>();
  if (!view.readOnly && items.some(setsSeen) && selectedHas(view, "s")) {
    const unseen = selected.filter((r) => (r.flags & 1) === 0).map((r) => r.uid);
    if (unseen.length) {
      const result = await updateFlagsAsReader(session, view, {
        mailboxId: view.id,
        uids: unseen,
        operation: "add",
        flags: ["\\Seen"],
        durable: session.ctx.limits.durableFlagWrites,
      });
      // The \Seen write moved the head; the lock it took says whether it was the only change.
      view.knownHead = null;
      view.ownWrite(result.updated.length ? result.modseq - 1 : result.modseq, result.modseq);
      const byUid = new Map(selected.map((r) => [r.uid, r]));
      for (const change of result.updated) {
        const row = byUid.get(change.uid);
        if (row) {
          row.flags = change.flags;
          row.modseq = change.modseq;
        }
        const seq = view.sequenceOf(change.uid);
        if (seq) view.setFlags(seq, change.flags, change.keywords);
        flagsChanged.add(change.uid);
      }
      if (result.updated.length) publishChange(session, view.id, "flags", result.modseq, [...flagsChanged]);
    }
  }
  if (has("FLAGS")) {
    // FLAGS and MODSEQ come from the same row, read now: the view takes the row's
    // flags, so a message another session changed is answered with its current
    // flags, never the view's older ones beside the row's newer MODSEQ (one
    // MODSEQ names one state of the metadata, RFC 7162 §3.1.1), and the sync after
    // the command doesn't report the change a second time.
    const keywordsBefore = view.knownKeywords.size;
    for (const r of selected) {
      const seq = view.sequenceOf(r.uid);
      if (seq && view.flagsDiffer(seq, r.flags, r.keywords)) view.setFlags(seq, r.flags, r.keywords);
    }
    // A keyword the client has not seen extends FLAGS first (RFC 9051 §7.3.5).
    if (view.knownKeywords.size !== keywordsBefore) out.push(...session.flagsResponses());
  }
  if (out.length) await session.send(out);
  const work = selected.map((row) => ({ row, values: null as Promise<ImapValue[]> | null }));
  const start = (i: number) => {
    const w = work[i];
    if (w && !w.values) {
      w.values = Promise.all(items.map((item) => blobValue(session, row(w), item)));
      w.values.catch(() => {}); // awaited below; this only prevents an unhandled rejection
    }
  };
  const row = (w: { row: FetchRow }) => w.row;
  for (let i = 0; i < work.length; i++) {
    for (let k = i; k < Math.min(work.length, i + PREFETCH); k++) start(k);
    const w = work[i]!;
    const seq = view.sequenceOf(w.row.uid);
    if (!seq) continue;
    const values = await w.values!;
    const pairs: [string, ImapValue][] = [];
    items.forEach((item, index) => {
      pairs.push([responseName(item), metadataValue(session, w.row, seq, item) ?? values[index]!]);
    });
    if (flagsChanged.has(w.row.uid) && !has("FLAGS"))
      pairs.push(["FLAGS", flagList(view.flagNames(seq, !session.rev2))]);
    await session.send(fetchResponse(seq, pairs, session.writerOptions));
  }
  if (rows.length < uids.length && command.changedSince === null) {
    // Messages another session expunged (their EXPUNGE is still deferred): RFC 2180
    // §4.1.3 allows OK without their data; the code tells the client why.
    return ok("Some messages were expunged", responseCodes.expungeIssued());
  }
  return ok("FETCH completed");
}

/**
 * FETCH rows without a read: each message's static columns from the message
 * cache, flags and keywords from the view (current: the caller checked
 * ctx.heads), MODSEQ unknown (0; not asked). UIDs another session expunged
 * (their EXPUNGE deferred) have no row, as the query would give none. Null
 * when some message is not in the cache with every column needed.
 */
function rowsFromMemory(session: Session, uids: readonly number[], columns: number): FetchRow[] | null {
  const view = session.selected!;
  const cache = session.ctx.messageCache;
  if (!cache.enabled) return null;
  const rows: FetchRow[] = [];
  for (const uid of uids) {
    if (view.pendingExpunges.has(uid)) continue;
    const seq = view.sequenceOf(uid);
    const row = seq ? cache.get(view.id, uid, columns) : undefined;
    if (!row) return null;
    const keywords = view.keywordsOf(uid);
    // Spelled out rather than spread: one object shape, no per-field copy loop (a hot path).
    rows.push({
      uid: row.uid,
      modseq: 0,
      flags: view.flagBits(seq),
      keywords: keywords.length ? keywords.slice() : [],
      internalDate: row.internalDate,
      savedDate: row.savedDate,
      size: row.size,
      blobKey: row.blobKey,
      envelope: row.envelope,
      bodyStructure: row.bodyStructure,
      body: row.body,
      mime: row.mime,
      preview: row.preview,
    });
  }
  return rows;
}

function responseName(item: FetchItem): string {
  return fetchResponseName(item);
}

/** Values that come from the row (null: look in the blob-derived values). */
function metadataValue(session: Session, row: FetchRow, seq: number, item: FetchItem): ImapValue | null {
  if (item.kind === "preview") return row.preview ?? null;
  if (item.kind !== "attribute") return null;
  const view = session.selected!;
  switch (item.name) {
    case "UID":
      return row.uid;
    case "FLAGS":
      return flagList(view.flagNames(seq, !session.rev2));
    case "INTERNALDATE":
      return dateTimeValue(row.internalDate);
    case "RFC822.SIZE":
      return row.size;
    case "ENVELOPE":
      return row.envelope ? rawData(row.envelope) : null;
    case "BODYSTRUCTURE":
      return row.bodyStructure ? rawData(row.bodyStructure) : null;
    case "BODY":
      return row.body ? rawData(row.body) : null;
    case "MODSEQ":
      return [row.modseq];
    case "SAVEDATE":
      return dateTimeValue(row.savedDate);
    case "EMAILID":
      return emailIdValue(row);
    case "THREADID":
      return threadIdValue(row);
    default:
      return null;
  }
}

async function blobValue(session: Session, row: FetchRow, item: FetchItem): Promise<ImapValue> {
  const blobs = session.ctx.runtime.blobs;
  const mime = row.mime as StoredMime | null;
  if (item.kind === "attribute") {
    if (!mime) return null;
    switch (item.name) {
      case "RFC822":
        return sectionValue(blobs, row.blobKey, mime, { part: [], text: "" });
      case "RFC822.HEADER":
        return sectionValue(blobs, row.blobKey, mime, { part: [], text: "HEADER" });
      case "RFC822.TEXT":
        return sectionValue(blobs, row.blobKey, mime, { part: [], text: "TEXT" });
      default:
        return null;
    }
  }
  if (!mime) return null;
  if (item.kind === "body-section") {
    return sectionValue(blobs, row.blobKey, mime, toSectionSpec(item.section, item.partial));
  }
  if (item.kind === "binary")
    return binaryValue(await decodedPart(blobs, row.blobKey, mime, item.part), item.partial);
  if (item.kind === "binary-size") return (await decodedPart(blobs, row.blobKey, mime, item.part)).length;
  return null;
}
