/** The protocol services this build has, started on one runtime. */
import type { ServiceName } from "@aerogram/config";
import { startLifecycle } from "@aerogram/delivery";
import { startImap } from "@aerogram/imap";
import { startManageSieve } from "@aerogram/managesieve";
import { startOutbound } from "@aerogram/outbound";
import { startPop3 } from "@aerogram/pop3";
import type { Runtime, ServiceHandle, ServiceStarter } from "@aerogram/runtime";
import { startSmtpIn } from "@aerogram/smtp-in";
import { startSubmission } from "@aerogram/submission";

/** The admin API is not here: it rides on the HTTP endpoint. */
const SERVICES: Partial<Record<ServiceName, ServiceStarter>> = {
  imap: startImap,
  pop3: startPop3,
  "smtp-in": startSmtpIn,
  submission: startSubmission,
  // Queue workers: every process that runs them claims with SKIP LOCKED under a lease.
  outbound: startOutbound,
  // ManageSieve (RFC 5804): Sieve scripts for libs/delivery's filter.
  managesieve: (runtime) => startManageSieve(runtime),
  // Blob reclaimer (SKIP LOCKED) and retention (lease): issue 22.
  lifecycle: startLifecycle,
};

/** How long SIGTERM waits for sessions to finish (Kubernetes' default grace period is 30 s). */
export const DRAIN_GRACE_MS = 25_000;

export async function startServices(runtime: Runtime): Promise<ServiceHandle[]> {
  const services: ServiceHandle[] = [];
  for (const name of runtime.config.services) {
    const start = SERVICES[name];
    if (start) services.push(await start(runtime));
  }
  return services;
}

/** Drains every service (each in its protocol's own way) within graceMs. */
export async function drainServices(services: ServiceHandle[], graceMs: number): Promise<void> {
  await Promise.all(services.map((s) => s.drain(graceMs)));
}
