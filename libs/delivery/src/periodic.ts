/**
 * A task run every `intervalMs` after the previous run finished (never two at
 * once), first right after start(). A failed run is the task's to report; the
 * next one still comes. stop() cancels the next run and waits for one in flight.
 * The lifecycle workers (blob-reclaimer.ts, retention.ts) run on it.
 */
export class PeriodicTask {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.run()
        .catch(() => {})
        .finally(() => {
          this.#running = undefined;
          this.#schedule(this.intervalMs);
        });
    }, ms);
    this.#timer.unref();
  }
}
