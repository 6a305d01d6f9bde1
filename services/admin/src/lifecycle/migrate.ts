/**
 * `mailctl migrate` (issue 22): copies an account from another IMAP server,
 * every selectable folder with its hierarchy, special use, flags, keywords
 * and INTERNALDATEs, through libs/delivery like any other message.
 *
 * Resumable and incremental, like imapsync or `doveadm sync` one way: per
 * source folder the store keeps the UIDVALIDITY, the highest UID copied and
 * the source→our UID map (saved after every batch). A later run fetches only
 * UIDs above it and then brings the flags of the copied messages up to date;
 * a changed UIDVALIDITY starts the folder over, with the import's dedupe
 * (same stored bytes in the mailbox) keeping it from copying twice. A
 * dropped connection is retried from the saved state. Deletions on the
 * source are not propagated (a copy, not a two-way sync).
 */
import type { Mailbox, Store } from "@aerogram/store";
import { ImapFlow, type ListResponse } from "imapflow";
import { BatchImporter } from "./batch-import.ts";
import type { Progress, TransferDeps } from "./transfer.ts";

export interface MigrateOptions {
  /** imap://host:port or imaps://host:port */
  from: string;
  user: string;
  password: string;
  /** Accept any TLS certificate (a test server, a self-signed source). */
  tlsInsecure?: boolean;
  maxBytes: number;
  /** Messages fetched per batch (state saved after each). */
  batch?: number;
  /** Reconnects after a dropped connection before giving up (default 3). */
  retries?: number;
  onProgress?: (p: Progress) => void;
}

export interface MigrateSummary {
  folders: number;
  copied: number;
  /** Already in the target mailbox (same bytes): not copied again. */
  duplicates: number;
  /** Messages whose flags were brought up to date. */
  flagsUpdated: number;
  bytes: number;
  skipped: { where: string; reason: string }[];
  reconnects: number;
  seconds: number;
}

const SYSTEM_FLAGS = new Set(["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"]);

/** Flags as we store them: system flags and keywords, never \Recent. */
function flagList(flags: Set<string> | undefined): string[] {
  return [...(flags ?? [])].filter((f) => SYSTEM_FLAGS.has(f) || !f.startsWith("\\")).sort();
}

function ourName(folder: ListResponse): string {
  if (folder.path.toUpperCase() === "INBOX") return "INBOX";
  return folder.delimiter ? folder.path.split(folder.delimiter).join("/") : folder.path;
}

/** The source's canonical form for the state key: no credentials. */
function sourceKey(url: URL, user: string): string {
  return `${url.protocol}//${user}@${url.host}`;
}

async function targetMailbox(store: Store, account: number, folder: ListResponse): Promise<Mailbox> {
  const name = ourName(folder);
  const existing = await store.mailboxes.byName(account, name);
  if (existing) return existing;
  // A source "Sent Items" marked \Sent goes to our \Sent mailbox (RFC 6154), not a second one.
  if (folder.specialUse) {
    const same = (await store.mailboxes.list(account)).find((m) => m.specialUse === folder.specialUse);
    if (same) return same;
  }
  return store.mailboxes.create(account, name, folder.specialUse ?? null);
}

export async function migrateImap(
  deps: TransferDeps,
  address: string,
  opts: MigrateOptions,
): Promise<MigrateSummary> {
  const started = performance.now();
  const url = new URL(opts.from);
  if (url.protocol !== "imap:" && url.protocol !== "imaps:")
    throw new Error("--from is imap://host[:port] or imaps://host[:port]");
  const account = await deps.store.accounts.byAddress(address);
  if (!account) throw new Error(`no account ${address}`);
  const summary: MigrateSummary = {
    folders: 0,
    copied: 0,
    duplicates: 0,
    flagsUpdated: 0,
    bytes: 0,
    skipped: [],
    reconnects: 0,
    seconds: 0,
  };
  const retries = opts.retries ?? 3;
  const finished = new Set<string>();
  for (let attempt = 0; ; attempt++) {
    try {
      await migrateOnce(deps, account.id, url, opts, summary, finished);
      break;
    } catch (err) {
      if (attempt >= retries || !isConnectionError(err)) throw err;
      summary.reconnects++;
    }
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === "NoConnection" ||
    e?.code === "ECONNRESET" ||
    e?.code === "EPIPE" ||
    e?.code === "ECONNREFUSED" ||
    e?.code === "ETIMEOUT" ||
    /connection|socket|closed/i.test(e?.message ?? "")
  );
}

async function migrateOnce(
  deps: TransferDeps,
  accountId: number,
  url: URL,
  opts: MigrateOptions,
  summary: MigrateSummary,
  finished: Set<string>,
): Promise<void> {
  const secure = url.protocol === "imaps:";
  const client = new ImapFlow({
    host: url.hostname,
    port: Number(url.port) || (secure ? 993 : 143),
    secure,
    auth: { user: opts.user, pass: opts.password },
    logger: false,
    ...(opts.tlsInsecure ? { tls: { rejectUnauthorized: false } } : {}),
  });
  client.on("error", () => {});
  await client.connect();
  const source = sourceKey(url, opts.user);
  const batch = opts.batch ?? 100;
  try {
    const folders = (await client.list()).filter(
      (f) => !f.flags.has("\\Noselect") && !f.flags.has("\\NonExistent"),
    );
    for (const folder of folders) {
      if (finished.has(folder.path)) continue;
      const mailbox = await targetMailbox(deps.store, accountId, folder);
      const lock = await client.getMailboxLock(folder.path, { readOnly: true });
      try {
        const box = client.mailbox;
        if (!box) throw new Error(`could not select ${folder.path}`);
        const uidValidity = Number(box.uidValidity);
        let state = await deps.store.transfers.migrationState(accountId, source, folder.path);
        if (!state || state.uidValidity !== uidValidity) state = { uidValidity, lastUid: 0, uidMap: {} };
        let done = 0;

        // 1. Flags of what earlier runs copied.
        if (state.lastUid > 0 && box.exists > 0) {
          const want = new Map<string, number[]>();
          for await (const m of client.fetch(
            `1:${state.lastUid}`,
            { uid: true, flags: true },
            { uid: true },
          )) {
            const ours = state.uidMap[String(m.uid)];
            if (ours === undefined) continue;
            const key = flagList(m.flags).join(" ");
            want.set(key, [...(want.get(key) ?? []), ours]);
          }
          for (const [key, uids] of want) {
            const r = await deps.store.messages.updateFlags({
              mailboxId: mailbox.id,
              uids,
              operation: "set",
              flags: key ? key.split(" ") : [],
            });
            if (r.updated.length > 0) {
              summary.flagsUpdated += r.updated.length;
              deps.events.publish({
                account: accountId,
                mailbox: mailbox.id,
                kind: "flags",
                modseq: String(r.modseq),
                uids: r.updated.map((u) => u.uid),
              });
            }
          }
        }

        // 2. New messages, a batch at a time, the state saved after each.
        const importer = new BatchImporter<number>(deps, mailbox.id, (o) => {
          if ("duplicate" in o) summary.duplicates++;
          else {
            state.uidMap[String(o.tag)] = o.uid;
            summary.copied++;
            summary.bytes += o.bytes;
          }
        });
        while (box.exists > 0 && Number(box.uidNext) - 1 > state.lastUid) {
          const from = state.lastUid + 1;
          const to = Math.min(from + batch - 1, Number(box.uidNext) - 1);
          let any = false;
          for await (const m of client.fetch(
            `${from}:${to}`,
            { uid: true, flags: true, internalDate: true, size: true, source: true },
            { uid: true },
          )) {
            if (m.uid < from) continue;
            any = true;
            done++;
            if ((m.size ?? 0) > opts.maxBytes || !m.source) {
              summary.skipped.push({
                where: `${folder.path} UID ${m.uid}`,
                reason: `larger than ${opts.maxBytes} octets`,
              });
            } else {
              await importer.add({
                message: m.source,
                flags: flagList(m.flags),
                internalDate: m.internalDate ? new Date(m.internalDate) : new Date(),
                tag: m.uid,
              });
            }
            opts.onProgress?.({ mailbox: mailbox.name, done, total: box.exists });
          }
          // Committed before the state moves past them: a crash copies them again, deduplicated.
          await importer.flush();
          state.lastUid = to;
          await deps.store.transfers.saveMigrationState(accountId, source, folder.path, state);
          if (!any && to >= Number(box.uidNext) - 1) break;
        }
        await deps.store.transfers.saveMigrationState(accountId, source, folder.path, state);
        finished.add(folder.path);
        summary.folders++;
      } finally {
        lock.release();
      }
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}
