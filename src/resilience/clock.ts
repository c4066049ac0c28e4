/**
 * The clock every timer of the resilience kit goes through: the system clock by default, or a
 * {@linkcode ManualClock} that tests advance by hand, so that backoff, retries, heartbeats,
 * idle timeouts and Happy Eyeballs staggering run fast and deterministically.
 *
 * @module
 */

/**
 * An opaque timer handle, as returned by {@linkcode Clock.setTimeout}.
 *
 * @example
 * ```ts
 * const handle: TimerHandle = systemClock.setTimeout(() => {}, 10);
 * systemClock.clearTimeout(handle);
 * ```
 */
export type TimerHandle = unknown;

/**
 * A source of time and one-shot timers.
 *
 * @example
 * ```ts
 * function elapsedSince(clock: Clock, start: number): number {
 *   return clock.now() - start;
 * }
 * ```
 */
export interface Clock {
  /** Monotonic milliseconds. Only differences between two readings are meaningful. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: `performance.now()` and the global timers.
 *
 * @example
 * ```ts
 * const start = systemClock.now();
 * systemClock.setTimeout(() => console.log(systemClock.now() - start), 100);
 * ```
 */
export const systemClock: Clock = {
  now: (): number => performance.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms),
  clearTimeout: (handle: TimerHandle): void => clearTimeout(handle as number),
};

interface ManualTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** Lets promise jobs and I/O callbacks queued so far run before the next manual timer fires. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A clock that only moves when told to. Timers fire in order of due time (then of creation)
 * during {@linkcode ManualClock.advance}, which lets pending promise jobs run between two timers,
 * so code that awaits between timers behaves as it would in real time.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * let fired = false;
 * clock.setTimeout(() => (fired = true), 1000);
 * await clock.advance(999); // fired === false
 * await clock.advance(1);   // fired === true
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: ManualTimer[] = [];

  /** Starts the clock at `start` milliseconds. */
  constructor(start: number = 0) {
    if (!Number.isFinite(start)) {
      throw new RangeError(
        `Manual clock start must be a finite number of milliseconds, got ${start}`,
      );
    }
    this.#now = start;
  }

  /** The current manual time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at `now() + ms`; a negative or NaN delay counts as 0, as with real timers. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Timer callback must be a function, got ${typeof fn}`,
      );
    }
    const delay = ms > 0 ? ms : 0;
    const timer: ManualTimer = {
      id: this.#nextId++,
      due: this.#now + delay,
      fn,
    };
    this.#timers.push(timer);
    return timer.id;
  }

  /** Cancels a timer. */
  clearTimeout(handle: TimerHandle): void {
    const index = this.#timers.findIndex((t) => t.id === handle);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** How many timers are scheduled and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** The due time of the next timer, or undefined when none is scheduled. */
  get nextDue(): number | undefined {
    const next = this.#earliest();
    return next?.due;
  }

  #earliest(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (
        best === undefined || t.due < best.due ||
        (t.due === best.due && t.id < best.id)
      ) best = t;
    }
    return best;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in order, and
   * letting the event loop turn before and after each one.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new RangeError(
        `Manual clock can only advance by a finite number of milliseconds >= 0, got ${ms}`,
      );
    }
    const target = this.#now + ms;
    await yieldToEventLoop();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.due > target) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.due;
      next.fn();
      await yieldToEventLoop();
    }
    this.#now = target;
    await yieldToEventLoop();
  }

  /**
   * Advances to the next timer and fires it (and any due at the same time). Returns the new
   * time, or undefined when no timer was scheduled.
   */
  async runNext(): Promise<number | undefined> {
    await yieldToEventLoop();
    const next = this.#earliest();
    if (next === undefined) return undefined;
    await this.advance(next.due - this.#now);
    return this.#now;
  }
}
