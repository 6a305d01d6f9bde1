// ENVELOPE builder (RFC 3501 §7.4.2, RFC 9051 §7.5.2) from a parsed header.
//
// Values are kept as sent (encoded-words undecoded), unfolded later by the
// serialiser. Date, Subject, Message-ID and In-Reply-To: the last field of a
// name wins; address fields that occur more than once are merged as if they
// were one comma-separated list (so a second From can't hide behind the
// first one). Sender and Reply-To default to From when absent.
import { type Address, parseAddressList } from "./address.ts";
import { type HeaderField, stripNuls } from "./header.ts";
import type { Envelope } from "./serializer.ts";

export function emptyEnvelope(): Envelope {
  return {
    date: null,
    subject: null,
    from: null,
    sender: null,
    replyTo: null,
    to: null,
    cc: null,
    bcc: null,
    inReplyTo: null,
    messageId: null,
  };
}

type AddrKey = "from" | "sender" | "replyTo" | "to" | "cc" | "bcc";
type StrKey = "date" | "subject" | "inReplyTo" | "messageId";

const FIELD: Record<string, AddrKey | StrKey> = {
  date: "date",
  subject: "subject",
  from: "from",
  sender: "sender",
  "reply-to": "replyTo",
  to: "to",
  cc: "cc",
  bcc: "bcc",
  "in-reply-to": "inReplyTo",
  "message-id": "messageId",
};

const ADDRESS_KEYS = new Set<string>(["from", "sender", "replyTo", "to", "cc", "bcc"]);

/** Builds the envelope of a message from its header fields. */
export function buildEnvelope(fields: HeaderField[]): Envelope {
  const env = emptyEnvelope();
  for (const f of fields) {
    if (f.name.length > 11) continue;
    const key = FIELD[f.name.toLowerCase()];
    if (key === undefined) continue;
    if (ADDRESS_KEYS.has(key)) {
      const k = key as AddrKey;
      const list: Address[] = parseAddressList(f.value);
      if (list.length === 0) continue;
      env[k] = env[k] === null ? list : [...env[k]!, ...list];
    } else {
      env[key as StrKey] = stripNuls(f.value);
    }
  }
  return env;
}

/** Applies the Sender/Reply-To defaults (RFC 3501 §7.4.2). */
export function withDefaults(env: Envelope): Envelope {
  return { ...env, sender: env.sender ?? env.from, replyTo: env.replyTo ?? env.from };
}
