// SORT, THREAD (RFC 5256 §4 formal syntax), SORT=DISPLAY (RFC 5957), ESORT (RFC 5267):
//   sort          = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP search-criteria
//   sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
//   sort-criterion = ["REVERSE" SP] sort-key
//   search-criteria = charset 1*(SP search-key)
//   thread        = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
// and COMPRESS (RFC 4978 §3): "COMPRESS" SP algorithm.

import type { CompressCommand, SearchReturnOption, SortCommand, SortKey, ThreadCommand } from "./ast.ts";
import type { CommandCursor } from "./cursor.ts";
import { parseSearchCharset, parseSearchKey, parseSearchReturnOptions } from "./parse-search.ts";
import type { SearchKey } from "./search-key.ts";

const SORT_KEYS = new Set<string>([
  "ARRIVAL",
  "CC",
  "DATE",
  "FROM",
  "SIZE",
  "SUBJECT",
  "TO",
  "DISPLAYFROM",
  "DISPLAYTO",
]);

/** The charset and search keys shared by SORT and THREAD. */
function searchCriteria(cursor: CommandCursor): { charset: string; criteria: SearchKey[] } {
  const charset = parseSearchCharset(cursor);
  cursor.sp();
  const criteria: SearchKey[] = [parseSearchKey(cursor, 0)];
  while (cursor.acceptSp()) criteria.push(parseSearchKey(cursor, 0));
  return { charset, criteria };
}

export function parseSortArguments(cursor: CommandCursor, tag: string, uid: boolean): SortCommand {
  cursor.sp();
  let returnOptions: SearchReturnOption[] | null = null;
  if (cursor.acceptKeyword("RETURN")) {
    returnOptions = parseSearchReturnOptions(cursor);
    cursor.sp();
  }
  cursor.expect("(");
  const sortCriteria: { key: SortKey; reverse: boolean }[] = [];
  do {
    let reverse = false;
    let key = cursor.atom("sort key").toUpperCase();
    if (key === "REVERSE") {
      reverse = true;
      cursor.sp();
      key = cursor.atom("sort key").toUpperCase();
    }
    if (!SORT_KEYS.has(key)) cursor.fail(`Unknown sort key ${key}`);
    sortCriteria.push({ key: key as SortKey, reverse });
  } while (cursor.acceptSp());
  cursor.expect(")");
  cursor.sp();
  const { charset, criteria } = searchCriteria(cursor);
  return { tag, name: "SORT", uid, returnOptions, sortCriteria, charset, criteria };
}

export function parseThreadArguments(cursor: CommandCursor, tag: string, uid: boolean): ThreadCommand {
  cursor.sp();
  const algorithm = cursor.atom("thread algorithm").toUpperCase();
  if (algorithm !== "ORDEREDSUBJECT" && algorithm !== "REFERENCES")
    cursor.fail(`Unknown thread algorithm ${algorithm}`);
  cursor.sp();
  const { charset, criteria } = searchCriteria(cursor);
  return { tag, name: "THREAD", uid, algorithm, charset, criteria };
}

export function parseCompressArguments(cursor: CommandCursor, tag: string): CompressCommand {
  cursor.sp();
  return { tag, name: "COMPRESS", uid: false, mechanism: cursor.atom("compression mechanism").toUpperCase() };
}
