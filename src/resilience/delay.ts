/**
 * `delay`: a promise that resolves after a time, and stops at once when its signal aborts.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { checkMs, checkSignal } from "./_validate.ts";

/**
 * Options of {@linkcode delay}.
 *
 * @example
 * ```ts
 * const options: DelayOptions = { signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface DelayOptions {
  /** Aborting rejects at once with the signal's reason and clears the timer. */
  signal?: AbortSignal;
  /** The clock to wait on. Default: the system clock. */
  clock?: Clock;
}

/**
 * Resolves after `ms` milliseconds. If `signal` aborts first, it rejects with the signal's
 * reason at once, and no timer is left behind.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(), 10);
 * await delay(60_000, { signal: controller.signal }).catch((reason) => console.log(reason));
 * ```
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  try {
    checkMs(ms, "Delay", false);
  } catch (error) {
    return Promise.reject(error);
  }
  const signal = checkSignal(options.signal);
  const clock = options.clock ?? systemClock;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
