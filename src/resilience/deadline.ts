/**
 * `deadline`: a promise that must settle in time, or rejects with a {@linkcode TimeoutError}.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { TimeoutError } from "./errors.ts";
import { checkMs, checkSignal } from "./_validate.ts";

/**
 * Options of {@linkcode deadline}.
 *
 * @example
 * ```ts
 * const options: DeadlineOptions = { signal: new AbortController().signal };
 * ```
 */
export interface DeadlineOptions {
  /** Aborting rejects at once with the signal's reason. */
  signal?: AbortSignal;
  /** The clock the time limit runs on. Default: the system clock. */
  clock?: Clock;
}

/**
 * Settles like `promise`, unless `ms` milliseconds pass first: then it rejects with a
 * {@linkcode TimeoutError} (kind `"deadline"`, code `ETIMEDOUT`). If `signal` aborts first it
 * rejects with the signal's reason. The timer is cleared either way. The promise itself is not
 * cancelled; pass a signal to the work behind it for that.
 *
 * @example
 * ```ts
 * const slow = new Promise((resolve) => setTimeout(resolve, 1000));
 * await deadline(slow, 10).catch((error) => console.log(error.name)); // "TimeoutError"
 * ```
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T> {
  try {
    checkMs(ms, "Deadline", false);
  } catch (error) {
    return Promise.reject(error);
  }
  const signal = checkSignal(options.signal);
  const clock = options.clock ?? systemClock;
  if (signal?.aborted) {
    // The abandoned promise must not surface as an unhandled rejection.
    Promise.resolve(promise).catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = () => {
      done = true;
      clock.clearTimeout(handle);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (done) return;
      finish();
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      if (done) return;
      finish();
      reject(
        new TimeoutError(
          `Deadline of ${ms} ms passed before the promise settled`,
          {
            kind: "deadline",
            timeoutMs: ms,
          },
        ),
      );
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(promise).then(
      (value) => {
        if (done) return;
        finish();
        resolve(value);
      },
      (error) => {
        if (done) return;
        finish();
        reject(error);
      },
    );
  });
}
