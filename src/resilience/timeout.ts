/**
 * Request timeouts and cancellation scopes, all through `AbortSignal`: {@linkcode withTimeout}
 * runs one call under a time limit and an optional outer signal (the global cancel), and
 * {@linkcode timeoutSignal} builds such a signal for code that manages its own calls.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { TimeoutError, type TimeoutKind } from "./errors.ts";
import { checkMs, checkSignal } from "./_validate.ts";

/**
 * Options of {@linkcode timeoutSignal}.
 *
 * @example
 * ```ts
 * const options: TimeoutSignalOptions = { kind: "request", signal: new AbortController().signal };
 * ```
 */
export interface TimeoutSignalOptions {
  /** An outer signal (a global cancel): aborting it aborts the scope with its reason. */
  signal?: AbortSignal;
  /** The clock the limit runs on. Default: the system clock. */
  clock?: Clock;
  /** Which timeout this is; it goes into the {@linkcode TimeoutError}. Default `"request"`. */
  kind?: TimeoutKind;
  /** What is being timed, for the message, such as `"Connect to example.com:80"`. */
  what?: string;
}

/**
 * A signal that aborts after a time limit or when an outer signal aborts, whichever is first.
 * Call `clear()` (or dispose it) when the work is done, so that no timer or listener is left.
 *
 * @example
 * ```ts
 * using scope = timeoutSignal(1000);
 * scope.signal.addEventListener("abort", () => console.log(scope.signal.reason.name));
 * ```
 */
export interface TimeoutScope extends Disposable {
  /** Aborts with a {@linkcode TimeoutError} at the limit, or with the outer signal's reason. */
  readonly signal: AbortSignal;
  /** True when the limit (not the outer signal) aborted the scope. */
  readonly timedOut: boolean;
  /** Clears the timer and the listener on the outer signal. */
  clear(): void;
}

/**
 * Creates a {@linkcode TimeoutScope}: a signal that aborts with a {@linkcode TimeoutError}
 * (code `ETIMEDOUT`) after `ms` milliseconds, or with the reason of `options.signal` when that
 * aborts first. `ms` may be `Infinity` for no limit.
 *
 * @example
 * ```ts
 * const scope = timeoutSignal(5000, { kind: "connect", what: "Connect to 127.0.0.1:9000" });
 * try {
 *   // await transport.connect({ hostname: "127.0.0.1", port: 9000, signal: scope.signal });
 * } finally {
 *   scope.clear();
 * }
 * ```
 */
export function timeoutSignal(
  ms: number,
  options: TimeoutSignalOptions = {},
): TimeoutScope {
  checkMs(ms, "Timeout", true);
  const outer = checkSignal(options.signal);
  const clock = options.clock ?? systemClock;
  const kind = options.kind ?? "request";
  const what = options.what ?? defaultWhat(kind);
  const controller = new AbortController();
  let handle: unknown;
  let timedOut = false;
  let cleared = false;
  const onOuterAbort = () => {
    clear();
    controller.abort(outer!.reason);
  };
  const clear = () => {
    if (cleared) return;
    cleared = true;
    if (handle !== undefined) clock.clearTimeout(handle);
    outer?.removeEventListener("abort", onOuterAbort);
  };
  if (outer?.aborted) {
    cleared = true;
    controller.abort(outer.reason);
  } else {
    outer?.addEventListener("abort", onOuterAbort, { once: true });
    if (Number.isFinite(ms)) {
      handle = clock.setTimeout(() => {
        handle = undefined;
        timedOut = true;
        clear();
        controller.abort(
          new TimeoutError(`${what} timed out after ${ms} ms`, {
            kind,
            timeoutMs: ms,
          }),
        );
      }, ms);
    }
  }
  return {
    signal: controller.signal,
    get timedOut(): boolean {
      return timedOut;
    },
    clear,
    [Symbol.dispose]: clear,
  };
}

function defaultWhat(kind: TimeoutKind): string {
  switch (kind) {
    case "connect":
      return "Connect";
    case "request":
      return "Request";
    case "budget":
      return "Retry budget";
    case "heartbeat":
      return "Heartbeat";
    default:
      return "Operation";
  }
}

/**
 * Options of {@linkcode withTimeout}.
 *
 * @example
 * ```ts
 * const options: WithTimeoutOptions<Uint8Array> = { kind: "request", what: "GET /" };
 * ```
 */
export interface WithTimeoutOptions<T> extends TimeoutSignalOptions {
  /**
   * Called with a value that `fn` produced after the limit or the abort, when nobody can use it
   * any more: close a late connection here so that it does not leak.
   */
  dispose?: (lateValue: T) => void;
}

/**
 * Runs `fn` with a signal that aborts after `ms` milliseconds or when `options.signal` aborts.
 * Resolves with `fn`'s result, or rejects with a {@linkcode TimeoutError} as soon as the limit
 * passes (even if `fn` ignores its signal), or with the outer signal's reason when that aborts.
 * This is the per-call request timeout; the outer signal is the global cancel.
 *
 * @example
 * ```ts
 * const body = await withTimeout(
 *   (signal) => fetch("http://127.0.0.1:8080/", { signal }).then((r) => r.text()),
 *   5000,
 *   { what: "GET /" },
 * );
 * ```
 */
export function withTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T> | T,
  ms: number,
  options: WithTimeoutOptions<T> = {},
): Promise<T> {
  if (typeof fn !== "function") {
    return Promise.reject(
      new TypeError(`withTimeout needs a function, got ${typeof fn}`),
    );
  }
  let scope: TimeoutScope;
  try {
    scope = timeoutSignal(ms, options);
  } catch (error) {
    return Promise.reject(error);
  }
  const { signal } = scope;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const onAbort = () => {
      if (done) return;
      done = true;
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve()
      .then(() => fn(signal))
      .then(
        (value) => {
          if (done) {
            options.dispose?.(value);
            return;
          }
          done = true;
          scope.clear();
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        (error) => {
          if (done) return;
          done = true;
          scope.clear();
          signal.removeEventListener("abort", onAbort);
          // fn saw the abort first and failed with its own error: report the timeout instead.
          reject(signal.aborted ? signal.reason : error);
        },
      );
  });
}
