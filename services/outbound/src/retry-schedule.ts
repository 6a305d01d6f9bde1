/**
 * When to try again after a temporary failure (RFC 5321 §4.5.4.1: at least
 * 30 minutes apart in general, give up after 4-5 days; we start sooner, as
 * greylisting asks for minutes). The schedule is OUTBOUND_RETRY_SCHEDULE:
 * the delay after attempt n is its n-th entry, the last repeating.
 */
export function nextAttemptDelayMs(scheduleMs: readonly number[], attemptsSoFar: number): number {
  if (scheduleMs.length === 0) return 5 * 60_000;
  return scheduleMs[Math.min(Math.max(attemptsSoFar, 1), scheduleMs.length) - 1]!;
}
