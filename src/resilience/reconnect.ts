/**
 * `ReconnectingClient`: a client connection that survives its server. It runs the state
 * machine `disconnected → resolving → connecting → connected → backoff → resolving → …`,
 * buffers sends while it is not connected, fails over across an address list, and can watch
 * the connection with heartbeats and idle timeouts.
 *
 * @module
 */

import { formatHostPort, NetError } from "../runtime/errors.ts";
import { FramingError } from "../framing/errors.ts";
import type { FrameCodec, FrameDecoder } from "../framing/types.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Stream, StreamOptions, TlsClientOptions, Transport } from "../runtime/types.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { type Clock, systemClock } from "./clock.ts";
import { connectWithTimeout } from "./connect.ts";
import { delay } from "./delay.ts";
import { describeCause, RetryError, TimeoutError } from "./errors.ts";
import { checkHeartbeatConfig, Heartbeat, type HeartbeatConfig } from "./heartbeat.ts";
import { type IdleTimeoutOptions, withIdleTimeout } from "./idle_timeout.ts";
import { ConnectionMetrics, type ConnectionState, type ConnectionStats, type ResilienceEvent } from "./metrics.ts";
import type { Resolver } from "./resolve.ts";
import { isRetryableError } from "./retry.ts";
import { checkFunction, checkMs, checkSignal } from "./_validate.ts";

/**
 * A host and port to connect to.
 *
 * @example
 * ```ts
 * const endpoint: Endpoint = { hostname: "localhost", port: 9000 };
 * ```
 */
export interface Endpoint {
  /** A host name or an IP address. */
  hostname: string;
  /** The port. */
  port: number;
}

/**
 * Options of {@linkcode ReconnectingClient}.
 *
 * @example
 * ```ts
 * const options: ReconnectingClientOptions = {
 *   addresses: [{ hostname: "primary.example", port: 9000 }, { hostname: "backup.example", port: 9000 }],
 *   backoff: { baseMs: 250, capMs: 30_000 },
 *   maxBufferedBytes: 1 << 20,
 * };
 * ```
 */
export interface ReconnectingClientOptions {
  /** The servers, tried in order (failover); after a full round of failures the client backs off. */
  addresses: Endpoint[];
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /** Looks up host names. Default: the system resolver. */
  resolver?: Resolver;
  /** The limit for resolving plus connecting, per attempt, in milliseconds. Default 10,000. */
  connectTimeoutMs?: number;
  /** The Happy Eyeballs stagger, in milliseconds. Default 250. */
  attemptDelayMs?: number;
  /** The Happy Eyeballs resolution delay, in milliseconds. Default 50. */
  resolutionDelayMs?: number;
  /** The backoff between rounds of attempts and after a connection drops. Default: equal jitter from 250 ms. */
  backoff?: BackoffOptions | Backoff;
  /** Consecutive failed attempts after which the client gives up. Default `Infinity`. */
  maxAttempts?: number;
  /** Whether a connect error is worth another attempt. Default: `isRetryableError`. */
  isRetryable?: (error: unknown) => boolean;
  /** The most bytes (as written on the wire) buffered while not connected. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Frames sends and splits received bytes into messages. Without it, messages are raw chunks. */
  framing?: FrameCodec;
  /** An application heartbeat; needs `framing`, so that pings and pongs are whole messages. */
  heartbeat?: HeartbeatConfig;
  /** Idle timeouts for each connection; an idle connection is closed and replaced. */
  idleTimeout?: Omit<IdleTimeoutOptions, "clock" | "onIdle">;
  /** Stream options (water marks, Nagle) for each connection. */
  streamOptions?: StreamOptions;
  /**
   * Connect with TLS. Each address's certificate is checked against `serverName`, or else
   * that address's `hostname`. A certificate error is not retried (`isRetryableError`); a
   * handshake timeout is.
   */
  tls?: TlsClientOptions;
  /** Receives each message: a frame with `framing`, a chunk without. Pongs are not passed on. */
  onMessage?: (message: Uint8Array) => void;
  /** Receives every event: state transitions, attempts, retries, timeouts and RTTs. */
  onEvent?: (event: ResilienceEvent) => void;
  /** Aborting stops the client, as `stop()` does (a global cancel). */
  signal?: AbortSignal;
  /** The clock for backoff, timeouts and heartbeats. Default: the system clock. */
  clock?: Clock;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

const MAX_KEPT_ERRORS = 100;

/**
 * A client connection that reconnects by itself.
 *
 * **States.** `start()` leaves `disconnected` for `resolving` (name lookup), then `connecting`
 * (the Happy Eyeballs race, within `connectTimeoutMs`), then `connected`. A failed attempt goes
 * to `backoff` and then tries the next address of `addresses`; after a full round of failures
 * the wait grows by `backoff`. A connection that closes (peer gone, reset, idle or heartbeat
 * timeout) also goes to `backoff`, then reconnects. Every transition emits a `state` event.
 * `stop()`, the `signal`, a non-retryable connect error, `maxAttempts`, or a protocol error
 * (a `FramingError` from the decoder, never retried) end in `disconnected` for good.
 *
 * **Sends.** `send(message)` while `connected` writes to the socket at once. A send made while
 * not connected is buffered, in order, up to `maxBufferedBytes` (counted as encoded on the
 * wire); past that it throws a `NetError` ENOBUFS and buffers nothing. When a connection is
 * made, the buffered sends are written to it, in order, before anything else, and leave the
 * buffer: each buffered send is written exactly once, to exactly one connection, never
 * duplicated. Bytes handed to a connection that then fails are not re-sent (TCP cannot tell
 * whether the server read them); that connection's close error reports the unsent byte count.
 * Sends still buffered when the client stops are discarded and reported with a `dropped` event.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "sockmodels/framing";
 * const client = new ReconnectingClient({
 *   addresses: [{ hostname: "localhost", port: 9000 }],
 *   framing: lengthPrefixed(),
 *   heartbeat: { intervalMs: 5000, timeoutMs: 2000, ping: () => new Uint8Array(0), isPong: (m) => m.byteLength === 0 },
 *   onMessage: (frame) => console.log(new TextDecoder().decode(frame)),
 *   onEvent: (e) => e.type === "state" && console.log(`${e.from} -> ${e.to}`),
 * });
 * client.start();
 * client.send(new TextEncoder().encode("hello")); // buffered until connected
 * await client.connected();
 * await client.stop();
 * ```
 */
export class ReconnectingClient implements AsyncDisposable {
  /** The connection id (stable across reconnects), as in every event. */
  readonly id: number;
  /** Resolves when the client has stopped for good: with undefined after `stop()`, or with the error it gave up on. */
  readonly finished: Promise<Error | undefined>;

  readonly #addresses: Endpoint[];
  readonly #options: ReconnectingClientOptions;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #metrics: ConnectionMetrics;
  readonly #maxBufferedBytes: number;
  readonly #maxAttempts: number;
  readonly #isRetryable: (error: unknown) => boolean;
  readonly #stopController = new AbortController();
  #resolveFinished!: (error: Error | undefined) => void;
  #stream: Stream | undefined;
  #buffer: Uint8Array[] = [];
  #bufferedBytes = 0;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #done = false;
  #failure: Error | undefined;
  #waiters = new Set<Waiter>();
  #endpointIndex = 0;
  #unlinkSignal: (() => void) | undefined;

  /** Checks the options. Nothing happens until `start()`. */
  constructor(options: ReconnectingClientOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Reconnecting client options must be an object, got ${String(options)}`,
      );
    }
    const addresses = options.addresses;
    if (!Array.isArray(addresses) || addresses.length === 0) {
      throw new TypeError(
        `Addresses must be a non-empty array of { hostname, port }, got ${JSON.stringify(addresses)}`,
      );
    }
    for (const a of addresses) {
      if (typeof a?.hostname !== "string" || a.hostname === "") {
        throw new TypeError(
          `Each address needs a non-empty hostname, got ${JSON.stringify(a)}`,
        );
      }
      if (
        typeof a.port !== "number" || !Number.isInteger(a.port) || a.port < 1 ||
        a.port > 65535
      ) {
        throw new RangeError(
          `Port of ${a.hostname} must be an integer from 1 to 65535, got ${String(a.port)}`,
        );
      }
    }
    if (options.connectTimeoutMs !== undefined) {
      checkMs(options.connectTimeoutMs, "Connect timeout", true);
    }
    const maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
    if (
      typeof maxBufferedBytes !== "number" ||
      !Number.isInteger(maxBufferedBytes) || maxBufferedBytes < 0
    ) {
      throw new RangeError(
        `Max buffered bytes must be an integer >= 0, got ${String(maxBufferedBytes)}`,
      );
    }
    const maxAttempts = options.maxAttempts ?? Infinity;
    if (
      typeof maxAttempts !== "number" || !(maxAttempts >= 1) ||
      (!Number.isInteger(maxAttempts) && maxAttempts !== Infinity)
    ) {
      throw new RangeError(
        `Max attempts must be an integer >= 1 (or Infinity), got ${String(maxAttempts)}`,
      );
    }
    if (options.heartbeat !== undefined) {
      checkHeartbeatConfig(options.heartbeat);
      if (options.framing === undefined) {
        throw new TypeError(
          "A heartbeat needs framing, so that pings and pongs arrive as whole messages",
        );
      }
    }
    if (
      options.framing !== undefined &&
      typeof options.framing?.decoder !== "function"
    ) {
      throw new TypeError(
        "Framing must be a frame codec with encode() and decoder()",
      );
    }
    if (options.onMessage !== undefined) {
      checkFunction(options.onMessage, "onMessage");
    }
    if (options.isRetryable !== undefined) {
      checkFunction(options.isRetryable, "isRetryable");
    }
    if (options.idleTimeout !== undefined) {
      // Validates the limits now rather than on the first connection.
      const { readMs, writeMs, allMs } = options.idleTimeout;
      if (readMs !== undefined) checkMs(readMs, "Read idle timeout");
      if (writeMs !== undefined) checkMs(writeMs, "Write idle timeout");
      if (allMs !== undefined) checkMs(allMs, "All idle timeout");
    }
    const signal = checkSignal(options.signal);
    this.#addresses = addresses.map((a) => ({
      hostname: a.hostname,
      port: a.port,
    }));
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
    this.#metrics = new ConnectionMetrics({
      onEvent: options.onEvent,
      clock: this.#clock,
    });
    this.id = this.#metrics.connectionId;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#maxAttempts = maxAttempts;
    this.#isRetryable = options.isRetryable ?? isRetryableError;
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve));
    if (signal) {
      if (signal.aborted) this.#stopController.abort(signal.reason);
      else {
        const onAbort = () => void this.stop();
        signal.addEventListener("abort", onAbort, { once: true });
        this.#unlinkSignal = () => signal.removeEventListener("abort", onAbort);
      }
    }
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#metrics.stats.state;
  }

  /** A copy of the connection's stats. */
  get stats(): ConnectionStats {
    return this.#metrics.snapshot();
  }

  /** Bytes buffered while not connected. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Starts connecting. Calling it again does nothing. */
  start(): void {
    if (this.#loop || this.#done) return;
    if (this.#stopController.signal.aborted) {
      void this.stop();
      return;
    }
    this.#loop = this.#run();
  }

  /**
   * Sends one message: it is framed with `framing` when there is one. Returns true when it was
   * written to a live connection below its high water mark; false when it was buffered or the
   * socket's queue is above the high water mark (slow down). Throws a `NetError` ENOBUFS when
   * the buffer is full, and ENOTCONN once the client has stopped. The caller must not modify
   * `message` afterwards.
   */
  send(message: Uint8Array): boolean {
    if (!(message instanceof Uint8Array)) {
      throw new TypeError(
        `Send needs a Uint8Array, got ${message === null ? "null" : typeof message}`,
      );
    }
    if (this.#done || this.#stopping) {
      throw new NetError(
        "ENOTCONN",
        `Cannot send ${message.byteLength} bytes: the client is stopped`,
        {
          cause: this.#failure,
        },
      );
    }
    const wire = this.#options.framing ? this.#options.framing.encode(message) : message;
    const stream = this.#stream;
    if (stream && this.state === "connected" && !stream.closed) {
      try {
        const ok = stream.write(wire);
        this.#metrics.recordSent(wire.byteLength);
        return ok;
      } catch (error) {
        // The connection is closing but has not reported it yet: the bytes were not accepted,
        // so keeping them for the next connection cannot duplicate them.
        if (!(error instanceof NetError && error.code === "EPIPE")) throw error;
      }
    }
    if (this.#bufferedBytes + wire.byteLength > this.#maxBufferedBytes) {
      throw new NetError(
        "ENOBUFS",
        `Cannot buffer a ${wire.byteLength}-byte send while ${this.state}: ${this.#bufferedBytes} of the ` +
          `${this.#maxBufferedBytes}-byte limit (maxBufferedBytes) are already in use`,
      );
    }
    this.#buffer.push(wire);
    this.#bufferedBytes += wire.byteLength;
    this.#metrics.update({ bufferedBytes: this.#bufferedBytes });
    return false;
  }

  /**
   * Resolves once the client is connected (at once if it is). Rejects when the client stops
   * first, or with `signal`'s reason.
   */
  connected(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = checkSignal(options.signal);
    if (this.state === "connected") return Promise.resolve();
    if (this.#done || this.#stopping) {
      return Promise.reject(this.#notConnected());
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #notConnected(): NetError {
    return new NetError(
      "ENOTCONN",
      this.#failure ? `The client gave up: ${this.#failure.message}` : "The client was stopped before it connected",
      { cause: this.#failure },
    );
  }

  /**
   * Stops for good: no more reconnects, the current connection is closed after flushing what
   * was written to it, and sends still buffered are dropped (a `dropped` event reports them).
   * Resolves when every socket and timer is gone.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (!this.#stopController.signal.aborted) {
        this.#stopController.abort(
          new NetError("ECANCELED", "The client was stopped"),
        );
      }
      const stream = this.#stream;
      if (stream) await stream.close();
      if (this.#loop) await this.#loop;
      else this.#finish();
    })();
    return this.#stopping;
  }

  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #run(): Promise<void> {
    const stop = this.#stopController.signal;
    const o = this.#options;
    const errors: unknown[] = [];
    let failedInRound = 0;
    let consecutiveFailures = 0;
    let streakStart = 0;
    try {
      const transport = o.transport ?? await defaultTransport();
      while (!stop.aborted) {
        const endpoint = this.#addresses[this.#endpointIndex];
        const where = formatHostPort(endpoint.hostname, endpoint.port);
        this.#metrics.recordState("resolving", { address: where });
        let stream: Stream;
        try {
          stream = await connectWithTimeout(endpoint.hostname, endpoint.port, {
            transport,
            resolver: o.resolver,
            timeoutMs: o.connectTimeoutMs,
            attemptDelayMs: o.attemptDelayMs,
            resolutionDelayMs: o.resolutionDelayMs,
            streamOptions: o.streamOptions,
            tls: o.tls,
            clock: this.#clock,
            signal: stop,
            onAttempt: (attempt) => {
              if (this.state === "resolving") {
                this.#metrics.recordState("connecting", {
                  address: formatHostPort(attempt.address, endpoint.port),
                });
              }
              const { address, family, index } = attempt;
              this.#metrics.emit({ type: "attempt", address, family, index });
            },
          });
        } catch (error) {
          if (stop.aborted) break;
          if (consecutiveFailures++ === 0) streakStart = this.#clock.now();
          errors.push(error);
          if (errors.length > MAX_KEPT_ERRORS) errors.shift();
          this.#metrics.update({
            connectFailures: this.#metrics.stats.connectFailures + 1,
          });
          if (error instanceof TimeoutError) {
            this.#metrics.recordTimeout(error.kind, error.timeoutMs);
          }
          if (!this.#isRetryable(error)) {
            this.#failure = error instanceof Error ? error : new Error(String(error));
            break;
          }
          if (consecutiveFailures >= this.#maxAttempts) {
            this.#failure = new RetryError(
              `Gave up connecting after ${consecutiveFailures} attempts; the last error was ${describeCause(error)}`,
              {
                errors,
                attempts: consecutiveFailures,
                reason: "attempts",
                elapsedMs: this.#clock.now() - streakStart,
              },
            );
            break;
          }
          // Fail over to the next address at once; back off only after a full round.
          this.#endpointIndex = (this.#endpointIndex + 1) %
            this.#addresses.length;
          failedInRound++;
          let delayMs = 0;
          if (failedInRound >= this.#addresses.length) {
            failedInRound = 0;
            delayMs = this.#backoff.next();
          }
          if (!(await this.#backoffFor(delayMs, consecutiveFailures, error))) {
            break;
          }
          continue;
        }
        consecutiveFailures = 0;
        failedInRound = 0;
        errors.length = 0;
        this.#backoff.reset();
        const closeError = await this.#attach(stream);
        if (stop.aborted || this.#failure) break;
        if (!(await this.#backoffFor(this.#backoff.next(), 1, closeError))) {
          break;
        }
      }
    } catch (error) {
      this.#failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      this.#finish();
    }
  }

  /** Waits in `backoff`; false when the client was stopped meanwhile. */
  async #backoffFor(
    delayMs: number,
    attempt: number,
    error: unknown,
  ): Promise<boolean> {
    const stop = this.#stopController.signal;
    this.#metrics.recordState("backoff", { delayMs, error });
    this.#metrics.recordRetry(attempt, delayMs, error);
    if (delayMs <= 0) return !stop.aborted;
    try {
      await delay(delayMs, { signal: stop, clock: this.#clock });
      return true;
    } catch {
      return false;
    }
  }

  /** Runs one connection until it closes; resolves with its close error. */
  #attach(raw: Stream): Promise<NetError | undefined> {
    const o = this.#options;
    const metrics = this.#metrics;
    const stream: Stream = o.idleTimeout ? withIdleTimeout(raw, { ...o.idleTimeout, clock: this.#clock }) : raw;
    const decoder: FrameDecoder | undefined = o.framing?.decoder();
    let closeReason: NetError | undefined;
    let heartbeat: Heartbeat | undefined;
    let resolveClosed!: (error: NetError | undefined) => void;
    const closed = new Promise<NetError | undefined>((
      resolve,
    ) => (resolveClosed = resolve));

    const deliver = (message: Uint8Array) => {
      metrics.update({ framesIn: metrics.stats.framesIn + 1 });
      if (heartbeat?.receive(message)) {
        metrics.update({ pongsReceived: metrics.stats.pongsReceived + 1 });
        return;
      }
      try {
        o.onMessage?.(message);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    };

    stream.setHandlers({
      onData: (chunk) => {
        metrics.recordReceived(chunk.byteLength);
        if (!decoder) {
          deliver(chunk);
          return;
        }
        let frames: Uint8Array[];
        try {
          frames = decoder.push(chunk);
        } catch (error) {
          if (!(error instanceof FramingError)) throw error;
          for (const frame of error.frames) deliver(frame);
          // A protocol error is never retried: the client gives up on this server.
          this.#failure = error;
          stream.reset();
          return;
        }
        for (const frame of frames) deliver(frame);
      },
      onClose: (error) => {
        heartbeat?.stop();
        if (this.#stream === stream) this.#stream = undefined;
        const reason = closeReason ?? error;
        if (reason instanceof TimeoutError && reason.kind.endsWith("-idle")) {
          metrics.recordTimeout(reason.kind, reason.timeoutMs);
        }
        metrics.update({
          disconnects: metrics.stats.disconnects + 1,
          streamId: undefined,
        });
        resolveClosed(reason);
      },
    });
    if (stream.closed) return Promise.resolve(undefined);
    this.#stream = stream;

    // The buffered sends go first, in order, and each exactly once.
    const buffered = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    let bytes = 0;
    for (const wire of buffered) {
      stream.write(wire);
      bytes += wire.byteLength;
    }
    metrics.recordSent(bytes, buffered.length);
    metrics.update({
      bufferedBytes: 0,
      streamId: raw.id,
      connects: metrics.stats.connects + 1,
    });
    metrics.recordState("connected", {
      streamId: raw.id,
      address: formatHostPort(raw.remoteAddr.hostname, raw.remoteAddr.port),
    });

    if (o.heartbeat && !stream.closed) {
      const framing = o.framing!;
      heartbeat = new Heartbeat({
        ...o.heartbeat,
        clock: this.#clock,
        send: (ping) => {
          if (stream.closed) return;
          const wire = framing.encode(ping);
          try {
            stream.write(wire);
          } catch {
            // The connection is closing (its onClose follows), so there is nothing to ping.
            return;
          }
          metrics.recordSent(wire.byteLength);
          metrics.update({ pingsSent: metrics.stats.pingsSent + 1 });
        },
        onRtt: (rtt) => metrics.recordRtt(rtt),
        onTimeout: (error) => {
          metrics.recordTimeout(error.kind, error.timeoutMs);
          closeReason = error;
          stream.reset();
        },
      });
      heartbeat.start();
    }
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters.clear();
    return closed;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#unlinkSignal?.();
    const failure = this.#failure;
    const dropped = this.#buffer.length;
    const droppedBytes = this.#bufferedBytes;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    this.#metrics.update({ bufferedBytes: 0 });
    if (this.state !== "disconnected" || failure) {
      this.#metrics.recordState(
        "disconnected",
        failure ? { error: failure } : {},
      );
    }
    if (dropped > 0) {
      this.#metrics.emit({
        type: "dropped",
        messages: dropped,
        bytes: droppedBytes,
        error: failure,
      });
    }
    const error = this.#notConnected();
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters.clear();
    this.#resolveFinished(failure);
  }
}
