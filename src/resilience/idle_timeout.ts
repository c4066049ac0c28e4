/**
 * Idle timeouts for a stream, like Netty's IdleStateHandler: read idle (nothing received),
 * write idle (nothing written) and all idle (neither). An idle stream is closed with a
 * `TimeoutError` (a `NetError` ETIMEDOUT) that names the idle kind and the limit.
 *
 * @module
 */

import type { ProxyHeader } from "../runtime/proxy_header.ts";
import type { NetError } from "../runtime/errors.ts";
import type { Addr, Stream, StreamHandlers, TlsClientOptions, TlsInfo, TlsServerOptions } from "../runtime/types.ts";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { TimeoutError } from "./errors.ts";
import { checkFunction, checkMs } from "./_validate.ts";

/**
 * The idle kinds.
 *
 * @example
 * ```ts
 * const kind: IdleKind = "read";
 * ```
 */
export type IdleKind = "read" | "write" | "all";

/**
 * What `onIdle` receives.
 *
 * @example
 * ```ts
 * const onIdle = (event: IdleEvent) => {
 *   if (event.kind === "write") event.keepOpen(); // after sending a keepalive, say
 * };
 * ```
 */
export interface IdleEvent {
  /** Which limit was reached. */
  kind: IdleKind;
  /** The limit, in milliseconds. */
  idleMs: number;
  /** The error the stream closes with unless `keepOpen()` is called. */
  error: TimeoutError;
  /** Keeps the stream open; the same limit applies again from now. */
  keepOpen(): void;
}

/**
 * Options of {@linkcode withIdleTimeout}. Each limit is optional; at least one is needed.
 *
 * @example
 * ```ts
 * const options: IdleTimeoutOptions = { readMs: 30_000 };
 * ```
 */
export interface IdleTimeoutOptions {
  /** Close when nothing was received for this long. */
  readMs?: number;
  /** Close when nothing was written (no `write` call with bytes) for this long. */
  writeMs?: number;
  /** Close when nothing was received or written for this long. */
  allMs?: number;
  /** Called when a limit is reached, before the stream is closed; may keep it open. */
  onIdle?: (event: IdleEvent) => void;
  /** The clock. Default: the system clock. */
  clock?: Clock;
}

const TIMEOUT_KIND = {
  read: "read-idle",
  write: "write-idle",
  all: "all-idle",
} as const;

const LABEL: Record<IdleKind, string> = {
  read: "Read idle timeout: nothing was received",
  write: "Write idle timeout: nothing was written",
  all: "All idle timeout: nothing was received or written",
};

/**
 * A stream with idle timeouts, as returned by {@linkcode withIdleTimeout}.
 *
 * @example
 * ```ts
 * import type { Stream } from "sockmodels/runtime";
 * import { type IdleTimeoutStream, withIdleTimeout } from "sockmodels/resilience";
 * declare const stream: Stream;
 * const guarded: IdleTimeoutStream = withIdleTimeout(stream, { readMs: 5000 });
 * guarded.setHandlers({ onClose: (error) => console.log(error?.message) });
 * ```
 */
export class IdleTimeoutStream implements Stream {
  readonly #inner: Stream;
  readonly #clock: Clock;
  readonly #limits: Record<IdleKind, number | undefined>;
  readonly #onIdle: ((event: IdleEvent) => void) | undefined;
  readonly #timers: Record<IdleKind, TimerHandle | undefined> = {
    read: undefined,
    write: undefined,
    all: undefined,
  };
  #lastRead: number;
  #lastWrite: number;
  #paused = false;
  #idleError: TimeoutError | undefined;
  #closed = false;

  /** Wraps `inner`; prefer {@linkcode withIdleTimeout}. */
  constructor(inner: Stream, options: IdleTimeoutOptions) {
    const { readMs, writeMs, allMs } = options;
    if (readMs !== undefined) checkMs(readMs, "Read idle timeout");
    if (writeMs !== undefined) checkMs(writeMs, "Write idle timeout");
    if (allMs !== undefined) checkMs(allMs, "All idle timeout");
    if (readMs === undefined && writeMs === undefined && allMs === undefined) {
      throw new TypeError(
        "Idle timeout needs at least one of readMs, writeMs or allMs",
      );
    }
    if (options.onIdle !== undefined) checkFunction(options.onIdle, "onIdle");
    this.#inner = inner;
    this.#clock = options.clock ?? systemClock;
    this.#limits = { read: readMs, write: writeMs, all: allMs };
    this.#onIdle = options.onIdle;
    this.#lastRead = this.#lastWrite = this.#clock.now();
    this.#closed = inner.closed;
    if (!this.#closed) {
      for (const kind of ["read", "write", "all"] as const) {
        this.#arm(kind, this.#limits[kind]);
      }
    }
  }

  /** The error the stream was closed with for being idle, if it was. */
  get idleError(): TimeoutError | undefined {
    return this.#idleError;
  }

  #last(kind: IdleKind): number {
    if (kind === "read") return this.#lastRead;
    if (kind === "write") return this.#lastWrite;
    return Math.max(this.#lastRead, this.#lastWrite);
  }

  #arm(kind: IdleKind, ms: number | undefined): void {
    if (ms === undefined || this.#closed || this.#inner.closed) return;
    this.#timers[kind] = this.#clock.setTimeout(() => this.#check(kind), ms);
  }

  // Activity only moves a timestamp; the timer re-arms itself for the remaining time when it
  // fires, so a busy stream costs no timer churn.
  #check(kind: IdleKind): void {
    this.#timers[kind] = undefined;
    if (this.#closed || this.#inner.closed) return;
    const limit = this.#limits[kind]!;
    const now = this.#clock.now();
    if (kind !== "write" && this.#paused) this.#lastRead = now;
    const remaining = this.#last(kind) + limit - now;
    if (remaining > 0) {
      this.#arm(kind, remaining);
      return;
    }
    const error = new TimeoutError(`${LABEL[kind]} for ${limit} ms`, {
      kind: TIMEOUT_KIND[kind],
      timeoutMs: limit,
    });
    let keep = false;
    this.#onIdle?.({
      kind,
      idleMs: limit,
      error,
      keepOpen: () => (keep = true),
    });
    if (this.#closed) return;
    if (keep) {
      if (kind !== "write") this.#lastRead = now;
      if (kind !== "read") this.#lastWrite = now;
      this.#arm(kind, limit);
      return;
    }
    this.#idleError = error;
    this.#clearTimers();
    this.#inner.reset();
  }

  #clearTimers(): void {
    for (const kind of ["read", "write", "all"] as const) {
      const t = this.#timers[kind];
      if (t !== undefined) this.#clock.clearTimeout(t);
      this.#timers[kind] = undefined;
    }
  }

  /** The inner stream's id. */
  get id(): number {
    return this.#inner.id;
  }
  /** The local address. */
  get localAddr(): Addr {
    return this.#inner.localAddr;
  }
  /** The peer's address. */
  get remoteAddr(): Addr {
    return this.#inner.remoteAddr;
  }

  /** What the inner stream's TLS handshake settled, if it has TLS. */
  get tls(): TlsInfo | undefined {
    return this.#inner.tls;
  }
  /** The PROXY header the inner stream opened with, behind a balancer. */
  get proxy(): ProxyHeader | undefined {
    return this.#inner.proxy;
  }
  /** Upgrades the inner stream to TLS; the timers go on counting through the handshake. */
  startTls(options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    return this.#inner.startTls(options);
  }
  /** Bytes accepted by `write` that the OS has not taken yet. */
  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }
  /** True once `onClose` has fired. */
  get closed(): boolean {
    return this.#inner.closed;
  }

  /** Sets the callbacks; received bytes count as read activity, and `onClose` gets the idle error. */
  setHandlers(handlers: StreamHandlers): void {
    this.#inner.setHandlers({
      onData: (chunk) => {
        this.#lastRead = this.#clock.now();
        handlers.onData?.(chunk);
      },
      onDrain: handlers.onDrain && (() => handlers.onDrain!()),
      onEnd: handlers.onEnd && (() => handlers.onEnd!()),
      onClose: (error?: NetError) => {
        this.#closed = true;
        this.#clearTimers();
        handlers.onClose?.(this.#idleError ?? error);
      },
    });
  }

  /** Writes; a non-empty write counts as write activity. */
  write(bytes: Uint8Array): boolean {
    const ok = this.#inner.write(bytes);
    if (bytes.byteLength > 0) this.#lastWrite = this.#clock.now();
    return ok;
  }
  /** Resolves once every queued byte was handed to the OS. */
  flush(): Promise<void> {
    return this.#inner.flush();
  }
  /** Stops reading; read idleness is not counted while paused. */
  pause(): void {
    this.#paused = true;
    this.#inner.pause();
  }
  /** Resumes reading; the read idle limits start again from now. */
  resume(): void {
    if (this.#paused) this.#lastRead = this.#clock.now();
    this.#paused = false;
    this.#inner.resume();
  }
  /** Flushes, then half-closes. */
  end(): void {
    this.#inner.end();
  }
  /** Flushes, then closes. */
  close(): Promise<void> {
    return this.#inner.close();
  }
  /** Aborts at once. */
  reset(): void {
    this.#inner.reset();
  }
  /** Turns Nagle's algorithm off or on. */
  setNoDelay(noDelay?: boolean): void {
    this.#inner.setNoDelay(noDelay);
  }
  /** Turns TCP keepalive on or off. */
  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.#inner.setKeepAlive(enable, initialDelayMs);
  }
  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Wraps `stream` with idle timeouts. Use the returned stream instead of the original (set
 * handlers and write through it). When a limit is reached, `onIdle` is called; unless it calls
 * `keepOpen()`, the stream is reset and `onClose` receives a `TimeoutError` (ETIMEDOUT) whose
 * message names the idle kind and the limit, such as "Read idle timeout: nothing was received
 * for 500 ms". Timers stop when the stream closes.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * const raw = await transport.connect({ hostname: "127.0.0.1", port: 9000 });
 * const stream = withIdleTimeout(raw, { readMs: 30_000 });
 * stream.setHandlers({ onData: (chunk) => console.log(chunk.byteLength), onClose: (e) => console.log(e?.code) });
 * ```
 */
export function withIdleTimeout(
  stream: Stream,
  options: IdleTimeoutOptions,
): IdleTimeoutStream {
  return new IdleTimeoutStream(stream, options);
}
