/**
 * mailctl export / import (issue 22): an account's mail to and from mbox
 * (mboxrd) and maildir, streaming (one message in memory at a time),
 * resumable, and idempotent: an import skips content the mailbox already
 * holds (same stored bytes, so the same Message-ID and the same hash), and
 * an export continues where an interrupted one stopped.
 *
 * Every message goes in through libs/delivery (the one path into mailboxes:
 * blob, index, one transaction, event), with its flags and INTERNALDATE.
 */
import { createReadStream } from "node:fs";
import { open, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { BlobStore } from "@aerogram/blobstore";
import type { EventBus } from "@aerogram/events";
import type { Mailbox, Store } from "@aerogram/store";
import { BatchImporter } from "./batch-import.ts";
import { folderDir, MaildirWriter, maildirFolders, readMaildir } from "./maildir.ts";
import { mboxEntry, readMbox } from "./mbox.ts";

export interface TransferDeps {
  store: Store;
  blobs: BlobStore;
  events: EventBus;
}

export interface Progress {
  mailbox: string;
  done: number;
  /** Messages in the mailbox (export), or undefined when unknown (import). */
  total: number | undefined;
}

export interface ImportSummary {
  imported: number;
  duplicates: number;
  bytes: number;
  skipped: { where: string; reason: string }[];
  seconds: number;
}

export interface ExportSummary {
  exported: number;
  /** Already written by an earlier, interrupted run. */
  resumed: number;
  bytes: number;
  mailboxes: number;
  seconds: number;
}

async function accountId(store: Store, address: string): Promise<number> {
  const a = await store.accounts.byAddress(address);
  if (!a) throw new Error(`no account ${address}`);
  return a.id;
}

async function mailboxFor(store: Store, account: number, name: string): Promise<Mailbox> {
  return (await store.mailboxes.byName(account, name)) ?? (await store.mailboxes.create(account, name));
}

/** Imports an mbox file or a maildir tree into an account. */
export async function importMail(
  deps: TransferDeps,
  address: string,
  path: string,
  opts: { mailbox?: string; maxBytes: number; onProgress?: (p: Progress) => void },
): Promise<ImportSummary> {
  const started = performance.now();
  const account = await accountId(deps.store, address);
  const summary: ImportSummary = { imported: 0, duplicates: 0, bytes: 0, skipped: [], seconds: 0 };
  const importer = (mailbox: Mailbox) =>
    new BatchImporter<null>(deps, mailbox.id, (o) => {
      if ("duplicate" in o) summary.duplicates++;
      else {
        summary.imported++;
        summary.bytes += o.bytes;
      }
    });

  const st = await stat(path);
  if (st.isDirectory()) {
    const folders = await maildirFolders(path);
    if (folders.length === 0) throw new Error(`${path} is not a maildir (no cur/ or new/)`);
    for (const f of folders) {
      const name = f.mailbox === "INBOX" ? (opts.mailbox ?? "INBOX") : f.mailbox;
      const batch = importer(await mailboxFor(deps.store, account, name));
      let done = 0;
      for await (const item of readMaildir(f.dir, opts.maxBytes)) {
        if (!item.ok) summary.skipped.push({ where: item.file, reason: item.reason });
        else
          await batch.add({
            message: item.message,
            flags: item.flags,
            internalDate: item.internalDate,
            tag: null,
          });
        opts.onProgress?.({ mailbox: name, done: ++done, total: undefined });
      }
      await batch.flush();
    }
  } else {
    const name = opts.mailbox ?? "INBOX";
    const batch = importer(await mailboxFor(deps.store, account, name));
    let done = 0;
    for await (const item of readMbox(createReadStream(path), opts.maxBytes)) {
      if (!item.ok) summary.skipped.push({ where: `${path} message ${item.index + 1}`, reason: item.reason });
      else
        await batch.add({
          message: item.message,
          flags: [],
          internalDate: item.internalDate ?? new Date(),
          tag: null,
        });
      opts.onProgress?.({ mailbox: name, done: ++done, total: undefined });
    }
    await batch.flush();
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

const PAGE = 200;

interface MboxProgress {
  mailbox: string;
  uidValidity: number;
  lastUid: number;
  offset: number;
  exported: number;
}

/**
 * Exports one mailbox to an mbox file, or every mailbox (or one) to a
 * maildir tree. An mbox export keeps `<path>.progress` (the last UID and
 * the file length after it) while it runs: a second run cuts the file there
 * and continues. A maildir export skips UIDs whose files exist.
 */
export async function exportMail(
  deps: TransferDeps,
  address: string,
  path: string,
  opts: { format: "mbox" | "maildir"; mailbox?: string; onProgress?: (p: Progress) => void },
): Promise<ExportSummary> {
  const started = performance.now();
  const account = await accountId(deps.store, address);
  const all = await deps.store.mailboxes.list(account);
  const chosen = opts.mailbox ? all.filter((m) => m.name === opts.mailbox) : all;
  if (opts.mailbox && chosen.length === 0) throw new Error(`no mailbox ${opts.mailbox}`);
  const summary: ExportSummary = { exported: 0, resumed: 0, bytes: 0, mailboxes: 0, seconds: 0 };

  if (opts.format === "mbox") {
    const mailbox = opts.mailbox ? chosen[0]! : all.find((m) => m.name === "INBOX")!;
    const stateFile = `${path}.progress`;
    let state: MboxProgress = {
      mailbox: mailbox.name,
      uidValidity: mailbox.uidValidity,
      lastUid: 0,
      offset: 0,
      exported: 0,
    };
    try {
      const saved = JSON.parse(await readFile(stateFile, "utf8")) as MboxProgress;
      if (saved.mailbox === mailbox.name && saved.uidValidity === mailbox.uidValidity) state = saved;
    } catch {
      // No (or an unreadable) progress file: start from the beginning.
    }
    summary.resumed = state.exported;
    const fh = await open(path, state.offset > 0 ? "r+" : "w");
    try {
      await fh.truncate(state.offset);
      let position = state.offset;
      for (;;) {
        const rows = await deps.store.transfers.exportPage(mailbox.id, state.lastUid, PAGE);
        if (rows.length === 0) break;
        for (const r of rows) {
          const entry = mboxEntry(await deps.blobs.read(r.blobKey), r.internalDate);
          await fh.write(entry, 0, entry.length, position);
          position += entry.length;
          summary.exported++;
          summary.bytes += r.size;
          state.lastUid = r.uid;
          state.exported++;
          opts.onProgress?.({ mailbox: mailbox.name, done: state.exported, total: mailbox.messageCount });
        }
        await fh.sync();
        state.offset = position;
        await writeFile(stateFile, JSON.stringify(state));
      }
    } finally {
      await fh.close();
    }
    await rm(stateFile, { force: true });
    summary.mailboxes = 1;
  } else {
    for (const mailbox of chosen) {
      const writer = await MaildirWriter.open(folderDir(path, mailbox.name));
      let done = 0;
      try {
        for (let after = 0; ; ) {
          const rows = await deps.store.transfers.exportPage(mailbox.id, after, PAGE);
          if (rows.length === 0) break;
          for (const r of rows) {
            after = r.uid;
            done++;
            if (writer.has(r.uid)) {
              summary.resumed++;
              continue;
            }
            await writer.write(r.uid, await deps.blobs.read(r.blobKey), r.flags, r.internalDate);
            summary.exported++;
            summary.bytes += r.size;
            opts.onProgress?.({ mailbox: mailbox.name, done, total: mailbox.messageCount });
          }
        }
      } finally {
        await writer.close();
      }
      summary.mailboxes++;
    }
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}
