/**
 * Per-connection metrics: a connection id, RTT from heartbeats, retries, timeouts and bytes,
 * kept in a stats object and reported through one `onEvent` hook. Every event carries the
 * `connectionId` and the clock's `time`, so logs of one connection can be correlated.
 *
 * @module
 */

import { nextStreamId } from "../runtime/stream_base.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { TimeoutKind } from "./errors.ts";
import type { AddressFamily } from "./resolve.ts";

/**
 * The states of a reconnecting connection:
 * `disconnected → resolving → connecting → connected → backoff → resolving → …`.
 *
 * @example
 * ```ts
 * const state: ConnectionState = "backoff";
 * ```
 */
export type ConnectionState =
  | "disconnected"
  | "resolving"
  | "connecting"
  | "connected"
  | "backoff";

/**
 * The counters of one connection. The names follow the engine's server stats (`bytesIn`,
 * `bytesOut`, `framesIn`, `framesOut`, `errors` by code), counted here for one client
 * connection across its reconnects; `bytesOut` counts bytes as written on the wire.
 *
 * @example
 * ```ts
 * const metrics = new ConnectionMetrics();
 * const stats: ConnectionStats = metrics.snapshot();
 * console.log(stats.connectionId, stats.bytesOut);
 * ```
 */
export interface ConnectionStats {
  /** The connection id: process-unique, and stable across reconnects. */
  connectionId: number;
  /** The current state. */
  state: ConnectionState;
  /** The id of the current socket (its `Stream.id`), while there is one. */
  streamId: number | undefined;
  /** Connections made. */
  connects: number;
  /** Connection attempts that failed (resolution or connect). */
  connectFailures: number;
  /** Connections that closed after being established. */
  disconnects: number;
  /** Waits in backoff before another attempt. */
  retries: number;
  /** Timeouts of any kind (connect, idle, heartbeat, request). */
  timeouts: number;
  /** Bytes written to sockets, frame headers included. */
  bytesOut: number;
  /** Bytes received from sockets. */
  bytesIn: number;
  /** Messages written to sockets (application sends and pings). */
  framesOut: number;
  /** Messages received (frames, or chunks without framing), pongs included. */
  framesIn: number;
  /** Errors that ended an attempt or a connection, by code (`NetError` code, else the error's name). */
  errors: Record<string, number>;
  /** Bytes waiting in the send buffer for a connection. */
  bufferedBytes: number;
  /** Heartbeat pings sent. */
  pingsSent: number;
  /** Heartbeat pongs received. */
  pongsReceived: number;
  /** The last round-trip time from a heartbeat, in milliseconds. */
  rttMs: number | undefined;
  /** The smallest round-trip time seen. */
  rttMinMs: number | undefined;
  /** The largest round-trip time seen. */
  rttMaxMs: number | undefined;
  /** The smoothed round-trip time (TCP's SRTT: an average weighting the newest sample 1/8). */
  rttSmoothedMs: number | undefined;
  /** The last error seen, if any. */
  lastError: unknown;
}

/**
 * What every {@linkcode ResilienceEvent} carries.
 *
 * @example
 * ```ts
 * const base: ResilienceEventBase = { connectionId: 1, time: 0 };
 * ```
 */
export interface ResilienceEventBase {
  /** The connection the event belongs to. */
  connectionId: number;
  /** The clock's time of the event. */
  time: number;
}

/**
 * An event of a connection, passed to `onEvent`.
 *
 * - `state`: a state transition, with the address, the backoff delay or the error that led to it.
 * - `attempt`: a Happy Eyeballs connection attempt started.
 * - `retry`: another attempt will follow after `delayMs`.
 * - `timeout`: a timeout fired.
 * - `rtt`: a heartbeat measured a round trip.
 * - `dropped`: buffered sends were discarded because the client stopped before they could be
 *   written to a connection.
 *
 * @example
 * ```ts
 * const onEvent = (event: ResilienceEvent) => {
 *   if (event.type === "state") console.log(`#${event.connectionId} ${event.from} -> ${event.to}`);
 * };
 * ```
 */
export type ResilienceEvent =
  | (ResilienceEventBase & {
    type: "state";
    from: ConnectionState;
    to: ConnectionState;
    address?: string;
    streamId?: number;
    delayMs?: number;
    error?: unknown;
  })
  | (ResilienceEventBase & {
    type: "attempt";
    address: string;
    family: AddressFamily;
    index: number;
  })
  | (ResilienceEventBase & {
    type: "retry";
    attempt: number;
    delayMs: number;
    error?: unknown;
  })
  | (ResilienceEventBase & { type: "timeout"; kind: TimeoutKind; timeoutMs: number })
  | (ResilienceEventBase & { type: "rtt"; rttMs: number })
  | (ResilienceEventBase & {
    type: "dropped";
    messages: number;
    bytes: number;
    error?: unknown;
  });

/**
 * A {@linkcode ResilienceEvent} without the fields the metrics add.
 *
 * @example
 * ```ts
 * const event: ResilienceEventInput = { type: "rtt", rttMs: 12 };
 * ```
 */
export type ResilienceEventInput = ResilienceEvent extends infer E
  ? E extends ResilienceEvent ? Omit<E, "connectionId" | "time"> : never
  : never;

/**
 * Options of {@linkcode ConnectionMetrics}.
 *
 * @example
 * ```ts
 * const options: ConnectionMetricsOptions = { onEvent: (e) => console.log(e.type) };
 * ```
 */
export interface ConnectionMetricsOptions {
  /** Receives every event. An exception it throws is reported asynchronously, not swallowed. */
  onEvent?: (event: ResilienceEvent) => void;
  /** The clock that stamps events. Default: the system clock. */
  clock?: Clock;
  /** The connection id. Default: a new process-unique id. */
  connectionId?: number;
}

/**
 * The stats of one connection and its event hook. The reconnecting client keeps one; other
 * code (a request loop with `retry`, say) can keep its own and record into it.
 *
 * @example
 * ```ts
 * const metrics = new ConnectionMetrics({ onEvent: (e) => console.log(e) });
 * metrics.recordRtt(12.5);
 * metrics.recordTimeout("request", 5000);
 * console.log(metrics.stats.rttMs, metrics.stats.timeouts); // 12.5 1
 * ```
 */
export class ConnectionMetrics {
  /** The connection id. */
  readonly connectionId: number;
  readonly #stats: ConnectionStats;
  readonly #onEvent: ((event: ResilienceEvent) => void) | undefined;
  readonly #clock: Clock;

  /** Creates the stats, all zero, in state `disconnected`. */
  constructor(options: ConnectionMetricsOptions = {}) {
    if (
      options.onEvent !== undefined && typeof options.onEvent !== "function"
    ) {
      throw new TypeError(
        `onEvent must be a function, got ${typeof options.onEvent}`,
      );
    }
    this.connectionId = options.connectionId ?? nextStreamId();
    this.#onEvent = options.onEvent;
    this.#clock = options.clock ?? systemClock;
    this.#stats = {
      connectionId: this.connectionId,
      state: "disconnected",
      streamId: undefined,
      connects: 0,
      connectFailures: 0,
      disconnects: 0,
      retries: 0,
      timeouts: 0,
      bytesOut: 0,
      bytesIn: 0,
      framesOut: 0,
      framesIn: 0,
      errors: {},
      bufferedBytes: 0,
      pingsSent: 0,
      pongsReceived: 0,
      rttMs: undefined,
      rttMinMs: undefined,
      rttMaxMs: undefined,
      rttSmoothedMs: undefined,
      lastError: undefined,
    };
  }

  /** The live stats (read only; they change as the connection works). */
  get stats(): Readonly<ConnectionStats> {
    return this.#stats;
  }

  /** A copy of the stats at this moment. */
  snapshot(): ConnectionStats {
    return { ...this.#stats, errors: { ...this.#stats.errors } };
  }

  /** Updates counters directly, for code that keeps its own counts. */
  update(change: Partial<Omit<ConnectionStats, "connectionId">>): void {
    Object.assign(this.#stats, change);
  }

  /** Sends an event to the hook, stamped with the connection id and the time. */
  emit(event: ResilienceEventInput): void {
    const hook = this.#onEvent;
    if (!hook) return;
    const full = {
      ...event,
      connectionId: this.connectionId,
      time: this.#clock.now(),
    } as ResilienceEvent;
    try {
      hook(full);
    } catch (error) {
      // A faulty hook must not break the connection's state machine; surface it instead.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** Records a state transition and emits a `state` event. */
  recordState(
    to: ConnectionState,
    details: {
      address?: string;
      streamId?: number;
      delayMs?: number;
      error?: unknown;
    } = {},
  ): void {
    const from = this.#stats.state;
    this.#stats.state = to;
    if (details.error !== undefined) this.recordError(details.error);
    this.emit({ type: "state", from, to, ...details });
  }

  /** Counts an error by its code and keeps it as `lastError`. */
  recordError(error: unknown): void {
    this.#stats.lastError = error;
    // "Every attempt failed" is counted under the code of the last attempt's error.
    const inner = error instanceof AggregateError && error.errors.length > 0
      ? error.errors[error.errors.length - 1]
      : error;
    const code = (inner as { code?: unknown })?.code;
    const key = typeof code === "string" ? code : inner instanceof Error ? inner.name : "EUNKNOWN";
    this.#stats.errors[key] = (this.#stats.errors[key] ?? 0) + 1;
  }

  /** Counts a retry and emits a `retry` event. */
  recordRetry(attempt: number, delayMs: number, error?: unknown): void {
    this.#stats.retries++;
    if (error !== undefined) this.#stats.lastError = error;
    this.emit({ type: "retry", attempt, delayMs, error });
  }

  /** Counts a timeout and emits a `timeout` event. */
  recordTimeout(kind: TimeoutKind, timeoutMs: number): void {
    this.#stats.timeouts++;
    this.emit({ type: "timeout", kind, timeoutMs });
  }

  /** Records a heartbeat round trip and emits an `rtt` event. */
  recordRtt(rttMs: number): void {
    const s = this.#stats;
    s.rttMs = rttMs;
    s.rttMinMs = s.rttMinMs === undefined ? rttMs : Math.min(s.rttMinMs, rttMs);
    s.rttMaxMs = s.rttMaxMs === undefined ? rttMs : Math.max(s.rttMaxMs, rttMs);
    s.rttSmoothedMs = s.rttSmoothedMs === undefined ? rttMs : s.rttSmoothedMs + (rttMs - s.rttSmoothedMs) / 8;
    this.emit({ type: "rtt", rttMs });
  }

  /** Counts bytes (and messages) written. */
  recordSent(bytes: number, messages: number = 1): void {
    this.#stats.bytesOut += bytes;
    this.#stats.framesOut += messages;
  }

  /** Counts bytes received. */
  recordReceived(bytes: number): void {
    this.#stats.bytesIn += bytes;
  }
}
