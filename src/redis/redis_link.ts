/**
 * A link to Redis that outlives the connections under it: two {@linkcode RedisClient}s (one
 * for commands and publishing, one for subscriptions, as RESP2 asks), each reconnected with
 * the resilience kit's {@linkcode Backoff} when it is lost, with every subscription made again
 * on the new connection.
 *
 * While Redis cannot be reached nothing is queued: {@linkcode RedisLink.publish} returns false
 * and counts the message in {@linkcode RedisLink.dropped}, and commands reject with a
 * {@linkcode NetError}. {@linkcode RedisLinkOptions.onStatus} says when the link goes down and
 * comes back, so that its owner can tell its users (the chat's Redis bus does).
 *
 * @module
 */

import { Backoff, type BackoffOptions } from "../resilience/backoff.ts";
import { NetError } from "../runtime/errors.ts";
import { RedisClient, type RedisClientOptions } from "./redis_client.ts";
import type { RespValue } from "./resp.ts";

/**
 * Whether the link can reach Redis: `up` once both connections are made, `down` while either
 * is being made again, `closed` after {@linkcode RedisLink.close}.
 *
 * @example
 * ```ts
 * const status: RedisLinkStatus = "down";
 * ```
 */
export type RedisLinkStatus = "connecting" | "up" | "down" | "closed";

/**
 * Options of {@linkcode RedisLink}.
 *
 * @example
 * ```ts
 * const options: RedisLinkOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   backoff: { baseMs: 100, capMs: 5000 },
 *   onStatus: (status, error) => console.log(status, error?.message),
 * };
 * ```
 */
export interface RedisLinkOptions extends RedisClientOptions {
  /** The delays between attempts to reconnect. Default 100 ms doubling to 5 s, with jitter. */
  backoff?: BackoffOptions;
  /** Called when the link goes `up` or `down`, with what took it down. */
  onStatus?(status: "up" | "down", error?: Error): void;
}

/**
 * What receives a channel's messages.
 *
 * @example
 * ```ts
 * const handler: RedisMessageHandler = (message, channel) => console.log(channel, message.byteLength);
 * ```
 */
export type RedisMessageHandler = (message: Uint8Array, channel: string) => void;

/**
 * A link to Redis that reconnects by itself; see the module's description.
 *
 * @example
 * ```ts
 * const link = new RedisLink({ url: "redis://127.0.0.1:6379" });
 * link.subscribe("room:lobby", (message) => console.log(new TextDecoder().decode(message)));
 * await link.ready();
 * link.publish("room:lobby", "hello");
 * await link.close();
 * ```
 */
export class RedisLink {
  readonly #options: RedisLinkOptions;
  readonly #channels = new Map<string, RedisMessageHandler>();
  #commands: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  #status: RedisLinkStatus = "connecting";
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #waiters: (() => void)[] = [];
  readonly #backoff: Backoff;
  #lastError: Error | undefined;

  /** Starts connecting at once. */
  constructor(options: RedisLinkOptions) {
    this.#options = options;
    this.#backoff = new Backoff({ baseMs: 100, capMs: 5000, jitter: "equal", ...options.backoff });
    void this.#connect();
  }

  /** Whether Redis can be reached now. */
  get status(): RedisLinkStatus {
    return this.#status;
  }

  /** Messages that {@linkcode RedisLink.publish} could not send, since the start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** What took the link down last, if it went down. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Resolves once the link is up (at once if it is). */
  ready(): Promise<void> {
    if (this.#status === "up") return Promise.resolve();
    if (this.#status === "closed") return Promise.reject(new NetError("ENOTCONN", "The Redis link is closed"));
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Receives every message published to `channel` while the link is up, on this connection and
   * on every later one. Messages published while it is down are not received.
   */
  subscribe(channel: string, onMessage: RedisMessageHandler): void {
    if (this.#channels.has(channel)) throw new TypeError(`Already subscribed to ${JSON.stringify(channel)}`);
    this.#channels.set(channel, onMessage);
    const subscriber = this.#subscriber;
    if (this.#status === "up" && subscriber) {
      subscriber.subscribe(channel, onMessage).catch((error) => this.#lost(subscriber, error));
    }
  }

  /** Stops the messages of `channel`. */
  unsubscribe(channel: string): void {
    if (!this.#channels.delete(channel)) return;
    const subscriber = this.#subscriber;
    if (this.#status === "up" && subscriber) subscriber.unsubscribe(channel).catch(() => {});
  }

  /**
   * Publishes `message` to `channel`. Returns false, and counts the message as dropped, when
   * the link is down or too many commands wait for replies; nothing is queued for later.
   */
  publish(channel: string, message: string | Uint8Array): boolean {
    const commands = this.#commands;
    if (this.#status !== "up" || commands === undefined || commands.pending >= (this.#options.maxPending ?? 10_000)) {
      this.#dropped++;
      return false;
    }
    commands.command(["PUBLISH", channel, message]).catch(() => this.#dropped++);
    return true;
  }

  /** Sends a command; rejects with a NetError (ENOTCONN) while the link is down. */
  command(args: readonly (string | number | Uint8Array)[]): Promise<RespValue> {
    const commands = this.#commands;
    if (this.#status !== "up" || commands === undefined) {
      return Promise.reject(
        new NetError("ENOTCONN", `Redis cannot be reached now; ${String(args[0])} was not sent`, {
          cause: this.#lastError,
        }),
      );
    }
    return commands.command(args);
  }

  /** Closes both connections and stops reconnecting. */
  async close(): Promise<void> {
    if (this.#status === "closed") return;
    this.#status = "closed";
    clearTimeout(this.#timer);
    const clients = [this.#commands, this.#subscriber];
    this.#commands = this.#subscriber = undefined;
    await Promise.all(clients.map((client) => client?.close().catch(() => {})));
  }

  async #connect(): Promise<void> {
    let commands: RedisClient | undefined;
    let subscriber: RedisClient | undefined;
    try {
      commands = await RedisClient.connect(this.#options);
      subscriber = await RedisClient.connect(this.#options);
      for (const [channel, handler] of this.#channels) await subscriber.subscribe(channel, handler);
    } catch (error) {
      commands?.close().catch(() => {});
      subscriber?.close().catch(() => {});
      if (this.#status === "closed") return;
      this.#lastError = error as Error;
      this.#retry();
      return;
    }
    if (this.#status === "closed") {
      await Promise.all([commands.close(), subscriber.close()]).catch(() => {});
      return;
    }
    this.#commands = commands;
    this.#subscriber = subscriber;
    for (const client of [commands, subscriber]) client.onClose((error) => this.#lost(client, error));
    this.#backoff.reset();
    this.#status = "up";
    this.#options.onStatus?.("up");
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /** A connection ended: take the other down too, say so once, and reconnect after a delay. */
  #lost(client: RedisClient, error?: Error): void {
    if (this.#status !== "up" || (client !== this.#commands && client !== this.#subscriber)) return;
    const other = client === this.#commands ? this.#subscriber : this.#commands;
    this.#commands = this.#subscriber = undefined;
    other?.close().catch(() => {});
    this.#lastError = error ?? new NetError("ECONNRESET", "The Redis connection closed");
    this.#status = "down";
    this.#options.onStatus?.("down", this.#lastError);
    this.#retry();
  }

  #retry(): void {
    if (this.#status === "closed") return;
    if (this.#status === "connecting") {
      this.#status = "down";
      this.#options.onStatus?.("down", this.#lastError);
    }
    this.#timer = setTimeout(() => void this.#connect(), this.#backoff.next());
  }
}
