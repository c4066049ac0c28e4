/**
 * The connect timeout: name resolution plus connecting (the Happy Eyeballs race), under one
 * time limit and an optional outer signal.
 *
 * @module
 */

import { formatHostPort, NetError } from "../runtime/errors.ts";
import type { Stream } from "../runtime/types.ts";
import { happyEyeballs, type HappyEyeballsOptions } from "./happy_eyeballs.ts";
import { withTimeout } from "./timeout.ts";

/**
 * Options of {@linkcode connectWithTimeout}.
 *
 * @example
 * ```ts
 * const options: ConnectWithTimeoutOptions = { timeoutMs: 5000, attemptDelayMs: 250 };
 * ```
 */
export interface ConnectWithTimeoutOptions extends HappyEyeballsOptions {
  /** The limit for resolving and connecting together, in milliseconds. Default 10,000. */
  timeoutMs?: number;
}

/**
 * Resolves `hostname` and connects to `port` with {@linkcode happyEyeballs}, all within
 * `timeoutMs`. Rejects with a `TimeoutError` (a `NetError` ETIMEDOUT, kind `"connect"`) when
 * the limit passes, with a `NetError` ECANCELED when `signal` aborts, and otherwise with the
 * connect error. No attempt, timer or late connection is left behind.
 *
 * @example
 * ```ts
 * const stream = await connectWithTimeout("localhost", 8080, { timeoutMs: 3000 });
 * ```
 */
export async function connectWithTimeout(
  hostname: string,
  port: number,
  options: ConnectWithTimeoutOptions = {},
): Promise<Stream> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    return await withTimeout(
      (signal) => happyEyeballs(hostname, port, { ...options, signal }),
      timeoutMs,
      {
        signal: options.signal,
        clock: options.clock,
        kind: "connect",
        what: `Connect to ${formatHostPort(String(hostname), port)}`,
        dispose: (late) => late.reset(),
      },
    );
  } catch (error) {
    if (
      options.signal?.aborted &&
      !(error instanceof NetError && error.code === "ECANCELED")
    ) {
      throw new NetError(
        "ECANCELED",
        `Connect to ${formatHostPort(String(hostname), port)} was cancelled`,
        {
          cause: options.signal.reason,
          syscall: "connect",
          address: hostname,
          port,
        },
      );
    }
    throw error;
  }
}
