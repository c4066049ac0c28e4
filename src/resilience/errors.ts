/**
 * The errors of the resilience kit: {@linkcode TimeoutError} for every timeout (it is a
 * `NetError` with code `ETIMEDOUT`), and {@linkcode RetryError} when a retry budget runs out.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";

/**
 * Which timeout fired.
 *
 * - `"deadline"`: {@linkcode deadline} ran out.
 * - `"connect"`: name resolution plus connect took too long.
 * - `"request"`: one call (one attempt) took too long.
 * - `"read-idle"`, `"write-idle"`, `"all-idle"`: a connection was idle too long.
 * - `"heartbeat"`: no pong came back in time.
 * - `"budget"`: the total time budget of a retry ran out.
 *
 * @example
 * ```ts
 * const kind: TimeoutKind = "read-idle";
 * ```
 */
export type TimeoutKind =
  | "deadline"
  | "connect"
  | "request"
  | "read-idle"
  | "write-idle"
  | "all-idle"
  | "heartbeat"
  | "budget";

/**
 * A timeout. It is a {@linkcode NetError} with code `ETIMEDOUT`, so network code and the
 * default retry classifier treat every timeout alike; `kind` and `timeoutMs` say which limit
 * was hit.
 *
 * @example
 * ```ts
 * const error = new TimeoutError("Request timed out after 500 ms", { kind: "request", timeoutMs: 500 });
 * console.log(error.code, error.kind, error.timeoutMs); // "ETIMEDOUT" "request" 500
 * ```
 */
export class TimeoutError extends NetError {
  /** Which timeout fired. */
  readonly kind: TimeoutKind;
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  /** Creates a timeout error; the message should state the limit. */
  constructor(
    message: string,
    options: { kind: TimeoutKind; timeoutMs: number; cause?: unknown },
  ) {
    super("ETIMEDOUT", message, { cause: options.cause });
    this.name = "TimeoutError";
    this.kind = options.kind;
    this.timeoutMs = options.timeoutMs;
  }
}

/**
 * Why {@linkcode retry} gave up: `"attempts"` (the attempt limit was reached) or
 * `"elapsed"` (the time budget ran out).
 *
 * @example
 * ```ts
 * const reason: RetryGiveUpReason = "elapsed";
 * ```
 */
export type RetryGiveUpReason = "attempts" | "elapsed";

/**
 * Every attempt failed with a retryable error and the budget ran out. `errors` holds each
 * attempt's error, in order (it is an `AggregateError`); `cause` is the last one.
 *
 * @example
 * ```ts
 * const error = new RetryError("Gave up after 2 attempts", {
 *   errors: [new Error("first"), new Error("second")],
 *   attempts: 2,
 *   reason: "attempts",
 *   elapsedMs: 120,
 * });
 * console.log(error.attempts, error.errors.length); // 2 2
 * ```
 */
export class RetryError extends AggregateError {
  /** How many attempts were made. */
  readonly attempts: number;
  /** Which limit ended the retries. */
  readonly reason: RetryGiveUpReason;
  /** Milliseconds from the first attempt to giving up. */
  readonly elapsedMs: number;

  /** Creates the error. */
  constructor(
    message: string,
    options: {
      errors: unknown[];
      attempts: number;
      reason: RetryGiveUpReason;
      elapsedMs: number;
    },
  ) {
    const errors = [...options.errors];
    super(errors, message, { cause: errors[errors.length - 1] });
    this.name = "RetryError";
    this.attempts = options.attempts;
    this.reason = options.reason;
    this.elapsedMs = options.elapsedMs;
  }
}

/**
 * A short description of any thrown value, for error messages.
 *
 * @example
 * ```ts
 * describeCause(new Error("boom")); // "Error: boom"
 * ```
 */
export function describeCause(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === "string" ? ` ${code}` : ""}: ${error.message}`;
  }
  return String(error);
}
