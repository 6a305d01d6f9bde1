// @aerogram/mime: parse each message once, at delivery, and keep what IMAP
// needs (ENVELOPE, BODYSTRUCTURE, part offsets, search fields, preview).
export { type Address, parseAddressList } from "./address.ts";
export { type CharsetStreamDecoder, createCharsetDecoder, decodeCharset } from "./charset.ts";
export { CrlfNormalizer, hasBareLf, toCrlf } from "./crlf.ts";
export { decodeEncodedWords } from "./encoded-word.ts";
export { type HeaderField, parseHeaderBlock } from "./header.ts";
export {
  createIndexer,
  type Indexer,
  indexMessage,
  indexMessageSync,
  type MessageSource,
} from "./indexer.ts";
export {
  type ContentType,
  decodeParamValue,
  type Param,
  parseContentType,
  parseDisposition,
} from "./params.ts";
export { htmlToText, makePreview } from "./preview.ts";
export {
  DEFAULT_MAX_BODY_CHARS,
  extractSearchText,
  messageIds,
  type SearchText,
  searchTextMatches,
} from "./search-text.ts";
export {
  type ByteRange,
  filterHeaderFields,
  parseSectionSpec,
  type ResolvedSection,
  resolveSection,
  type SectionSpec,
  slicePartial,
} from "./section.ts";
export {
  type BodyStructure,
  type Disposition,
  type Envelope,
  imapBytes,
  imapNString,
  imapString,
  imapStringForHumans,
  serializeBodyStructure,
  serializeEnvelope,
} from "./serializer.ts";
export { baseSubject, casemap, type SortKeys, sortKeys } from "./sort-keys.ts";
export {
  Base64Decoder,
  type ByteDecoder,
  createTransferDecoder,
  decodeQ,
  decodeTransfer,
  decodeTransferStream,
  QuotedPrintableDecoder,
} from "./transfer-decoding.ts";
export type { MessageIndex, PartNode, SearchFields } from "./types.ts";
