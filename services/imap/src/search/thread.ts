/**
 * THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3) over the stored
 * keys of the matching messages (libs/store search/sort.ts threadKeys: base
 * subject, Message-ID, In-Reply-To, References, sent date): no blob is read.
 * The output is the thread-list of RFC 5256 §4 with sequence numbers or UIDs.
 */
import { messageIds } from "@aerogram/mime";
import type { ThreadKeys } from "@aerogram/store";

interface Node {
  /** The message; null for a dummy (a referenced message not in the set). */
  msg: ThreadKeys | null;
  parent: Node | null;
  children: Node[];
}

/** RFC 5256 §2.2: sent date, then mailbox order (UID). */
function compareMessages(a: ThreadKeys, b: ThreadKeys): number {
  const d = a.sentAt.getTime() - b.sentAt.getTime();
  return d !== 0 ? d : a.uid - b.uid;
}

/** A dummy sorts as its first child (children sorted first). */
function sortKey(n: Node): ThreadKeys | null {
  if (n.msg) return n.msg;
  for (const c of n.children) {
    const k = sortKey(c);
    if (k) return k;
  }
  return null;
}

function compareNodes(a: Node, b: Node): number {
  const ka = sortKey(a);
  const kb = sortKey(b);
  if (!ka || !kb) return ka ? -1 : kb ? 1 : 0;
  return compareMessages(ka, kb);
}

/** RFC 5256 §3 ORDEREDSUBJECT. */
export function orderedSubject(messages: readonly ThreadKeys[]): Node[] {
  const sorted = [...messages].sort((a, b) =>
    a.baseSubject < b.baseSubject ? -1 : a.baseSubject > b.baseSubject ? 1 : compareMessages(a, b),
  );
  const roots: Node[] = [];
  let current: Node | null = null;
  for (const m of sorted) {
    if (current && current.msg!.baseSubject === m.baseSubject) {
      current.children.push({ msg: m, parent: current, children: [] });
    } else {
      current = { msg: m, parent: null, children: [] };
      roots.push(current);
    }
  }
  return roots.sort(compareNodes);
}

/** One message id written as such ("<x@y>"), the form stored refs have: no need to scan it for ids. */
const SINGLE_ID = /^<[^<>\s]+>$/;

/** The first message id of a header value (messageIds(value)[0]), without the scan for a lone id. */
function firstId(value: string | null): string | undefined {
  return value !== null && SINGLE_ID.test(value) ? value : messageIds(value)[0];
}

/** Whether a References entry is exactly one message id (messageIds(ref).length === 1). */
function isOneId(ref: string): boolean {
  return SINGLE_ID.test(ref) || messageIds(ref).length === 1;
}

function isAncestor(candidate: Node, of: Node): boolean {
  for (let n: Node | null = of; n; n = n.parent) if (n === candidate) return true;
  return false;
}

function link(parent: Node, child: Node): void {
  if (child.parent === parent) return;
  if (child.parent) child.parent.children.splice(child.parent.children.indexOf(child), 1);
  child.parent = parent;
  parent.children.push(child);
}

/** RFC 5256 §3 REFERENCES. */
export function references(messages: readonly ThreadKeys[]): Node[] {
  const byId = new Map<string, Node>();
  const all: Node[] = [];
  const containerFor = (id: string): Node => {
    let n = byId.get(id);
    if (!n) {
      n = { msg: null, parent: null, children: [] };
      byId.set(id, n);
      all.push(n);
    }
    return n;
  };
  // (1) in mailbox order; a duplicate or missing Message-ID gets a container of its own
  for (const m of [...messages].sort((a, b) => a.uid - b.uid)) {
    const id = firstId(m.messageId);
    let node: Node;
    if (id !== undefined && byId.get(id)?.msg == null) {
      node = containerFor(id);
      node.msg = m;
    } else {
      node = { msg: m, parent: null, children: [] };
      all.push(node);
    }
    let refs = m.refs.filter(isOneId);
    if (refs.length === 0) refs = messageIds(m.inReplyTo).slice(0, 1);
    // (1)(B): link the references in order, never making a loop, never re-linking
    let prev: Node | null = null;
    for (const ref of refs) {
      const c = containerFor(ref);
      if (prev && !c.parent && c !== prev && !isAncestor(c, prev)) link(prev, c);
      prev = c;
    }
    // (1)(C): the message's parent is the last reference: any parent it had is
    // dropped first, and no link is made that would close a loop
    if (node.parent && node.parent !== prev) {
      node.parent.children.splice(node.parent.children.indexOf(node), 1);
      node.parent = null;
    }
    if (prev && prev !== node && !isAncestor(node, prev)) link(prev, node);
  }
  // (2) the root set
  let roots = all.filter((n) => n.parent === null);
  // (4) prune dummies
  const prune = (siblings: Node[], atRoot: boolean): Node[] => {
    const out: Node[] = [];
    for (const n of siblings) {
      n.children = prune(n.children, false);
      if (n.msg) {
        out.push(n);
      } else if (n.children.length === 0) {
        // (A) an empty dummy goes
      } else if (!atRoot || n.children.length === 1) {
        // (B) a dummy's children take its place (at the root only when there is one)
        for (const c of n.children) {
          c.parent = n.parent;
          out.push(c);
        }
      } else {
        out.push(n);
      }
    }
    return out;
  };
  roots = prune(roots, true);
  for (const r of roots) r.parent = null;
  // (5) sort the root set (a dummy by its first child, its children sorted first)
  for (const r of roots) if (!r.msg) r.children.sort(compareNodes);
  roots.sort(compareNodes);
  // (6) merge roots with the same base subject
  const subjectOf = (n: Node): string => (n.msg ?? n.children[0]?.msg)?.baseSubject ?? "";
  const isReply = (n: Node): boolean => (n.msg ?? n.children[0]?.msg)?.replyOrForward ?? false;
  const table = new Map<string, Node>();
  for (const r of roots) {
    const s = subjectOf(r);
    if (s === "") continue;
    const old = table.get(s);
    if (!old || (!r.msg && old.msg) || (isReply(old) && !isReply(r))) table.set(s, r);
  }
  const removed = new Set<Node>();
  // where each root sits (a root's dummy takes its place): no indexOf over the roots per merge
  const position = new Map<Node, number>(roots.map((r, i) => [r, i]));
  for (const r of roots) {
    const s = subjectOf(r);
    const t = s === "" ? undefined : table.get(s);
    if (!t || t === r) continue;
    removed.add(r);
    if (!t.msg && !r.msg) {
      // a copy: link() takes each child out of r.children (iterating it directly skipped every other one)
      for (const c of [...r.children]) link(t, c);
    } else if (!t.msg && r.msg) {
      link(t, r);
    } else if (r.msg && isReply(r) && !isReply(t)) {
      link(t, r);
    } else {
      // a new dummy takes the table container's place in the root set, with both under it
      const dummy: Node = { msg: null, parent: null, children: [] };
      const at = position.get(t)!;
      t.parent = null;
      r.parent = null;
      link(dummy, t);
      link(dummy, r);
      roots[at] = dummy;
      position.set(dummy, at);
      table.set(s, dummy);
    }
  }
  roots = roots.filter((r) => !removed.has(r));
  // (7) sort every set of siblings, deepest first (a dummy sorts by its first child)
  const sortDeep = (n: Node) => {
    for (const c of n.children) sortDeep(c);
    n.children.sort(compareNodes);
  };
  for (const r of roots) sortDeep(r);
  return roots;
}

/** RFC 5256 §4 thread-list: "(1 2 (3)(4))(5)". */
export function formatThreads(roots: readonly Node[], number: (uid: number) => number): string {
  const members = (n: Node): string => {
    const kids =
      n.children.length === 1 && n.msg
        ? ` ${members(n.children[0]!)}`
        : n.children.map((c) => `(${members(c)})`).join("");
    if (!n.msg) return kids;
    return n.children.length > 1 ? `${number(n.msg.uid)} ${kids}` : `${number(n.msg.uid)}${kids}`;
  };
  return roots.map((r) => `(${members(r)})`).join("");
}
