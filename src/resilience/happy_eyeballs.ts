/**
 * Happy Eyeballs version 2 (RFC 8305): resolve IPv6 and IPv4 at once, interleave the address
 * families, and race staggered connection attempts; the first connection wins and the others
 * are cancelled.
 *
 * @module
 */

import { formatHostPort, NetError, toNetError } from "../runtime/errors.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Stream, StreamOptions, TlsClientOptions, Transport } from "../runtime/types.ts";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { describeCause } from "./errors.ts";
import { type AddressFamily, type Resolver, staticAddresses, systemResolver } from "./resolve.ts";
import { checkFunction, checkMs, checkSignal } from "./_validate.ts";

/**
 * What `onAttempt` receives when a connection attempt starts.
 *
 * @example
 * ```ts
 * const log = (a: AttemptInfo) => console.log(`attempt ${a.index} to ${a.address} at ${a.startedAt}`);
 * ```
 */
export interface AttemptInfo {
  /** The attempt number, from 0. */
  index: number;
  /** The IP address being tried. */
  address: string;
  /** Its family. */
  family: AddressFamily;
  /** The clock's time when the attempt started. */
  startedAt: number;
}

/**
 * Options of {@linkcode happyEyeballs}.
 *
 * @example
 * ```ts
 * const options: HappyEyeballsOptions = { attemptDelayMs: 250, resolutionDelayMs: 50 };
 * ```
 */
export interface HappyEyeballsOptions {
  /** The transport to connect with. Default: the runtime's own. */
  transport?: Transport;
  /** Looks up names. Default: the system resolver. IP literals and `localhost` need none. */
  resolver?: Resolver;
  /** The stagger between attempts, in milliseconds (RFC 8305 "Connection Attempt Delay"). Default 250. */
  attemptDelayMs?: number;
  /** How long to wait for IPv6 answers once IPv4 answers are in, in milliseconds. Default 50. */
  resolutionDelayMs?: number;
  /** Cancels the lookups and every attempt; rejects with a `NetError` (ECANCELED). */
  signal?: AbortSignal;
  /** The clock for the delays. Default: the system clock. */
  clock?: Clock;
  /** Stream options (water marks, half-open policy, Nagle) for the connection. */
  streamOptions?: StreamOptions;
  /**
   * Connect with TLS: each attempt finishes its handshake before it can win. The certificate
   * is checked against `serverName`, which defaults to `hostname` as given, not the address
   * it resolved to.
   */
  tls?: TlsClientOptions;
  /** Called when each connection attempt starts. */
  onAttempt?: (attempt: AttemptInfo) => void;
}

interface Attempt {
  controller: AbortController;
  address: string;
}

/**
 * Connects to `hostname:port` the Happy Eyeballs way (RFC 8305):
 *
 * - it asks for IPv6 (AAAA) and IPv4 (A) addresses at once; if IPv4 answers first it waits up
 *   to `resolutionDelayMs` for IPv6, and addresses that come later still join the race;
 * - it orders the addresses IPv6 first and then alternates the families;
 * - it starts a new attempt every `attemptDelayMs` while the earlier ones keep running (and at
 *   once when an attempt fails), so a black-holed address costs one delay, not a timeout;
 * - the first connection wins; every other attempt is cancelled, and one that connects anyway
 *   is closed;
 * - if every attempt fails, it rejects with an `AggregateError` holding each attempt's error.
 *
 * Add a time limit with `connectWithTimeout` or a `signal`.
 *
 * @example
 * ```ts
 * const stream = await happyEyeballs("localhost", 8080, { attemptDelayMs: 250 });
 * console.log(stream.remoteAddr.family);
 * ```
 */
export async function happyEyeballs(
  hostname: string,
  port: number,
  options: HappyEyeballsOptions = {},
): Promise<Stream> {
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `Host name must be a non-empty string, got ${JSON.stringify(hostname)}`,
    );
  }
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
    port > 65535
  ) {
    throw new RangeError(
      `Port must be an integer from 1 to 65535, got ${String(port)}`,
    );
  }
  const attemptDelayMs = checkMs(
    options.attemptDelayMs ?? 250,
    "Attempt delay",
  );
  const resolutionDelayMs = checkMs(
    options.resolutionDelayMs ?? 50,
    "Resolution delay",
  );
  const signal = checkSignal(options.signal);
  const resolver = options.resolver ?? systemResolver;
  checkFunction(resolver, "Resolver");
  if (options.onAttempt !== undefined) {
    checkFunction(options.onAttempt, "onAttempt");
  }
  const clock = options.clock ?? systemClock;
  const where = formatHostPort(hostname, port);
  const tls = options.tls &&
    { ...options.tls, serverName: options.tls.serverName ?? hostname.replace(/^\[(.*)\]$/, "$1") };
  const cancelled = () =>
    new NetError("ECANCELED", `Connect to ${where} was cancelled`, {
      cause: signal?.reason,
      syscall: "connect",
      address: hostname,
      port,
    });
  if (signal?.aborted) throw cancelled();
  const transport = options.transport ?? await defaultTransport();
  if (signal?.aborted) throw cancelled();

  return await new Promise<Stream>((resolve, reject) => {
    const pending: Record<AddressFamily, string[]> = { 6: [], 4: [] };
    const attempts = new Set<Attempt>();
    const attemptErrors: unknown[] = [];
    const lookupErrors: NetError[] = [];
    const lookupController = new AbortController();
    let lookupsLeft = 0;
    let ready = false;
    let settled = false;
    let started = 0;
    let lastFamily: AddressFamily | undefined;
    let lastStartAt = -Infinity;
    let startNow = false;
    let staggerTimer: TimerHandle | undefined;
    let resolutionTimer: TimerHandle | undefined;

    const clearStagger = () => {
      if (staggerTimer !== undefined) clock.clearTimeout(staggerTimer);
      staggerTimer = undefined;
    };
    const clearResolution = () => {
      if (resolutionTimer !== undefined) clock.clearTimeout(resolutionTimer);
      resolutionTimer = undefined;
    };
    const finish = () => {
      settled = true;
      clearStagger();
      clearResolution();
      signal?.removeEventListener("abort", onAbort);
      for (const attempt of attempts) attempt.controller.abort();
      attempts.clear();
      lookupController.abort();
    };
    const fail = (error: unknown) => {
      if (settled) return;
      finish();
      reject(error);
    };
    const onAbort = () => fail(cancelled());

    const takeNext = ():
      | { address: string; family: AddressFamily }
      | undefined => {
      const first: AddressFamily = lastFamily === 6 ? 4 : 6;
      for (const family of [first, first === 6 ? 4 : 6] as AddressFamily[]) {
        const address = pending[family].shift();
        if (address !== undefined) return { address, family };
      }
      return undefined;
    };

    const exhausted = () => {
      if (started === 0) {
        fail(
          lookupErrors[0] ??
            new NetError(
              "ENOTFOUND",
              `Host name ${hostname} has no IPv6 or IPv4 address`,
              {
                syscall: "getaddrinfo",
                address: hostname,
              },
            ),
        );
        return;
      }
      const errors = [...attemptErrors, ...lookupErrors];
      const summary = errors.map(describeCause).join("; ");
      fail(
        new AggregateError(
          errors,
          `All ${started} connection attempt${started === 1 ? "" : "s"} to ${where} failed: ${summary}`,
        ),
      );
    };

    const start = (next: { address: string; family: AddressFamily }) => {
      const attempt: Attempt = {
        controller: new AbortController(),
        address: next.address,
      };
      attempts.add(attempt);
      lastFamily = next.family;
      lastStartAt = clock.now();
      const index = started++;
      let connecting: Promise<Stream>;
      try {
        connecting = transport.connect({
          ...options.streamOptions,
          hostname: next.address,
          port,
          signal: attempt.controller.signal,
          ...(tls ? { tls } : {}),
        });
      } catch (error) {
        connecting = Promise.reject(error);
      }
      connecting.then(
        (stream) => {
          attempts.delete(attempt);
          if (settled) {
            stream.reset();
            return;
          }
          finish();
          resolve(stream);
        },
        (error: unknown) => {
          attempts.delete(attempt);
          if (settled) return;
          attemptErrors.push(error);
          startNow = true;
          pump();
        },
      );
      try {
        options.onAttempt?.({
          index,
          address: next.address,
          family: next.family,
          startedAt: lastStartAt,
        });
      } catch (error) {
        fail(error);
      }
    };

    const pump = (): void => {
      if (settled || !ready) return;
      if (pending[6].length + pending[4].length === 0) {
        if (attempts.size === 0 && lookupsLeft === 0) exhausted();
        return;
      }
      if (attempts.size > 0 && !startNow) {
        const wait = lastStartAt + attemptDelayMs - clock.now();
        if (wait > 0) {
          staggerTimer ??= clock.setTimeout(() => {
            staggerTimer = undefined;
            pump();
          }, wait);
          return;
        }
      }
      startNow = false;
      clearStagger();
      start(takeNext()!);
      pump();
    };

    const becomeReady = () => {
      clearResolution();
      ready = true;
    };

    const onLookup = (family: AddressFamily, addresses: string[]) => {
      if (settled) return;
      lookupsLeft--;
      pending[family].push(...addresses);
      if (family === 6 || lookupsLeft === 0) {
        becomeReady();
      } else if (!ready && resolutionTimer === undefined) {
        // IPv4 came first: give IPv6 a short head start (RFC 8305 "Resolution Delay").
        resolutionTimer = clock.setTimeout(() => {
          resolutionTimer = undefined;
          ready = true;
          pump();
        }, resolutionDelayMs);
      }
      pump();
    };

    const onLookupError = (family: AddressFamily, error: unknown) => {
      if (settled) return;
      lookupsLeft--;
      lookupErrors.push(
        toNetError(error, { syscall: "getaddrinfo", address: hostname }),
      );
      if (family === 6 || lookupsLeft === 0) becomeReady();
      pump();
    };

    signal?.addEventListener("abort", onAbort, { once: true });
    const fixed = staticAddresses(hostname);
    if (fixed) {
      for (const { address, family } of fixed) pending[family].push(address);
      ready = true;
      pump();
      return;
    }
    lookupsLeft = 2;
    for (const family of [6, 4] as AddressFamily[]) {
      Promise.resolve()
        .then(() => resolver(hostname, { family, signal: lookupController.signal }))
        .then(
          (addresses) => onLookup(family, Array.isArray(addresses) ? addresses : []),
          (error: unknown) => onLookupError(family, error),
        );
    }
  });
}
