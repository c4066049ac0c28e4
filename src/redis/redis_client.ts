/**
 * A Redis client over the runtime adapter: one connection, commands pipelined in order, and
 * publish/subscribe. It speaks RESP2 ({@linkcode RespDecoder}), authenticates and selects a
 * database from a `redis://` or `rediss://` (TLS) URL, and reports everything that goes wrong
 * with a typed error: a {@linkcode NetError} when the connection fails or ends (every command
 * still waiting for its reply is rejected with it), a {@linkcode RedisReplyError} when the
 * server answers with an error, a {@linkcode RedisProtocolError} for bytes that are not RESP,
 * and a `TypeError` for a misuse.
 *
 * It does not reconnect by itself: whoever holds it decides what a lost connection means
 * (the chat's Redis bus reconnects with the resilience kit's backoff).
 *
 * @module
 */

import { defaultTransport } from "../runtime/detect.ts";
import { NetError } from "../runtime/errors.ts";
import type { Stream, TlsClientOptions, Transport } from "../runtime/types.ts";
import {
  describeReply,
  encodeCommand,
  RedisProtocolError,
  RedisReplyError,
  replyText,
  RespDecoder,
  type RespLimits,
  type RespValue,
} from "./resp.ts";

/**
 * Where a Redis server is and how to log in, as read from its URL.
 *
 * @example
 * ```ts
 * const target: RedisTarget = { hostname: "127.0.0.1", port: 6379, tls: false, db: 0 };
 * ```
 */
export interface RedisTarget {
  /** The server's host name or address. */
  hostname: string;
  /** Its port. Default 6379. */
  port: number;
  /** Connect with TLS (`rediss://`). */
  tls: boolean;
  /** The ACL user name, if any. */
  username?: string;
  /** The password, if any. */
  password?: string;
  /** The database to select. Default 0. */
  db: number;
}

/**
 * Reads a `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or `rediss://…` URL. Throws a
 * `TypeError` that names what is wrong.
 *
 * @example
 * ```ts
 * parseRedisUrl("redis://:secret@10.0.0.5:6380/2");
 * // { hostname: "10.0.0.5", port: 6380, tls: false, password: "secret", db: 2 }
 * ```
 */
export function parseRedisUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`A Redis URL looks like redis://HOST:PORT, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(`A Redis URL starts with redis:// or rediss://, got ${JSON.stringify(url)}`);
  }
  if (parsed.hostname === "") throw new TypeError(`A Redis URL needs a host, got ${JSON.stringify(url)}`);
  const path = parsed.pathname.replace(/^\//, "");
  if (path !== "" && !/^(0|[1-9][0-9]{0,4})$/.test(path)) {
    throw new TypeError(`A Redis URL's database must be a number, got ${JSON.stringify(path)}`);
  }
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  return {
    hostname,
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    tls: parsed.protocol === "rediss:",
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: path === "" ? 0 : Number(path),
  };
}

/**
 * Options of {@linkcode RedisClient.connect}.
 *
 * @example
 * ```ts
 * const options: RedisClientOptions = { url: "redis://127.0.0.1:6379", commandTimeoutMs: 2000 };
 * ```
 */
export interface RedisClientOptions {
  /** The server, as a `redis://` or `rediss://` URL. */
  url: string;
  /** The transport to connect over. Default: the runtime's. */
  transport?: Transport;
  /** How long connecting and logging in may take. Default 5 s. */
  connectTimeoutMs?: number;
  /** How long a command may wait for its reply before it is rejected (ETIMEDOUT). Default 5 s. */
  commandTimeoutMs?: number;
  /** Commands waiting for replies past which new ones are refused (ENOBUFS). Default 10,000. */
  maxPending?: number;
  /** TLS options for `rediss://` (a CA, a client certificate). */
  tls?: TlsClientOptions;
  /** Limits on what the server may send. */
  limits?: RespLimits;
}

interface Pending {
  resolve(reply: RespValue): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** It timed out: its reply, when it comes, is dropped. */
  abandoned: boolean;
}

/** What a subscribed connection may still send, in RESP2. */
const SUBSCRIBED_COMMANDS = new Set(["SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "PING", "QUIT"]);

/**
 * One connection to a Redis server.
 *
 * @example
 * ```ts
 * import { replyText } from "./resp.ts";
 * const redis = await RedisClient.connect({ url: "redis://127.0.0.1:6379" });
 * await redis.command(["SET", "greeting", "hello"]);
 * console.log(replyText(await redis.command(["GET", "greeting"])));
 * await redis.close();
 * ```
 */
export class RedisClient {
  readonly #stream: Stream;
  readonly #decoder: RespDecoder;
  readonly #pending: Pending[] = [];
  readonly #commandTimeoutMs: number;
  readonly #maxPending: number;
  readonly #channels = new Map<string, (message: Uint8Array, channel: string) => void>();
  readonly #closeHandlers = new Set<(error?: Error) => void>();
  #closedWith: Error | undefined;
  #closed = false;

  private constructor(stream: Stream, options: RedisClientOptions) {
    this.#stream = stream;
    this.#decoder = new RespDecoder(options.limits);
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 5000;
    this.#maxPending = options.maxPending ?? 10_000;
    stream.setHandlers({
      onData: (chunk) => this.#onData(chunk),
      onEnd: () => this.#fail(new NetError("ECONNRESET", "The Redis server closed the connection")),
      onClose: (error) => this.#fail(error ?? new NetError("ECONNRESET", "The Redis connection closed")),
    });
  }

  /**
   * Connects, logs in (`AUTH`) and selects the database that `url` names. Rejects with a
   * NetError when the server cannot be reached in time, or a RedisReplyError when it refuses
   * the password.
   */
  static async connect(options: RedisClientOptions): Promise<RedisClient> {
    const target = parseRedisUrl(options.url);
    const transport = options.transport ?? await defaultTransport();
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    const stream = await transport.connect({
      hostname: target.hostname,
      port: target.port,
      timeoutMs,
      ...(target.tls ? { tls: { serverName: target.hostname, ...options.tls } } : {}),
    });
    const client = new RedisClient(stream, { ...options, commandTimeoutMs: options.commandTimeoutMs ?? timeoutMs });
    try {
      if (target.password !== undefined) {
        await client.command(
          target.username !== undefined ? ["AUTH", target.username, target.password] : ["AUTH", target.password],
        );
      }
      if (target.db !== 0) await client.command(["SELECT", target.db]);
    } catch (error) {
      client.#stream.reset();
      throw error;
    }
    return client;
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Commands sent and still waiting for their replies. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Calls `handler` once when the connection ends, with the error if it failed. */
  onClose(handler: (error?: Error) => void): void {
    if (this.#closed) queueMicrotask(() => handler(this.#closedWith));
    else this.#closeHandlers.add(handler);
  }

  /**
   * Sends a command and resolves with its reply. An error reply rejects with a
   * {@linkcode RedisReplyError}.
   */
  command(args: readonly (string | number | Uint8Array)[]): Promise<RespValue> {
    if (args.length === 0) return Promise.reject(new TypeError("A Redis command needs at least its name"));
    const name = typeof args[0] === "string" ? args[0].toUpperCase() : String(args[0]);
    if (this.#channels.size > 0 && !SUBSCRIBED_COMMANDS.has(name)) {
      return Promise.reject(
        new TypeError(
          `This connection is subscribed, so it takes only SUBSCRIBE, UNSUBSCRIBE and PING, not ${name}; ` +
            "use a second client for other commands",
        ),
      );
    }
    if (this.#closed) {
      return Promise.reject(
        new NetError("ENOTCONN", `The Redis connection has ended; ${name} was not sent`, { cause: this.#closedWith }),
      );
    }
    if (this.#pending.length >= this.#maxPending) {
      return Promise.reject(
        new NetError("ENOBUFS", `${this.#maxPending} Redis commands are waiting for replies; ${name} was not sent`),
      );
    }
    return new Promise<RespValue>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined, abandoned: false };
      if (this.#commandTimeoutMs > 0) {
        pending.timer = setTimeout(() => {
          pending.abandoned = true;
          reject(new NetError("ETIMEDOUT", `Redis did not answer ${name} within ${this.#commandTimeoutMs} ms`));
        }, this.#commandTimeoutMs);
      }
      this.#pending.push(pending);
      this.#stream.write(encodeCommand(args));
    });
  }

  /**
   * Subscribes to `channel`: `onMessage` gets every message published to it from now on, in
   * the order Redis received them. From the first subscription on, the connection takes only
   * subscription commands.
   */
  async subscribe(channel: string, onMessage: (message: Uint8Array, channel: string) => void): Promise<void> {
    if (this.#channels.has(channel)) throw new TypeError(`Already subscribed to ${JSON.stringify(channel)}`);
    this.#channels.set(channel, onMessage);
    try {
      await this.command(["SUBSCRIBE", channel]);
    } catch (error) {
      this.#channels.delete(channel);
      throw error;
    }
  }

  /** Stops the messages of `channel`. */
  async unsubscribe(channel: string): Promise<void> {
    if (!this.#channels.has(channel)) return;
    await this.command(["UNSUBSCRIBE", channel]);
    this.#channels.delete(channel);
  }

  /** Ends the connection after the replies already asked for; commands after this are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const waiting = this.#pending.map((p) =>
      new Promise<void>((done) => {
        const { resolve, reject } = p;
        p.resolve = (reply) => {
          resolve(reply);
          done();
        };
        p.reject = (error) => {
          reject(error);
          done();
        };
      })
    );
    await Promise.all(waiting);
    this.#fail(undefined);
  }

  #onData(chunk: Uint8Array): void {
    let replies: RespValue[];
    try {
      replies = this.#decoder.push(chunk);
    } catch (error) {
      this.#fail(error as RedisProtocolError);
      return;
    }
    for (const reply of replies) this.#deliver(reply);
  }

  #deliver(reply: RespValue): void {
    if (this.#channels.size > 0 && Array.isArray(reply) && reply.length === 3 && reply[0] instanceof Uint8Array) {
      const kind = replyText(reply[0]);
      if (kind === "message" && reply[1] instanceof Uint8Array && reply[2] instanceof Uint8Array) {
        const channel = replyText(reply[1]);
        this.#channels.get(channel)?.(reply[2], channel);
        return;
      }
    }
    const pending = this.#pending.shift();
    if (pending === undefined) {
      this.#fail(new RedisProtocolError(`Redis sent a reply that nothing asked for: ${describeReply(reply)}`));
      return;
    }
    clearTimeout(pending.timer);
    if (pending.abandoned) return;
    if (reply instanceof RedisReplyError) pending.reject(reply);
    else pending.resolve(reply);
  }

  #fail(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedWith = error;
    const reason = error ?? new NetError("ENOTCONN", "The Redis connection was closed");
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer);
      if (!pending.abandoned) {
        pending.reject(
          new NetError(
            "ECONNRESET",
            `The Redis connection ended before the reply came: ${reason.message}`,
            { cause: reason },
          ),
        );
      }
    }
    if (error) this.#stream.reset();
    else void this.#stream.close().catch(() => {});
    for (const handler of this.#closeHandlers) handler(error);
    this.#closeHandlers.clear();
  }
}
