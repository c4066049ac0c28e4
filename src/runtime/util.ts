/**
 * Small helpers shared by the transports.
 *
 * @module
 */

import { formatHostPort, NetError } from "./errors.ts";
import type { ConnectOptions, ListenOptions, Stream, StreamOptions } from "./types.ts";

/**
 * The address family of an IP address string.
 *
 * @example
 * ```ts
 * familyOf("::1");       // "IPv6"
 * familyOf("127.0.0.1"); // "IPv4"
 * ```
 */
export function familyOf(address: string): "IPv4" | "IPv6" {
  return address.includes(":") ? "IPv6" : "IPv4";
}

/**
 * Checks a port number, throwing a RangeError that names the bad value.
 *
 * @example
 * ```ts
 * checkPort(8080, "listen"); // ok
 * checkPort(70000, "listen"); // throws RangeError
 * ```
 */
export function checkPort(port: unknown, operation: "listen" | "connect" | "bind"): void {
  const min = operation === "connect" ? 1 : 0;
  if (typeof port !== "number" || !Number.isInteger(port) || port < min || port > 65535) {
    throw new RangeError(
      `Port for ${operation} must be an integer from ${min} to 65535, got ${String(port)}`,
    );
  }
}

/**
 * Checks the water marks, throwing a RangeError that names the bad value.
 *
 * @example
 * ```ts
 * checkStreamOptions({ highWaterMark: 1024, lowWaterMark: 256 }); // ok
 * checkStreamOptions({ highWaterMark: -1 }); // throws RangeError
 * ```
 */
export function checkStreamOptions(options: StreamOptions): void {
  const high = options.highWaterMark;
  if (high !== undefined && (!Number.isInteger(high) || high < 0)) {
    throw new RangeError(`High water mark must be a non-negative integer, got ${high}`);
  }
  const low = options.lowWaterMark;
  if (low !== undefined && (!Number.isInteger(low) || low < 0 || (high !== undefined && low > high))) {
    throw new RangeError(
      `Low water mark must be an integer from 0 to the high water mark${
        high === undefined ? "" : ` ${high}`
      }, got ${low}`,
    );
  }
}

/**
 * Checks listen options before anything is bound.
 *
 * @example
 * ```ts
 * checkListenOptions({ port: 0, onAccept() {} }); // ok
 * ```
 */
export function checkListenOptions(options: ListenOptions): void {
  checkPort(options.port, "listen");
  checkStreamOptions(options);
  if (typeof options.onAccept !== "function") {
    throw new TypeError(`Listen needs an onAccept function, got ${typeof options.onAccept}`);
  }
}

/**
 * The two ways a connect attempt ends.
 *
 * @example
 * ```ts
 * const settle: Settle<number> = { resolve: (v) => {}, reject: (e) => {} };
 * ```
 */
export interface Settle<T> {
  /** The connection is up. */
  resolve(value: T): void;
  /** The attempt failed. */
  reject(error: NetError): void;
}

/**
 * Runs a connect attempt under the options' `timeoutMs` and `signal`. `start` begins the
 * attempt and returns a function that abandons it. A stream that arrives after the attempt was
 * given up is reset at once, so nothing leaks.
 *
 * @example
 * ```ts
 * import { connectDeadline } from "./util.ts";
 * import { NetError } from "./errors.ts";
 * import type { Stream } from "./types.ts";
 * declare function openSocket(host: string, port: number, done: (s: Stream) => void, fail: () => void): () => void;
 * const stream = await connectDeadline<Stream>({ hostname: "127.0.0.1", port: 9000, timeoutMs: 3000 }, (settle) =>
 *   openSocket("127.0.0.1", 9000, settle.resolve, () => settle.reject(new NetError("ECONNREFUSED")))
 * ); // openSocket returns the function that abandons the attempt
 * ```
 */
export function connectDeadline<T extends Stream>(
  options: ConnectOptions,
  start: (settle: Settle<T>) => () => void,
): Promise<T> {
  const { hostname, port, signal, timeoutMs } = options;
  try {
    checkPort(port, "connect");
    checkStreamOptions(options);
    if (typeof hostname !== "string" || hostname === "") {
      throw new TypeError(`Host name for connect must be a non-empty string, got ${String(hostname)}`);
    }
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      throw new RangeError(`Connect timeout must be a non-negative number of milliseconds, got ${timeoutMs}`);
    }
  } catch (error) {
    return Promise.reject(error);
  }
  const where = formatHostPort(hostname, port);
  if (signal?.aborted) {
    return Promise.reject(
      new NetError("ECANCELED", `Connect to ${where} was cancelled before it started`, {
        cause: signal.reason,
        syscall: "connect",
        address: hostname,
        port,
      }),
    );
  }
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abandon: (() => void) | undefined;
    const finish = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const giveUp = (error: NetError) => {
      if (done) return;
      finish();
      try {
        abandon?.();
      } finally {
        reject(error);
      }
    };
    const onAbort = () =>
      giveUp(
        new NetError("ECANCELED", `Connect to ${where} was cancelled`, {
          cause: signal?.reason,
          syscall: "connect",
          address: hostname,
          port,
        }),
      );
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () =>
          giveUp(
            new NetError("ETIMEDOUT", `Connect to ${where} timed out after ${timeoutMs} ms`, {
              syscall: "connect",
              address: hostname,
              port,
            }),
          ),
        timeoutMs,
      );
    }
    const settle: Settle<T> = {
      resolve(stream) {
        if (done) {
          stream.reset();
          return;
        }
        finish();
        resolve(stream);
      },
      reject(error) {
        if (done) return;
        finish();
        reject(error);
      },
    };
    try {
      abandon = start(settle);
    } catch (error) {
      settle.reject(error instanceof NetError ? error : new NetError("EINVAL", String(error), { cause: error }));
    }
  });
}
