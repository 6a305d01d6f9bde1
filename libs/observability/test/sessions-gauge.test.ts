/** aerogram_sessions{protocol}: one gauge per registry, shared by every gateway of a process. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRegistry, sessionsGauge } from "../src/index.ts";

test("gateways in one process share one aerogram_sessions gauge, one label each", async () => {
  const registry = createRegistry("test");
  const smtp = sessionsGauge(registry, "smtp");
  const imap = sessionsGauge(registry, "imap");
  const imapAgain = sessionsGauge(registry, "imap"); // a second IMAP server on the same registry
  smtp.inc();
  imap.inc();
  imapAgain.inc();
  imap.dec();
  const text = await registry.metrics();
  assert.equal(text.match(/^# TYPE aerogram_sessions gauge$/gm)?.length, 1);
  assert.match(text, /^aerogram_sessions\{[^}]*protocol="smtp"[^}]*\} 1$/m);
  assert.match(text, /^aerogram_sessions\{[^}]*protocol="imap"[^}]*\} 1$/m);
});
