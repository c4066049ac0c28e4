/**
 * `abortable`: makes a promise or an async iterable stop waiting when a signal aborts.
 *
 * @module
 */

import { checkSignal } from "./_validate.ts";

/**
 * Settles like `source`, or rejects with `signal.reason` as soon as `signal` aborts. For an
 * async iterable, the returned generator yields its values until the signal aborts; then the
 * pending `next()` rejects with the reason and the source iterator is closed with `return()`.
 * The source itself is not cancelled: give it the signal too if it can stop.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const never = new Promise<never>(() => {});
 * setTimeout(() => controller.abort(new Error("cancelled")), 10);
 * await abortable(never, controller.signal).catch((e) => console.log(e.message)); // "cancelled"
 * ```
 */
export function abortable<T>(
  source: Promise<T>,
  signal: AbortSignal,
): Promise<T>;
/**
 * Yields the values of `source` until `signal` aborts.
 *
 * @example
 * ```ts
 * async function* ticks() { for (let i = 0; ; i++) yield i; }
 * const controller = new AbortController();
 * for await (const n of abortable(ticks(), controller.signal)) {
 *   if (n === 3) controller.abort();
 * }
 * ```
 */
export function abortable<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal,
): AsyncGenerator<T, void, undefined>;
export function abortable<T>(
  source: Promise<T> | AsyncIterable<T>,
  signal: AbortSignal,
): Promise<T> | AsyncGenerator<T, void, undefined> {
  const checked = checkSignal(signal);
  if (checked === undefined) {
    throw new TypeError("Signal must be an AbortSignal, got undefined");
  }
  if (isPromiseLike(source)) return abortablePromise(source, checked);
  if (
    source !== null && typeof source === "object" &&
    Symbol.asyncIterator in source
  ) {
    return abortableIterable(source, checked);
  }
  throw new TypeError(
    `Abortable needs a promise or an async iterable, got ${String(source)}`,
  );
}

function isPromiseLike<T>(value: unknown): value is Promise<T> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

function abortablePromise<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  if (signal.aborted) {
    Promise.resolve(promise).catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(promise).then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

async function* abortableIterable<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const result = await abortablePromise(iterator.next(), signal);
      if (result.done) {
        finished = true;
        return;
      }
      yield result.value;
    }
  } finally {
    if (!finished) {
      // Closing must not hang on a source stuck in next(), nor mask the abort reason.
      Promise.resolve(iterator.return?.()).catch(() => {});
    }
  }
}
