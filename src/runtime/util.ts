/**
 * Small helpers shared by the transports.
 *
 * @module
 */

import { formatHostPort, NetError } from "../core/errors.ts";
import type { ConnectOptions, Stream } from "./types.ts";

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
 * // Inside a transport:
 * // return connectDeadline(options, (settle) => { ...; return () => socket.destroy(); });
 * ```
 */
export function connectDeadline<T extends Stream>(
  options: ConnectOptions,
  start: (settle: Settle<T>) => () => void,
): Promise<T> {
  const { hostname, port, signal, timeoutMs } = options;
  try {
    checkPort(port, "connect");
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
