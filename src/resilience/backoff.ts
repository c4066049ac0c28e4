/**
 * Exponential backoff with jitter. With v = min(cap, base·2^n) for the n-th retry (n from 0):
 *
 * - `"none"`: v;
 * - `"full"`: U(0, v);
 * - `"equal"`: v/2 + U(0, v/2), the same as v·U(0.5, 1);
 * - `"decorrelated"`: min(cap, U(base, previous·3)), starting from previous = base.
 *
 * @module
 */

import type { RandomSource } from "./random.ts";

/**
 * The jitter modes.
 *
 * @example
 * ```ts
 * const jitter: Jitter = "equal";
 * ```
 */
export type Jitter = "none" | "full" | "equal" | "decorrelated";

const JITTERS: readonly Jitter[] = ["none", "full", "equal", "decorrelated"];

/**
 * Options of {@linkcode Backoff}.
 *
 * @example
 * ```ts
 * const options: BackoffOptions = { baseMs: 100, capMs: 10_000, jitter: "full" };
 * ```
 */
export interface BackoffOptions {
  /** The first delay before jitter, in milliseconds. Default 250. */
  baseMs?: number;
  /** The largest delay, in milliseconds. Default 30,000. */
  capMs?: number;
  /** The jitter mode. Default `"equal"`. */
  jitter?: Jitter;
  /** Numbers in [0, 1). Default `Math.random`; use `seededRandom` for reproducible delays. */
  random?: RandomSource;
}

/**
 * A backoff schedule: each {@linkcode Backoff.next} gives the delay before the next retry.
 * {@linkcode Backoff.reset} starts over, for example after a connection succeeded.
 *
 * @example
 * ```ts
 * const backoff = new Backoff({ baseMs: 100, capMs: 1000, jitter: "none" });
 * console.log(backoff.next(), backoff.next(), backoff.next()); // 100 200 400
 * backoff.reset();
 * console.log(backoff.next()); // 100
 * ```
 */
export class Backoff {
  /** The first delay before jitter. */
  readonly baseMs: number;
  /** The largest delay. */
  readonly capMs: number;
  /** The jitter mode. */
  readonly jitter: Jitter;
  readonly #random: RandomSource;
  #attempt = 0;
  #previous: number;

  /** Checks the options and creates the schedule. */
  constructor(options: BackoffOptions = {}) {
    const baseMs = options.baseMs ?? 250;
    const capMs = options.capMs ?? 30_000;
    const jitter = options.jitter ?? "equal";
    const random = options.random ?? Math.random;
    if (
      typeof baseMs !== "number" || !(baseMs > 0) || !Number.isFinite(baseMs)
    ) {
      throw new RangeError(
        `Backoff base must be a finite number of milliseconds > 0, got ${String(baseMs)}`,
      );
    }
    if (
      typeof capMs !== "number" || !(capMs >= baseMs) || !Number.isFinite(capMs)
    ) {
      throw new RangeError(
        `Backoff cap must be a finite number of milliseconds >= the base of ${baseMs} ms, got ${String(capMs)}`,
      );
    }
    if (!JITTERS.includes(jitter)) {
      throw new RangeError(
        `Backoff jitter must be one of ${JITTERS.join(", ")}, got ${JSON.stringify(jitter)}`,
      );
    }
    if (typeof random !== "function") {
      throw new TypeError(
        `Backoff random source must be a function, got ${typeof random}`,
      );
    }
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.jitter = jitter;
    this.#random = random;
    this.#previous = baseMs;
  }

  /** How many delays were taken since the start or the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in milliseconds. */
  next(): number {
    const n = this.#attempt++;
    const delay = backoffDelay(n, {
      baseMs: this.baseMs,
      capMs: this.capMs,
      jitter: this.jitter,
      random: this.#random,
      previousMs: this.#previous,
    });
    this.#previous = delay;
    return delay;
  }

  /** Starts the schedule over. */
  reset(): void {
    this.#attempt = 0;
    this.#previous = this.baseMs;
  }
}

/**
 * The inputs of {@linkcode backoffDelay}.
 *
 * @example
 * ```ts
 * const params: BackoffParams = { baseMs: 250, capMs: 30_000, jitter: "equal", random: Math.random };
 * ```
 */
export interface BackoffParams {
  /** The first delay before jitter. */
  baseMs: number;
  /** The largest delay. */
  capMs: number;
  /** The jitter mode. */
  jitter: Jitter;
  /** Numbers in [0, 1). */
  random: RandomSource;
  /** The previous delay, for `"decorrelated"`. Default: the base. */
  previousMs?: number;
}

/**
 * The delay before retry number `n` (from 0), without checking the inputs. Most code wants a
 * {@linkcode Backoff} instead.
 *
 * @example
 * ```ts
 * backoffDelay(3, { baseMs: 100, capMs: 10_000, jitter: "none", random: Math.random }); // 800
 * ```
 */
export function backoffDelay(n: number, params: BackoffParams): number {
  const { baseMs, capMs, jitter, random } = params;
  const v = Math.min(capMs, baseMs * 2 ** n);
  switch (jitter) {
    case "none":
      return v;
    case "full":
      return random() * v;
    case "equal":
      return v / 2 + random() * (v / 2);
    case "decorrelated": {
      const previous = params.previousMs ?? baseMs;
      const high = Math.max(baseMs, previous * 3);
      return Math.min(capMs, baseMs + random() * (high - baseMs));
    }
  }
}
