/**
 * `retry`: runs an operation again after retryable failures, with backoff, under a budget of
 * attempts and total time, until it succeeds, fails for good, or is cancelled.
 *
 * @module
 */

import { FramingError } from "../framing/errors.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { type Clock, systemClock } from "./clock.ts";
import { delay } from "./delay.ts";
import { describeCause, RetryError, TimeoutError } from "./errors.ts";
import { checkFunction, checkMs, checkSignal } from "./_validate.ts";

/**
 * The network error codes that the default classifier retries: the failure may well be gone
 * on the next attempt.
 *
 * @example
 * ```ts
 * console.log(RETRYABLE_CODES.includes("ECONNRESET")); // true
 * ```
 */
export const RETRYABLE_CODES: readonly string[] = [
  "ETIMEDOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "TLS_HANDSHAKE_TIMEOUT",
];

/**
 * The default error classifier of {@linkcode retry}.
 *
 * Retried: errors whose `code` is one of {@linkcode RETRYABLE_CODES} (every `NetError` and
 * {@linkcode TimeoutError} with those codes), errors with an HTTP-like `status` or
 * `statusCode` of 500 or more, and an `AggregateError` (such as Happy Eyeballs' "every attempt
 * failed") when one of its errors is retryable.
 *
 * Not retried: protocol errors (`FramingError`: `FrameTooLargeError`, `MalformedFrameError`),
 * authentication errors (a `name` containing "Auth", or status 401 or 403), application errors
 * of the 4xx kind (status 400 to 499), an exhausted {@linkcode RetryError}, and anything else
 * (programming errors such as `TypeError` among them).
 *
 * @example
 * ```ts
 * import { NetError } from "sockmodels/errors";
 * isRetryableError(new NetError("ECONNREFUSED")); // true
 * isRetryableError(Object.assign(new Error("Not found"), { status: 404 })); // false
 * ```
 */
export function isRetryableError(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  if (error instanceof FramingError || error instanceof RetryError) {
    return false;
  }
  const e = error as {
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    name?: unknown;
  };
  if (typeof e.name === "string" && /auth/i.test(e.name)) return false;
  const status = typeof e.status === "number" ? e.status : typeof e.statusCode === "number" ? e.statusCode : undefined;
  if (status !== undefined && status >= 400 && status < 500) return false;
  if (typeof e.code === "string" && RETRYABLE_CODES.includes(e.code)) {
    return true;
  }
  if (status !== undefined && status >= 500 && status < 600) return true;
  if (error instanceof AggregateError) {
    return error.errors.some(isRetryableError);
  }
  return false;
}

/**
 * What `fn` receives on each attempt.
 *
 * @example
 * ```ts
 * const attempt = ({ attempt, signal }: RetryContext) => fetch("http://127.0.0.1/", { signal });
 * ```
 */
export interface RetryContext {
  /** The attempt number, from 1. */
  attempt: number;
  /**
   * Aborts when the caller's signal aborts, when the attempt's `attemptTimeoutMs` passes, or
   * when the time budget runs out. Pass it on to the work.
   */
  signal: AbortSignal;
}

/**
 * What `onRetry` receives before each wait.
 *
 * @example
 * ```ts
 * const onRetry = (info: RetryInfo) => console.log(`attempt ${info.attempt} failed; waiting ${info.delayMs} ms`);
 * ```
 */
export interface RetryInfo {
  /** The attempt that just failed, from 1. */
  attempt: number;
  /** Its error. */
  error: unknown;
  /** The wait before the next attempt, in milliseconds. */
  delayMs: number;
  /** Milliseconds since the first attempt started. */
  elapsedMs: number;
}

/**
 * Options of {@linkcode retry}.
 *
 * @example
 * ```ts
 * const options: RetryOptions = { maxAttempts: 5, maxElapsedMs: 10_000, backoff: { baseMs: 100 } };
 * ```
 */
export interface RetryOptions {
  /** The most attempts, counting the first. Default 5; `Infinity` for no limit. */
  maxAttempts?: number;
  /**
   * The time budget in milliseconds, counted from the start of the first attempt. Once it runs
   * out the running attempt is aborted and no new attempt starts; a wait that would end past
   * the budget is not even begun. Default `Infinity`.
   */
  maxElapsedMs?: number;
  /** A per-attempt time limit (the request timeout), in milliseconds. Default: none. */
  attemptTimeoutMs?: number;
  /** The backoff between attempts: options or a {@linkcode Backoff}. Default: equal jitter from 250 ms. */
  backoff?: BackoffOptions | Backoff;
  /** Whether an error is worth another attempt. Default {@linkcode isRetryableError}. */
  isRetryable?: (error: unknown, attempt: number) => boolean;
  /** Cancels everything: the running attempt's signal aborts and the retry rejects with the reason. */
  signal?: AbortSignal;
  /** Called after a retryable failure, before the wait. */
  onRetry?: (info: RetryInfo) => void;
  /** The clock for waits and budgets. Default: the system clock. */
  clock?: Clock;
}

/**
 * Runs `fn` until it succeeds, retrying retryable failures with backoff.
 *
 * - A non-retryable error is thrown as it is, at once.
 * - When the attempts or the time budget run out, a {@linkcode RetryError} is thrown; its
 *   `errors` holds every attempt's error in order, and `attempts` the count.
 * - When `signal` aborts (also during a backoff wait), the retry rejects at once with the
 *   signal's reason and leaves no timer behind.
 *
 * Whether an operation may safely run twice (idempotency) is the caller's call.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * const stream = await retry(
 *   ({ signal }) => transport.connect({ hostname: "127.0.0.1", port: 9000, signal }),
 *   { maxAttempts: 5, attemptTimeoutMs: 2000, backoff: { baseMs: 200, capMs: 5000 } },
 * );
 * ```
 */
export async function retry<T>(
  fn: (context: RetryContext) => Promise<T> | T,
  options: RetryOptions = {},
): Promise<T> {
  checkFunction(fn, "The function to retry");
  const maxAttempts = options.maxAttempts ?? 5;
  if (
    typeof maxAttempts !== "number" || !(maxAttempts >= 1) ||
    (!Number.isInteger(maxAttempts) && maxAttempts !== Infinity)
  ) {
    throw new RangeError(
      `Max attempts must be an integer >= 1 (or Infinity), got ${String(maxAttempts)}`,
    );
  }
  const maxElapsedMs = checkMs(
    options.maxElapsedMs ?? Infinity,
    "Max elapsed time",
    true,
  );
  const attemptTimeoutMs = options.attemptTimeoutMs === undefined
    ? undefined
    : checkMs(options.attemptTimeoutMs, "Attempt timeout", true);
  const backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
  const isRetryable = options.isRetryable ?? isRetryableError;
  checkFunction(isRetryable, "isRetryable");
  if (options.onRetry !== undefined) checkFunction(options.onRetry, "onRetry");
  const signal = checkSignal(options.signal);
  const clock = options.clock ?? systemClock;

  if (signal?.aborted) throw signal.reason;
  const start = clock.now();
  const errors: unknown[] = [];
  // The budget aborts the running attempt; the caller's signal aborts everything.
  const budget = new AbortController();
  const budgetTimer = Number.isFinite(maxElapsedMs)
    ? clock.setTimeout(() => {
      budget.abort(
        new TimeoutError(
          `Retry budget of ${maxElapsedMs} ms ran out during attempt ${errors.length + 1}`,
          {
            kind: "budget",
            timeoutMs: maxElapsedMs,
          },
        ),
      );
    }, maxElapsedMs)
    : undefined;
  const giveUp = (reason: "attempts" | "elapsed"): RetryError => {
    const attempts = errors.length;
    const elapsedMs = clock.now() - start;
    const limit = reason === "attempts"
      ? `the limit of ${maxAttempts} attempt${maxAttempts === 1 ? "" : "s"} was reached`
      : `the time budget of ${maxElapsedMs} ms ran out`;
    return new RetryError(
      `Gave up after ${attempts} attempt${attempts === 1 ? "" : "s"} in ${Math.round(elapsedMs)} ms: ${limit}; ` +
        `the last error was ${describeCause(errors[errors.length - 1])}`,
      { errors, attempts, reason, elapsedMs },
    );
  };

  try {
    for (let attempt = 1;; attempt++) {
      let result: T;
      try {
        result = await runAttempt(
          fn,
          attempt,
          signal,
          budget.signal,
          attemptTimeoutMs,
          clock,
        );
        return result;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        errors.push(error);
        if (budget.signal.aborted) throw giveUp("elapsed");
        if (!isRetryable(error, attempt)) throw error;
        if (attempt >= maxAttempts) throw giveUp("attempts");
        const delayMs = backoff.next();
        const elapsedMs = clock.now() - start;
        if (elapsedMs + delayMs >= maxElapsedMs) throw giveUp("elapsed");
        options.onRetry?.({ attempt, error, delayMs, elapsedMs });
        await delay(delayMs, { signal, clock });
      }
    }
  } finally {
    if (budgetTimer !== undefined) clock.clearTimeout(budgetTimer);
  }
}

/** One attempt under the caller's signal, the budget and the per-attempt limit. */
function runAttempt<T>(
  fn: (context: RetryContext) => Promise<T> | T,
  attempt: number,
  outer: AbortSignal | undefined,
  budget: AbortSignal,
  attemptTimeoutMs: number | undefined,
  clock: Clock,
): Promise<T> {
  const controller = new AbortController();
  let timer: unknown;
  let settled = false;
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      settled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
      budget.removeEventListener("abort", onAbort);
    };
    const onAbort = (event: Event) => {
      if (settled) return;
      const source = event.target as AbortSignal;
      cleanup();
      controller.abort(source.reason);
      reject(source.reason);
    };
    if (budget.aborted) {
      settled = true;
      reject(budget.reason);
      return;
    }
    outer?.addEventListener("abort", onAbort, { once: true });
    budget.addEventListener("abort", onAbort, { once: true });
    if (attemptTimeoutMs !== undefined && Number.isFinite(attemptTimeoutMs)) {
      timer = clock.setTimeout(() => {
        if (settled) return;
        cleanup();
        const error = new TimeoutError(
          `Attempt ${attempt} timed out after ${attemptTimeoutMs} ms`,
          {
            kind: "request",
            timeoutMs: attemptTimeoutMs,
          },
        );
        controller.abort(error);
        reject(error);
      }, attemptTimeoutMs);
    }
    Promise.resolve()
      .then(() => fn({ attempt, signal: controller.signal }))
      .then(
        (value) => {
          if (settled) return;
          cleanup();
          resolve(value);
        },
        (error) => {
          if (settled) return;
          cleanup();
          reject(error);
        },
      );
  });
}
