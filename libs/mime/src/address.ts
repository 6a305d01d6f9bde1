// RFC 5322 §3.4 address-list parser (with groups and the obsolete syntax of
// §4.4) producing IMAP ENVELOPE addresses (RFC 3501 §7.4.2 / RFC 9051 §7.5.2):
// a group is a start marker (mailbox = group name, host NIL), its members,
// and an end marker (all NIL).
//
// Broken input follows the reference behaviour of Dovecot's
// message-address.c (FILL_MISSING): a missing local part becomes
// "MISSING_MAILBOX", a missing domain "MISSING_DOMAIN", an unparseable
// angle-addr's host "SYNTAX_ERROR", a bad route "INVALID_ROUTE". Encoded-words
// in display names are kept as sent; strings are byte strings.
import { RFC822_NUL_REPLACEMENT, Rfc822Parser } from "./rfc822.ts";

export interface Address {
  /** Display name (phrase), or null. */
  name: string | null;
  /** Source route (obsolete at-domain-list), or null. */
  adl: string | null;
  /** Local part; group name at a group start; null at a group end. */
  mailbox: string | null;
  /** Domain; null at group start and end markers. */
  host: string | null;
}

interface Work {
  name: string | null;
  route: string | null;
  mailbox: string | null;
  domain: string | null;
  invalid: boolean;
}

function emptyWork(): Work {
  return { name: null, route: null, mailbox: null, domain: null, invalid: false };
}

class AddressParser {
  readonly out: Address[] = [];
  addr: Work = emptyWork();
  readonly p: Rfc822Parser;

  constructor(value: string) {
    this.p = new Rfc822Parser(value, true);
    this.p.nulReplacement = RFC822_NUL_REPLACEMENT;
  }

  private add(): void {
    const a = this.addr;
    this.out.push({ name: a.name, adl: a.route, mailbox: a.mailbox, host: a.domain });
    this.addr = emptyWork();
  }

  private addFixed(): void {
    if (this.addr.mailbox === null) {
      this.addr.mailbox = "MISSING_MAILBOX";
      this.addr.invalid = true;
    }
    if (this.addr.domain === null || this.addr.domain === "") {
      this.addr.domain = "MISSING_DOMAIN";
      this.addr.invalid = true;
    }
    this.add();
  }

  /** Non-strict dot-atom: tolerates leading, trailing and doubled dots. */
  private parseNonstrictDotAtom(out: [string]): number {
    const p = this.p;
    let ret = -1;
    do {
      while (p.peek() === 0x2e) {
        out[0] += ".";
        p.pos++;
        if (p.pos === p.end) return 0; // @domain missing, local-part ok
        ret = 1;
      }
      if (p.peek() === 0x40) break;
      ret = p.parseAtom(out);
    } while (ret > 0 && p.peek() === 0x2e);
    return ret;
  }

  private parseLocalPart(): number {
    const str: [string] = [""];
    const ret = this.p.peek() === 0x22 ? this.p.parseQuotedString(str) : this.parseNonstrictDotAtom(str);
    if (ret < 0) return -1;
    this.addr.mailbox = str[0];
    return ret;
  }

  private parseDomain(): number {
    const str: [string] = [""];
    const ret = this.p.parseDomain(str);
    if (ret < 0) return -1;
    this.addr.domain = str[0];
    return ret;
  }

  /** obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain) */
  private parseDomainList(): number {
    const p = this.p;
    const str: [string] = [""];
    for (;;) {
      if (p.pos >= p.end) return 0;
      if (p.peek() !== 0x40) break;
      if (str[0].length > 0) str[0] += ",";
      str[0] += "@";
      const ret = p.parseDomain(str);
      if (ret <= 0) return ret;
      while (p.skipLwsp() > 0 && p.peek() === 0x2c) p.pos++;
    }
    this.addr.route = str[0];
    return 1;
  }

  /** angle-addr = "<" [route ":"] local-part "@" domain ">" */
  private parseAngleAddr(): number {
    const p = this.p;
    p.pos++;
    if (p.skipLwsp() <= 0) return -1;
    if (p.peek() === 0x40) {
      if (this.parseDomainList() > 0 && p.peek() === 0x3a) {
        p.pos++;
      } else {
        this.addr.route = "INVALID_ROUTE";
        if (p.pos >= p.end) return -1;
      }
      if (p.skipLwsp() <= 0) return -1;
    }
    if (p.peek() !== 0x3e) {
      if (this.parseLocalPart() <= 0) return -1;
      if (p.peek() === 0x40) {
        if (this.parseDomain() <= 0) return -1;
      }
    }
    if (p.peek() !== 0x3e) return -1;
    p.pos++;
    return p.skipLwsp();
  }

  private parseNameAddr(): number {
    const p = this.p;
    const str: [string] = [""];
    if (p.parsePhrase(str) <= 0 || p.peek() !== 0x3c) return -1;
    this.addr.name = str[0] === "" ? null : str[0];
    if (this.parseAngleAddr() < 0) {
      this.addr.domain = "SYNTAX_ERROR";
      this.addr.invalid = true;
    }
    return p.pos < p.end ? 1 : 0;
  }

  private parseAddrSpec(): number {
    const p = this.p;
    let ret2 = -2;
    p.lastComment = "";
    const quoted = p.peek() === 0x22;
    let ret = this.parseLocalPart();
    if (ret <= 0) this.addr.invalid = true;
    if (ret !== 0 && p.pos < p.end && p.peek() === 0x40) {
      ret2 = this.parseDomain();
      if (ret2 <= 0) ret = ret2;
    }
    if (p.lastComment !== null && p.lastComment.length > 0) {
      this.addr.name = p.lastComment;
    } else if (ret2 === -2) {
      // "user" alone is a mailbox; "user more words" is a display name
      const str: [string] = [`${this.addr.mailbox ?? ""} `];
      const before = str[0].length;
      p.parsePhrase(str);
      if (str[0].length !== before) {
        this.addr.mailbox = null;
        this.addr.name = str[0];
      } else if (!quoted) {
        this.addr.domain = "";
      }
      this.addr.invalid = true;
      ret = -1;
    }
    return ret;
  }

  private parseMailbox(): number {
    const p = this.p;
    const start = p.pos;
    let ret = this.parseNameAddr();
    if (ret < 0) {
      p.pos = start;
      this.addr = emptyWork();
      ret = this.parseAddrSpec();
      const a = this.addr;
      if (a.invalid && a.name === null && a.mailbox !== null && a.domain === null) {
        a.name = a.mailbox;
        a.mailbox = null;
      }
    }
    if (ret < 0) this.addr.invalid = true;
    this.addFixed();
    return ret;
  }

  /** group = display-name ":" [group-list] ";" [CFWS] */
  private parseGroup(): number {
    const p = this.p;
    const str: [string] = [""];
    if (p.parsePhrase(str) <= 0 || p.peek() !== 0x3a) return -1;
    // from here on it is a group, whatever follows
    p.pos++;
    let ret = p.skipLwsp();
    if (ret <= 0) this.addr.invalid = true;
    this.addr.mailbox = str[0];
    this.add();
    if (ret > 0 && p.peek() !== 0x3b) {
      for (;;) {
        this.parseMailbox();
        if (p.pos >= p.end || p.peek() !== 0x2c) break;
        p.pos++;
        if (p.skipLwsp() <= 0) {
          ret = -1;
          break;
        }
      }
    }
    if (ret >= 0) {
      if (p.pos >= p.end || p.peek() !== 0x3b) ret = -1;
      else {
        p.pos++;
        ret = p.skipLwsp();
      }
    }
    if (ret < 0) this.addr.invalid = true;
    this.add();
    return ret === 0 ? 0 : 1;
  }

  private parseAddress(): number {
    const p = this.p;
    const start = p.pos;
    const ret = this.parseGroup();
    if (ret >= 0) return ret;
    p.pos = start;
    this.addr = emptyWork();
    return this.parseMailbox();
  }

  parseList(): void {
    const p = this.p;
    if (p.skipLwsp() <= 0) return;
    for (let guard = 0; guard < 100000; guard++) {
      if (this.parseAddress() === 0) break;
      if (p.pos >= p.end || p.peek() !== 0x2c) break;
      p.pos++;
      const ret = p.skipLwsp();
      if (ret <= 0) {
        if (ret < 0) this.addFixed(); // ends with garbage
        break;
      }
    }
  }
}

/** Parses an address-list header value (byte string). Empty list: []. */
export function parseAddressList(value: string): Address[] {
  const parser = new AddressParser(value);
  parser.parseList();
  return parser.out;
}
