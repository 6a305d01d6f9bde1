/**
 * A private Dovecot `imap` process as a reference server, with no daemon,
 * port or password: the binary runs pre-authenticated with its stdin and
 * stdout on a pipe or FIFO (a socket would make it believe it runs from
 * inetd), on a Maildir under `work`. Used by the MIME corpus's fixture
 * recorder, the line-endings comparison test and the FETCH BINARY bench.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Debian's path of Dovecot's imap binary (package dovecot-imapd). */
export const DOVECOT_IMAP = "/usr/lib/dovecot/imap";

export interface DovecotPreauth {
  /** The dovecot.conf the binary is run with (`imap -c conf`). */
  conf: string;
  /** Environment for the process: USER and HOME of the mail user. */
  env: NodeJS.ProcessEnv;
  /** Runs one session over a pipe: writes `input`, returns everything the server wrote. */
  session(input: Buffer): Buffer;
}

/**
 * Prepares `work` (created if needed; its mail directory emptied) for a
 * pre-authenticated imap process; null when the binary is not installed.
 * Mail is owned by nobody, so `work` and its parent get search permission
 * for others (a mkdtemp directory has none).
 */
export function dovecotPreauth(work: string, imap = DOVECOT_IMAP): DovecotPreauth | null {
  if (!existsSync(imap)) return null;
  for (const d of ["run", "state", "home"]) mkdirSync(join(work, d), { recursive: true });
  spawnSync("rm", ["-rf", join(work, "mail")]);
  mkdirSync(join(work, "mail"));
  spawnSync("chmod", ["o+x", join(work, ".."), work]); // adds search permission, keeps the rest (/tmp's sticky bit)
  spawnSync("chown", ["-R", "nobody:nogroup", join(work, "mail"), join(work, "home")]);
  const conf = join(work, "dovecot.conf");
  writeFileSync(
    conf,
    [
      `base_dir = ${work}/run`,
      `state_dir = ${work}/state`,
      `log_path = ${work}/dovecot.log`,
      "protocols = imap",
      "ssl = no",
      `mail_location = maildir:${work}/mail/%u`,
      "mail_uid = nobody",
      "mail_gid = nogroup",
      "first_valid_uid = 1",
      "first_valid_gid = 1",
      "",
    ].join("\n"),
  );
  const env = { USER: "t", HOME: join(work, "home"), PATH: process.env.PATH ?? "" };
  return {
    conf,
    env,
    session(input: Buffer): Buffer {
      const inFile = join(work, "input");
      const outFile = join(work, "output");
      writeFileSync(inFile, input);
      spawnSync("sh", ["-c", 'cat "$2" | "$0" -c "$1" >"$3"', imap, conf, inFile, outFile], { env });
      return readFileSync(outFile);
    },
  };
}
