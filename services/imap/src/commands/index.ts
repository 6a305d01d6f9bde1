/**
 * The dispatch table: one handler per IMAP command, found by its name (UID
 * variants share their command's handler and look at `command.uid`). States and
 * sequence-number rules come from the protocol library's COMMAND_TABLE.
 */
import type { CommandName, CommandOfName } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { deleteacl, getacl, listrights, myrights, setacl } from "./acl.ts";
import { append } from "./append.ts";
import { authenticate } from "./authenticate.ts";
import { capability } from "./capability.ts";
import { check } from "./check.ts";
import { close, unselect } from "./close.ts";
import { compress } from "./compress.ts";
import { copy } from "./copy.ts";
import { create } from "./create.ts";
import { deleteMailbox } from "./delete.ts";
import { enable } from "./enable.ts";
import { expunge } from "./expunge.ts";
import { fetch } from "./fetch.ts";
import { id } from "./id.ts";
import { idle } from "./idle.ts";
import { list, lsub } from "./list.ts";
import { login } from "./login.ts";
import { logout } from "./logout.ts";
import { namespace } from "./namespace.ts";
import { noop } from "./noop.ts";
import { getquota, getquotaroot } from "./quota.ts";
import { rename } from "./rename.ts";
import type { CommandResult } from "./result.ts";
import { search } from "./search.ts";
import { select } from "./select.ts";
import { sort } from "./sort.ts";
import { starttls } from "./starttls.ts";
import { status } from "./status.ts";
import { store } from "./store.ts";
import { subscribe, unsubscribe } from "./subscribe.ts";
import { thread } from "./thread.ts";

export type { CommandResult } from "./result.ts";

export type CommandHandler<N extends CommandName> = (
  session: Session,
  command: CommandOfName<N>,
) => Promise<CommandResult>;

export const COMMAND_HANDLERS: { readonly [N in CommandName]: CommandHandler<N> } = {
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  ID: id,
  STARTTLS: starttls,
  AUTHENTICATE: authenticate,
  LOGIN: login,
  ENABLE: enable,
  SELECT: select,
  EXAMINE: select,
  CREATE: create,
  DELETE: deleteMailbox,
  RENAME: rename,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  LIST: list,
  LSUB: lsub,
  XLIST: lsub,
  NAMESPACE: namespace,
  STATUS: status,
  APPEND: append,
  IDLE: idle,
  GETQUOTA: getquota,
  GETQUOTAROOT: getquotaroot,
  CHECK: check,
  CLOSE: close,
  UNSELECT: unselect,
  EXPUNGE: expunge,
  SEARCH: search,
  FETCH: fetch,
  STORE: store,
  COPY: copy,
  MOVE: copy,
  SORT: sort,
  THREAD: thread,
  COMPRESS: compress,
  SETACL: setacl,
  DELETEACL: deleteacl,
  GETACL: getacl,
  LISTRIGHTS: listrights,
  MYRIGHTS: myrights,
};
