/**
 * Application heartbeats: a ping with a pluggable frame every interval, and a pong timeout
 * that reports a dead peer. The round trip of each ping is measured.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { TimeoutError } from "./errors.ts";
import { checkFunction, checkMs } from "./_validate.ts";

/**
 * The heartbeat protocol: when and what to ping, and how to recognise the pong.
 *
 * @example
 * ```ts
 * const PING = new Uint8Array([0x70]); // "p"
 * const config: HeartbeatConfig = {
 *   intervalMs: 5000,
 *   timeoutMs: 2000,
 *   ping: () => PING,
 *   isPong: (message) => message.byteLength === 1 && message[0] === 0x70,
 * };
 * ```
 */
export interface HeartbeatConfig {
  /** Time from one ping to the next, in milliseconds. */
  intervalMs: number;
  /** How long to wait for the pong, in milliseconds. */
  timeoutMs: number;
  /** Builds a ping message (the payload of one frame). */
  ping: () => Uint8Array;
  /** Whether a received message is a pong. Pongs are consumed by the heartbeat. */
  isPong: (message: Uint8Array) => boolean;
}

/**
 * Options of {@linkcode Heartbeat}.
 *
 * @example
 * ```ts
 * const options: HeartbeatOptions = {
 *   intervalMs: 5000,
 *   timeoutMs: 2000,
 *   ping: () => new Uint8Array([1]),
 *   isPong: (m) => m[0] === 1,
 *   send: (ping) => console.log("ping", ping),
 *   onTimeout: (error) => console.log(error.message),
 * };
 * ```
 */
export interface HeartbeatOptions extends HeartbeatConfig {
  /** Writes a ping to the connection. */
  send: (ping: Uint8Array) => void;
  /** Called once when a pong does not arrive in time; the heartbeat stops. */
  onTimeout: (error: TimeoutError) => void;
  /** Called with each measured round trip, in milliseconds. */
  onRtt?: (rttMs: number) => void;
  /** The clock. Default: the system clock. */
  clock?: Clock;
}

/**
 * Checks a heartbeat configuration, throwing a RangeError or TypeError that names the bad value.
 *
 * @example
 * ```ts
 * checkHeartbeatConfig({ intervalMs: 1000, timeoutMs: 500, ping: () => new Uint8Array(1), isPong: () => true });
 * ```
 */
export function checkHeartbeatConfig(config: HeartbeatConfig): void {
  if (typeof config !== "object" || config === null) {
    throw new TypeError(
      `Heartbeat options must be an object, got ${String(config)}`,
    );
  }
  checkMs(config.intervalMs, "Heartbeat interval");
  checkMs(config.timeoutMs, "Heartbeat timeout");
  if (config.intervalMs <= 0) {
    throw new RangeError(
      `Heartbeat interval must be > 0 ms, got ${config.intervalMs}`,
    );
  }
  if (config.timeoutMs <= 0) {
    throw new RangeError(
      `Heartbeat timeout must be > 0 ms, got ${config.timeoutMs}`,
    );
  }
  checkFunction(config.ping, "Heartbeat ping");
  checkFunction(config.isPong, "Heartbeat isPong");
}

/**
 * A heartbeat on one connection. After {@linkcode Heartbeat.start} it sends a ping every
 * `intervalMs` (one at a time); each ping must be answered within `timeoutMs`, otherwise
 * `onTimeout` is called with a `TimeoutError` (kind `"heartbeat"`) and the heartbeat stops.
 * Feed every received message to {@linkcode Heartbeat.receive}, which consumes the pongs.
 *
 * @example
 * ```ts
 * declare const stream: import("sockmodels/runtime").Stream;
 * const heartbeat = new Heartbeat({
 *   intervalMs: 5000,
 *   timeoutMs: 2000,
 *   ping: () => new Uint8Array([0]),
 *   isPong: (m) => m.byteLength === 1 && m[0] === 0,
 *   send: (ping) => stream.write(ping),
 *   onTimeout: () => stream.reset(),
 * });
 * heartbeat.start();
 * ```
 */
export class Heartbeat {
  readonly #options: HeartbeatOptions;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #sentAt: number | undefined;
  #running = false;
  #rttMs: number | undefined;

  /** Checks the options; call `start()` to begin. */
  constructor(options: HeartbeatOptions) {
    checkHeartbeatConfig(options);
    checkFunction(options.send, "Heartbeat send");
    checkFunction(options.onTimeout, "Heartbeat onTimeout");
    if (options.onRtt !== undefined) {
      checkFunction(options.onRtt, "Heartbeat onRtt");
    }
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The last measured round trip, in milliseconds. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** Whether a ping is waiting for its pong. */
  get awaitingPong(): boolean {
    return this.#sentAt !== undefined;
  }

  /** Whether the heartbeat runs. */
  get running(): boolean {
    return this.#running;
  }

  /** Starts: the first ping goes out after `intervalMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(this.#options.intervalMs);
  }

  /** Stops and clears its timer. */
  stop(): void {
    this.#running = false;
    this.#sentAt = undefined;
    this.#clear();
  }

  /** Returns true if `message` is a pong (it is then consumed), false for any other message. */
  receive(message: Uint8Array): boolean {
    if (!this.#options.isPong(message)) return false;
    if (this.#running && this.#sentAt !== undefined) {
      const now = this.#clock.now();
      const rtt = now - this.#sentAt;
      const sentAt = this.#sentAt;
      this.#sentAt = undefined;
      this.#rttMs = rtt;
      this.#clear();
      this.#schedule(Math.max(0, sentAt + this.#options.intervalMs - now));
      this.#options.onRtt?.(rtt);
    }
    return true;
  }

  #clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#ping();
    }, ms);
  }

  #ping(): void {
    if (!this.#running) return;
    const { timeoutMs } = this.#options;
    this.#sentAt = this.#clock.now();
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#running) return;
      this.stop();
      this.#options.onTimeout(
        new TimeoutError(
          `Heartbeat timeout: no pong within ${timeoutMs} ms of the ping`,
          {
            kind: "heartbeat",
            timeoutMs,
          },
        ),
      );
    }, timeoutMs);
    this.#options.send(this.#options.ping());
  }
}
