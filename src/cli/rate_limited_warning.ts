/**
 * A warning that repeats under attack (a refused client, a failed accept) logged at most once
 * per interval, with how many times it happened since it was last logged.
 *
 * @module
 */

/**
 * Counts occurrences and logs the first at once, then at most one summary per interval.
 *
 * @example
 * ```ts
 * const refused = new RateLimitedWarning(10_000, (count) => console.log(`refused ${count} clients`));
 * refused.note(); // logged now
 * refused.note(); // counted, logged with the others 10 s after the first
 * refused.stop();
 * ```
 */
export class RateLimitedWarning<T = undefined> {
  readonly #intervalMs: number;
  readonly #log: (count: number, last?: T) => void;
  #count = 0;
  #last: T | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param intervalMs The least time between two log lines.
   * @param log Writes one line: how many occurrences, and the last one's detail.
   */
  constructor(intervalMs: number, log: (count: number, last?: T) => void) {
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  /** One more occurrence. */
  note(detail?: T): void {
    if (this.#timer === undefined) {
      this.#log(1, detail);
      this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
      return;
    }
    this.#count++;
    this.#last = detail;
  }

  /** Logs what is counted and stops the timer. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count > 0) this.#log(this.#count, this.#last);
    this.#count = 0;
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#count === 0) return;
    const count = this.#count;
    this.#count = 0;
    this.#log(count, this.#last);
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
  }
}
