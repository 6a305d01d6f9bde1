/**
 * NATS subjects. One wildcard-free subject per account, so a gateway subscribes
 * only to the accounts it holds sessions for and the server does the routing.
 */

const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function assertSubjectPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(
      `subject prefix must be dot-separated tokens of letters, digits, - and _ (got ${JSON.stringify(prefix)})`,
    );
  }
}

/** `<prefix>.mbx.<accountId>` */
export function accountSubject(prefix: string, account: number): string {
  return `${prefix}.mbx.${account}`;
}
