// The name under which a FETCH item is returned (RFC 9051 §7.5.2): BODY.PEEK[...] is
// answered as BODY[...], a partial as <origin> only, BINARY.PEEK as BINARY.

import type { BodySection, FetchItem } from "./ast.ts";
import { isValidAtom } from "./charset.ts";

function headerFieldName(name: string): string {
  return isValidAtom(name) ? name : `"${name.replace(/["\\]/g, "\\$&")}"`;
}

/** "1.2.HEADER.FIELDS (From To)" style text of a section, without brackets. */
export function formatSection(section: BodySection): string {
  const part = section.part.join(".");
  const text = section.text;
  if (!text) return part;
  let textPart: string;
  if (text.kind === "HEADER.FIELDS") {
    textPart = `HEADER.FIELDS${text.not ? ".NOT" : ""} (${text.fields.map(headerFieldName).join(" ")})`;
  } else {
    textPart = text.kind;
  }
  return part ? `${part}.${textPart}` : textPart;
}

export function fetchResponseName(item: FetchItem): string {
  switch (item.kind) {
    case "attribute":
      return item.name;
    case "body-section":
      return `BODY[${formatSection(item.section)}]${item.partial ? `<${item.partial.offset}>` : ""}`;
    case "binary":
      return `BINARY[${item.part.join(".")}]${item.partial ? `<${item.partial.offset}>` : ""}`;
    case "binary-size":
      return `BINARY.SIZE[${item.part.join(".")}]`;
    case "preview":
      return "PREVIEW";
  }
}
