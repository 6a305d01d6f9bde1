/**
 * The Sieve step of a local delivery (FilteredDelivery, filters.ts): the
 * recipient account's active script (compiled at upload, libs/sieve) runs
 * over the message and decides the mailboxes and flags; vacation replies and
 * redirects go out through the outbound queue after the delivery commits.
 *
 * Mail is never lost to a script (RFC 5228 §2.10.6): a script that doesn't
 * compile, fails at run time, or files into a mailbox that doesn't exist
 * without :create leaves the message in the implicit-keep mailbox, and the
 * failure is logged and counted.
 *
 * reject/ereject (RFC 5429): when every recipient's script rejects, SMTP-in
 * refuses the message at DATA with the reason (§2.1.1); otherwise the
 * rejecting recipients' senders get a rejection notice after the commit
 * (always so on submission, which never refuses its authenticated client).
 *
 * Loops and abuse: a redirected copy carries `X-Aerogram-Sieve-Redirect: <account>`
 * and a message that already carries our account's mark is not redirected
 * again; redirecting to the recipient's own address is refused; redirects are
 * capped per run and per account per day (SIEVE_MAX_REDIRECTS ×20). Vacation
 * follows RFC 5230 §4.5/§4.6 and RFC 3834: no reply to <>, to lists, bulk or
 * auto-submitted mail, to ourselves, or unless one of the user's addresses is
 * in To/Cc/Bcc; once per sender per :days (libs/store sieve vacation memory).
 */
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { BlobStore } from "@aerogram/blobstore";
import type { Counter, Logger, Registry } from "@aerogram/observability";
import { sharedCounter } from "@aerogram/observability";
import {
  compileScript,
  loadCompiled,
  runScript,
  type SieveAction,
  SieveMessage,
  type VacationAction,
} from "@aerogram/sieve";
import type { Store } from "@aerogram/store";
import type { DeliveryTarget, StoredBlob } from "./deliver.ts";
import type { FilteredDelivery, FilterMessage, FilterRecipient, RecipientPlan } from "./filters.ts";

export interface SieveFilterOptions {
  hostname: string;
  maxActions: number;
  maxRedirects: number;
  /** How long queued vacation replies and redirects may wait (the outbound queue's max age). */
  queueMaxAgeMs: number;
  /** Bytes of the message the body test reads (the rest is not searched). */
  maxReadBytes?: number;
}

export const REDIRECT_MARK = "X-Aerogram-Sieve-Redirect";

class SieveMetrics {
  readonly actions: Counter<"action">;
  readonly failures: Counter<"reason">;
  readonly suppressed: Counter<"action" | "reason">;
  constructor(registry: Registry) {
    this.actions = sharedCounter(registry, {
      name: "aerogram_sieve_actions_total",
      help: "Sieve actions taken at delivery (keep, implicit_keep, fileinto, discard, redirect, reject, vacation)",
      labelNames: ["action"],
    });
    this.failures = sharedCounter(registry, {
      name: "aerogram_sieve_failures_total",
      help: "Sieve scripts that failed at delivery (the message went to the implicit-keep mailbox), by reason",
      labelNames: ["reason"],
    });
    this.suppressed = sharedCounter(registry, {
      name: "aerogram_sieve_suppressed_total",
      help: "Vacation replies and redirects not sent, by action and reason (rules, memory, loop, limit)",
      labelNames: ["action", "reason"],
    });
  }
}

async function readUpTo(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = c as Buffer;
    chunks.push(b);
    n += b.length;
    if (n >= max) {
      stream.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, max);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/** A header value we write: no CR/LF from a script or a message gets through. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, " ").trim();
}

/** RFC 2047 encoded-word for non-ASCII header text. */
function encodeWord(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, "utf8").toString("base64")}?=`;
}

export class SieveFilter implements FilteredDelivery {
  readonly #metrics: SieveMetrics;

  constructor(
    private readonly deps: { store: Store; blobs: BlobStore; log: Logger; metrics: Registry },
    private readonly opts: SieveFilterOptions,
  ) {
    this.#metrics = new SieveMetrics(deps.metrics);
  }

  async plan(
    recipient: FilterRecipient,
    blob: StoredBlob,
    message: FilterMessage,
    keep: { mailboxId: number; kind: "inbox" | "junk" },
  ): Promise<RecipientPlan> {
    const fallback = (flags: string[] = []): RecipientPlan => ({
      targets: [{ mailboxId: keep.mailboxId, ...(flags.length ? { flags } : {}) }],
      placements: [keep.kind],
    });
    const store = this.deps.store;
    if (recipient.sieve === false) return fallback();
    const row = await store.sieve.active(recipient.accountId);
    if (!row) return fallback();
    const log = this.deps.log.child({ account: recipient.accountId, script: row.name });
    let compiled = loadCompiled(row.compiled);
    if (!compiled) {
      try {
        compiled = compileScript(row.source);
      } catch (err) {
        log.warn(
          { err: (err as Error).message },
          "sieve script does not compile; delivered to the implicit keep",
        );
        this.#metrics.failures.inc({ reason: "compile" });
        return fallback();
      }
    }
    let raw: Buffer;
    let result: ReturnType<typeof runScript>;
    try {
      raw = await readUpTo(await this.deps.blobs.get(blob.key), this.opts.maxReadBytes ?? 10 * 1024 * 1024);
      const view = new SieveMessage(raw);
      result = runScript(
        compiled,
        view,
        { from: message.sender, to: recipient.address },
        { maxActions: this.opts.maxActions, maxRedirects: this.opts.maxRedirects },
      );
    } catch (err) {
      log.warn({ err: (err as Error).message }, "sieve script failed; delivered to the implicit keep");
      this.#metrics.failures.inc({ reason: "runtime" });
      return fallback();
    }

    const targets: DeliveryTarget[] = [];
    const placements: string[] = [];
    const after: (() => Promise<void>)[] = [];
    let reject: RecipientPlan["reject"];
    const keepInto = (flags: string[]) => {
      targets.push({ mailboxId: keep.mailboxId, flags });
      placements.push(keep.kind);
    };
    for (const a of result.actions) {
      this.#metrics.actions.inc({ action: a.type });
      switch (a.type) {
        case "keep":
          keepInto(a.flags);
          break;
        case "fileinto": {
          const id = await this.#mailbox(recipient, a.mailbox, a.create);
          if (id === undefined) {
            log.warn({ mailbox: a.mailbox }, "fileinto a mailbox that does not exist; kept instead");
            this.#metrics.failures.inc({ reason: "no_mailbox" });
            keepInto(a.flags);
          } else {
            targets.push({ mailboxId: id, flags: a.flags });
            placements.push(id === recipient.inboxId ? "inbox" : id === keep.mailboxId ? keep.kind : "other");
          }
          break;
        }
        case "redirect":
          after.push(() => this.#redirect(recipient, message, raw, a.address, log));
          break;
        case "vacation":
          after.push(() => this.#vacation(recipient, message, raw, a, log));
          break;
        case "reject":
          reject = { reason: a.reason, notice: () => this.#reject(recipient, message, raw, a.reason, log) };
          break;
        case "discard":
          break;
      }
    }
    if (result.implicitKeep) {
      this.#metrics.actions.inc({ action: "implicit_keep" });
      keepInto(result.implicitKeepFlags);
    }
    return {
      targets,
      placements,
      afterCommit: async () => {
        for (const f of after) await f();
      },
      ...(reject ? { reject } : {}),
    };
  }

  /** A mailbox by name ("INBOX" any case), created when :create asks (RFC 5490 §3.2). */
  async #mailbox(r: FilterRecipient, name: string, create: boolean): Promise<number | undefined> {
    const store = this.deps.store;
    const clean = name.trim();
    if (clean === "" || clean.length > 512 || /[\x00-\x1f*%]/.test(clean)) return undefined;
    if (clean.toUpperCase() === "INBOX") return r.inboxId;
    const found = await store.mailboxes.byName(r.accountId, clean);
    if (found) return found.id;
    if (!create) return undefined;
    try {
      return (await store.mailboxes.create(r.accountId, clean)).id;
    } catch {
      return (await store.mailboxes.byName(r.accountId, clean))?.id;
    }
  }

  async #enqueue(sender: string, accountId: number, to: string, bytes: Buffer, messageId: string | null) {
    const put = await this.deps.blobs.putBuffer(bytes);
    await this.deps.store.outbound.enqueue({
      blobKey: put.key,
      size: put.size,
      sender,
      senderAccountId: sender === "" ? null : accountId,
      messageId,
      eightBit: bytes.some((b) => b > 127),
      byDomain: new Map([[domainOf(to), [to]]]),
      expiresAt: new Date(Date.now() + this.opts.queueMaxAgeMs),
    });
  }

  async #redirect(r: FilterRecipient, m: FilterMessage, raw: Buffer, address: string, log: Logger) {
    const to = address.toLowerCase();
    const account = await this.deps.store.accounts.byId(r.accountId);
    const own = new Set(
      [r.address, account?.address, ...(account?.aliases ?? [])].filter(Boolean) as string[],
    );
    const base = (a: string) => a.replace(/\+[^@]*@/, "@");
    if (own.has(to) || [...own].some((a) => base(a) === base(to))) {
      this.#metrics.suppressed.inc({ action: "redirect", reason: "self" });
      log.info({ to }, "sieve redirect to the recipient's own address refused");
      return;
    }
    const mark = `${REDIRECT_MARK}: ${account?.address ?? r.accountId}`;
    const head = raw.toString("latin1", 0, Math.min(raw.length, 256 * 1024)).split(/\r?\n\r?\n/, 1)[0]!;
    if (head.toLowerCase().includes(mark.toLowerCase())) {
      this.#metrics.suppressed.inc({ action: "redirect", reason: "loop" });
      log.info({ to }, "sieve redirect loop detected; not redirected again");
      return;
    }
    if (!(await this.deps.store.sieve.takeRedirect(r.accountId, this.opts.maxRedirects * 20))) {
      this.#metrics.suppressed.inc({ action: "redirect", reason: "limit" });
      log.warn({ to }, "sieve redirect budget for today used up");
      return;
    }
    // RFC 5228 §4.2: the envelope sender stays the original one; the message is unchanged but for our mark.
    await this.#enqueue(m.sender, r.accountId, to, Buffer.concat([Buffer.from(`${mark}\r\n`), raw]), null);
  }

  async #vacation(r: FilterRecipient, m: FilterMessage, raw: Buffer, v: VacationAction, log: Logger) {
    const view = new SieveMessage(raw);
    const skip = (reason: string) => {
      this.#metrics.suppressed.inc({ action: "vacation", reason });
      log.debug({ reason }, "vacation reply not sent");
    };
    const sender = m.sender.toLowerCase();
    if (sender === "") return skip("null_sender");
    const auto = view.header("auto-submitted")[0];
    if (auto && auto.toLowerCase() !== "no") return skip("auto_submitted");
    if (view.header("precedence").some((p) => /^(bulk|list|junk)$/i.test(p))) return skip("bulk");
    if (
      [
        "list-id",
        "list-help",
        "list-unsubscribe",
        "list-subscribe",
        "list-post",
        "list-owner",
        "list-archive",
      ].some((h) => view.exists(h))
    ) {
      return skip("list");
    }
    const local = sender.slice(0, sender.lastIndexOf("@"));
    if (
      /^(mailer-daemon|postmaster|listserv|majordomo|owner-.*|.*-request|.*-owner|.*-bounces?|no-?reply)$/i.test(
        local,
      )
    ) {
      return skip("robot");
    }
    const account = await this.deps.store.accounts.byId(r.accountId);
    const mine = new Set(
      [
        r.address,
        r.address.replace(/\+[^@]*@/, "@"),
        account?.address,
        ...(account?.aliases ?? []),
        ...v.addresses,
      ]
        .filter(Boolean)
        .map((a) => (a as string).toLowerCase()),
    );
    if (mine.has(sender)) return skip("self");
    const addressed = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"].some((h) =>
      view
        .addresses(h)
        .some((a) => mine.has(a.all.toLowerCase()) || mine.has(a.all.toLowerCase().replace(/\+[^@]*@/, "@"))),
    );
    if (!addressed) return skip("not_addressed");
    if (!(await this.deps.store.sieve.vacationShouldSend(r.accountId, v.handle, sender, v.days))) {
      return skip("already_sent");
    }
    // RFC 5230 §4.4: :from is the user's choice among their own addresses; anything else would let a
    // script send as someone else, so it falls back to the account's address.
    const ownFrom = v.from && /<?([^<>\s]+@[^<>\s]+)>?\s*$/.exec(v.from)?.[1]?.toLowerCase();
    const own = new Set(
      [r.address, account?.address, ...(account?.aliases ?? [])]
        .filter(Boolean)
        .map((a) => (a as string).toLowerCase()),
    );
    const from = oneLine(ownFrom && own.has(ownFrom) ? v.from! : (account?.address ?? r.address));
    const subject = oneLine(v.subject ?? `Auto: ${view.header("subject")[0] ?? ""}`);
    const origId = view.header("message-id")[0];
    const messageId = `<${randomUUID()}@${this.opts.hostname}>`;
    const headers = [
      `From: ${from}`,
      `To: <${sender}>`,
      `Subject: ${encodeWord(subject)}`,
      `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
      `Message-ID: ${messageId}`,
      ...(origId ? [`In-Reply-To: ${oneLine(origId)}`, `References: ${oneLine(origId)}`] : []),
      // RFC 3834 §5: marks the reply as automatic so other responders don't answer it.
      "Auto-Submitted: auto-replied (vacation)",
      "Precedence: bulk",
      "MIME-Version: 1.0",
    ];
    let body: string;
    if (v.mime) body = v.reason.replace(/\r?\n/g, "\r\n");
    else {
      headers.push("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit");
      body = `\r\n${v.reason.replace(/\r?\n/g, "\r\n")}`;
    }
    const bytes = Buffer.from(
      `${headers.join("\r\n")}\r\n${body}${body.endsWith("\r\n") ? "" : "\r\n"}`,
      "utf8",
    );
    // RFC 5230 §5.1 / RFC 3834 §3.3: the reply goes to the envelope sender, from the null reverse-path.
    await this.#enqueue("", r.accountId, sender, bytes, messageId);
  }

  /** RFC 5429 §2.1 reject after acceptance: a rejection notice to the envelope sender (never to <>). */
  async #reject(r: FilterRecipient, m: FilterMessage, raw: Buffer, reason: string, log: Logger) {
    if (m.sender === "") return;
    const view = new SieveMessage(raw);
    if ((view.header("auto-submitted")[0] ?? "no").toLowerCase() !== "no") return;
    const messageId = `<${randomUUID()}@${this.opts.hostname}>`;
    const text = [
      `From: Mail Delivery System <MAILER-DAEMON@${this.opts.hostname}>`,
      `To: <${m.sender}>`,
      `Subject: Rejected: ${encodeWord(oneLine(view.header("subject")[0] ?? ""))}`,
      `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
      `Message-ID: ${messageId}`,
      "Auto-Submitted: auto-replied (rejected)",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      `Your message to <${r.address}> was rejected by the recipient's filter:`,
      "",
      reason.replace(/\r?\n/g, "\r\n"),
      "",
    ].join("\r\n");
    log.info({ to: m.sender }, "sieve reject: notice queued");
    await this.#enqueue("", r.accountId, m.sender, Buffer.from(text, "utf8"), messageId);
  }
}

export type { SieveAction };
