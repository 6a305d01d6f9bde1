/**
 * Idle timeouts for many thousands of sessions with one timer: sessions record
 * their last activity, and a single unref'd interval sweeps them. A session
 * costs a Map entry, not a setTimeout of its own.
 */
export interface IdleSession {
  /** Called once when the session has been idle longer than its limit. */
  onIdleTimeout(): void;
}

interface Entry {
  lastActivity: number;
  limitMs: number;
  /** Absolute time (performance.now) by which the session must be done, whatever its activity. */
  deadline: number;
}

export class IdleSweeper {
  private readonly sessions = new Map<IdleSession, Entry>();
  private readonly timer: NodeJS.Timeout;

  /** @param resolutionMs how often to sweep; a session times out between limit and limit + resolution */
  constructor(resolutionMs = 1000) {
    this.timer = setInterval(() => this.sweep(), resolutionMs);
    this.timer.unref();
  }

  /**
   * Starts watching a session (or changes its limit, e.g. 30 min after login
   * instead of 2 min before). `deadlineMs` adds a hard limit that activity
   * does not extend: a client that sends one byte a minute must still log in
   * within it. Watching again without one (after login) removes it.
   */
  watch(session: IdleSession, limitMs: number, deadlineMs?: number): void {
    const now = performance.now();
    this.sessions.set(session, {
      lastActivity: now,
      limitMs,
      deadline: deadlineMs === undefined ? Number.POSITIVE_INFINITY : now + deadlineMs,
    });
  }

  touch(session: IdleSession): void {
    const e = this.sessions.get(session);
    if (e) e.lastActivity = performance.now();
  }

  /**
   * Moves a session's hard deadline `ms` later (a budget that grows with the
   * work done, e.g. SMTP DATA: a floor plus time per byte received).
   */
  extendDeadline(session: IdleSession, ms: number): void {
    const e = this.sessions.get(session);
    if (e) e.deadline += ms;
  }

  unwatch(session: IdleSession): void {
    this.sessions.delete(session);
  }

  get size(): number {
    return this.sessions.size;
  }

  sweep(now = performance.now()): void {
    for (const [session, e] of this.sessions) {
      if (now - e.lastActivity >= e.limitMs || now >= e.deadline) {
        this.sessions.delete(session);
        try {
          session.onIdleTimeout();
        } catch {
          // A session's own failure to close must not stop the sweep for the others.
        }
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.sessions.clear();
  }
}
