// Modified UTF-7 mailbox names, RFC 3501 §5.1.3.
//
// IMAP4rev1 clients that have not enabled UTF8=ACCEPT (RFC 6855) send and expect
// mailbox names in this encoding:
//   - printable US-ASCII (0x20-0x7E) stands for itself, except "&", written "&-";
//   - any other run of characters is "&" + modified BASE64 of its UTF-16BE form
//     (RFC 2045 alphabet with "," instead of "/", no "=" padding) + "-".
// The decoder is strict, so that each name has exactly one spelling: it rejects
// 8-bit and control octets, unterminated or empty shifts other than "&-",
// non-zero padding bits, unpaired surrogates, and printable ASCII hidden in BASE64.

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;

const AMPERSAND = 0x26;

export class Mutf7Error extends Error {
  override readonly name = "Mutf7Error";
}

function isPrintableAscii(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

/** Encodes a Unicode mailbox name as modified UTF-7; throws Mutf7Error on unpaired surrogates. */
export function encodeMutf7(name: string): string {
  if (/\p{Cs}/u.test(name)) throw new Mutf7Error("mailbox name contains an unpaired UTF-16 surrogate");
  let out = "";
  let i = 0;
  while (i < name.length) {
    const code = name.charCodeAt(i);
    if (code === AMPERSAND) {
      out += "&-";
      i++;
    } else if (isPrintableAscii(code)) {
      out += name[i];
      i++;
    } else {
      let end = i;
      while (end < name.length && !isPrintableAscii(name.charCodeAt(end))) end++;
      out += "&" + encodeBase64Utf16(name, i, end) + "-";
      i = end;
    }
  }
  return out;
}

function encodeBase64Utf16(text: string, start: number, end: number): string {
  let out = "";
  let bits = 0;
  let bitCount = 0;
  for (let i = start; i < end; i++) {
    bits = (bits << 16) | text.charCodeAt(i);
    bitCount += 16;
    while (bitCount >= 6) {
      bitCount -= 6;
      out += BASE64_ALPHABET[(bits >> bitCount) & 0x3f];
    }
    bits &= (1 << bitCount) - 1;
  }
  if (bitCount > 0) out += BASE64_ALPHABET[(bits << (6 - bitCount)) & 0x3f];
  return out;
}

/** Decodes a modified UTF-7 mailbox name; throws Mutf7Error when it is not valid. */
export function decodeMutf7(encoded: string): string {
  let out = "";
  let i = 0;
  while (i < encoded.length) {
    const code = encoded.charCodeAt(i);
    if (!isPrintableAscii(code)) {
      throw new Mutf7Error(`octet 0x${code.toString(16)} is not allowed in a modified UTF-7 name`);
    }
    if (code !== AMPERSAND) {
      out += encoded[i];
      i++;
      continue;
    }
    const end = encoded.indexOf("-", i + 1);
    if (end < 0) throw new Mutf7Error("unterminated modified BASE64 section");
    if (end === i + 1) {
      out += "&";
    } else {
      out += decodeBase64Utf16(encoded, i + 1, end);
    }
    i = end + 1;
  }
  return out;
}

/** True when `encoded` is a canonical modified UTF-7 name. */
export function isValidMutf7(encoded: string): boolean {
  try {
    decodeMutf7(encoded);
    return true;
  } catch {
    return false;
  }
}

function decodeBase64Utf16(encoded: string, start: number, end: number): string {
  const units: number[] = [];
  let bits = 0;
  let bitCount = 0;
  for (let i = start; i < end; i++) {
    const code = encoded.charCodeAt(i);
    const value = code < 128 ? BASE64_VALUE[code]! : -1;
    if (value < 0) throw new Mutf7Error(`"${encoded[i]}" is not a modified BASE64 character`);
    bits = (bits << 6) | value;
    bitCount += 6;
    if (bitCount >= 16) {
      bitCount -= 16;
      units.push((bits >> bitCount) & 0xffff);
      bits &= (1 << bitCount) - 1;
    }
  }
  // Leftover bits are padding: fewer than 6 of them and all zero (RFC 2045 §6.8).
  if (bitCount >= 6 || bits !== 0) throw new Mutf7Error("modified BASE64 section has bad padding");
  if (units.length === 0) throw new Mutf7Error("empty modified BASE64 section");
  let out = "";
  for (let k = 0; k < units.length; k++) {
    const unit = units[k]!;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = units[k + 1];
      if (low === undefined || low < 0xdc00 || low > 0xdfff)
        throw new Mutf7Error("unpaired UTF-16 surrogate");
      out += String.fromCharCode(unit, low);
      k++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw new Mutf7Error("unpaired UTF-16 surrogate");
    } else if (isPrintableAscii(unit)) {
      throw new Mutf7Error("printable US-ASCII must not be BASE64-encoded");
    } else {
      out += String.fromCharCode(unit);
    }
  }
  return out;
}
