/**
 * The chat's bus between machines, over Redis (`serve chat --redis redis://HOST:PORT`).
 *
 * - **Lines.** Every node publishes its room lines to one channel, `PREFIX:lines`, and
 *   subscribes to it. Redis runs one command at a time and sends a channel's messages to every
 *   subscriber in the order it ran the PUBLISH commands, so every node delivers a room's lines
 *   in one order. A line is a JSON object whose text is one string field: what a client typed
 *   is data, and cannot forge a field, another user's line or a notice.
 * - **Presence.** {@linkcode RedisPresence}: nicknames claimed with `SET NX`, members kept in
 *   keys that expire unless their node renews them, and a dead node's members announced as
 *   gone by the one live node that wins the right to.
 * - **Redis lost.** Nothing is queued: a line published while Redis cannot be reached, or
 *   published before and not yet back when the link went down, is delivered on this node only
 *   (in the order it was published) and counted in {@linkcode RedisChatBus.dropped}. The clients
 *   hear once that the chat is limited to this server, and once that it is whole again, after
 *   the node has subscribed again and written its members back. A nickname claimed meanwhile is
 *   checked on this node only, and claimed in Redis at the next renewal.
 * - **A node that falls behind.** Redis keeps what a subscriber has not read in that client's
 *   output buffer, bounded by `client-output-buffer-limit pubsub` (32 MiB hard, or 8 MiB for
 *   60 s, by default): past it Redis closes the subscription, the node reconnects, and its
 *   clients are told that lines were lost. The node itself reads as fast as the socket gives,
 *   and what it hands its clients is bounded by their high water mark.
 *
 * @module
 */

import { RedisLink, type RedisLinkOptions } from "../../redis/redis_link.ts";
import { type ChatBus, type ChatBusEvents, listNames } from "./chat_bus.ts";
import { RedisPresence } from "./redis_presence.ts";

/**
 * Options of {@linkcode RedisChatBus}.
 *
 * @example
 * ```ts
 * const options: RedisChatBusOptions = { url: "redis://:secret@127.0.0.1:6379", ttlMs: 6000 };
 * ```
 */
export interface RedisChatBusOptions extends Omit<RedisLinkOptions, "onStatus"> {
  /** This node's id, unique among the nodes. Default: `chat-` and a random part. */
  node?: string;
  /** The prefix of every key and channel. Default `sockmodels:chat`. */
  prefix?: string;
  /** How long a node's members outlive its last renewal. Default 6 s. */
  ttlMs?: number;
  /** How long {@linkcode RedisChatBus.start} waits for Redis before the node serves alone. Default 5 s. */
  startTimeoutMs?: number;
}

/**
 * A line on the channel: node, its number on that node, room, text, and the publishing node's
 * peer id of its sender.
 */
interface WireLine {
  n: string;
  q: number;
  r: string;
  t: string;
  s?: number;
}

/** A line this node published and has not received back; `local` ones never went to Redis. */
interface Unacked {
  q: number;
  room: string;
  text: string;
  sender: number | undefined;
  local: boolean;
}

const decoder = new TextDecoder();

/**
 * The chat's bus over Redis; see the module's description.
 *
 * @example
 * ```ts
 * import { ChatHub } from "./chat_hub.ts";
 * const hub = new ChatHub({ bus: new RedisChatBus({ url: "redis://127.0.0.1:6379" }) });
 * await hub.ready;
 * ```
 */
export class RedisChatBus implements ChatBus {
  readonly kind = "redis";
  /** This node's id. */
  readonly node: string;
  readonly #options: RedisChatBusOptions;
  readonly #channel: string;
  #link: RedisLink | undefined;
  #presence: RedisPresence | undefined;
  #events: ChatBusEvents | undefined;
  /** Whether the clients were told the bus is down (and so must hear it is back). */
  #toldDown = false;
  #malformed = 0;
  #sequence = 0;
  /** This node's lines in the order published, until each comes back (or the link goes down). */
  #unacked: Unacked[] = [];
  #unackedHead = 0;
  #localDrops = 0;
  #refused = 0;

  constructor(options: RedisChatBusOptions) {
    this.#options = options;
    this.node = options.node ?? `chat-${Math.random().toString(36).slice(2, 10)}`;
    this.#channel = `${options.prefix ?? "sockmodels:chat"}:lines`;
  }

  /** Lines that could not reach Redis, since the start. */
  get dropped(): number {
    // Each line is counted once: refused at once, or delivered here for not coming back.
    return this.#refused + this.#localDrops;
  }

  /** Messages on the channel that were not lines of this chat, ignored. */
  get malformed(): number {
    return this.#malformed;
  }

  async start(events: ChatBusEvents): Promise<void> {
    this.#events = events;
    const link = this.#link = new RedisLink({
      ...this.#options,
      onStatus: (status, error) => this.#status(status, error),
    });
    this.#presence = new RedisPresence({
      link,
      node: this.node,
      prefix: this.#options.prefix,
      ttlMs: this.#options.ttlMs ?? 6000,
      onNickLost: (nick) => this.#events?.nickLost(nick),
      onNodeGone: (_node, rooms) => {
        for (const [room, nicks] of rooms) {
          this.#announce(room, `* ${listNames(nicks)} left ${room} (their server stopped answering)`);
        }
      },
      onRevived: (rooms) => {
        for (const [room, nicks] of rooms) {
          this.#announce(room, `* ${listNames(nicks)} joined ${room} (their server is back)`);
        }
      },
    });
    link.subscribe(this.#channel, (message) => this.#receive(message));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      link.ready(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.startTimeoutMs ?? 5000))),
    ]);
    clearTimeout(timer);
  }

  /** A line of the bus's own: to every node, or to this one's clients when Redis is away. */
  #announce(room: string, text: string): void {
    if (!this.publish(room, text)) this.#events?.line(room, text);
  }

  publish(room: string, text: string, sender?: number): boolean {
    const link = this.#link;
    if (!link) return false;
    const q = ++this.#sequence;
    const line: WireLine = sender === undefined
      ? { n: this.node, q, r: room, t: text }
      : { n: this.node, q, r: room, t: text, s: sender };
    const waiting = this.#unacked.length > this.#unackedHead;
    if (link.publish(this.#channel, JSON.stringify(line))) {
      this.#unacked.push({ q, room, text, sender, local: false });
      return true;
    }
    // Not sent: delivered here, after this node's lines still on their way.
    this.#refused++;
    if (!waiting) return false;
    this.#unacked.push({ q, room, text, sender, local: true });
    return true;
  }

  claimNick(nick: string): Promise<boolean> {
    const presence = this.#presence;
    if (!presence) return Promise.resolve(false);
    return presence.claimNick(nick).catch(() => {
      // Redis cannot be reached: the hub found the name free here, and the next renewal
      // claims it in Redis or reports it lost.
      presence.holdNick(nick);
      return true;
    });
  }

  releaseNick(nick: string): void {
    void this.#presence?.releaseNick(nick);
  }

  entered(room: string, nick: string): void {
    void this.#presence?.enter(room, nick);
  }

  exited(room: string, nick: string): void {
    void this.#presence?.exit(room, nick);
  }

  renamed(room: string, from: string, to: string): void {
    void this.#presence?.rename(room, from, to);
  }

  who(room: string): Promise<string[]> {
    return this.#presence?.who(room) ?? Promise.reject(new Error("The Redis bus is not started"));
  }

  async close(forget = true): Promise<void> {
    await this.#presence?.close(forget);
    await this.#link?.close();
    this.#events = undefined;
  }

  #receive(message: Uint8Array): void {
    let line: WireLine;
    try {
      line = JSON.parse(decoder.decode(message));
    } catch {
      this.#malformed++;
      return;
    }
    if (typeof line?.r !== "string" || typeof line.t !== "string" || typeof line.n !== "string") {
      this.#malformed++;
      return;
    }
    if (line.n !== this.node) return this.#events?.line(line.r, line.t);
    // This node's own line: those published before it and not back were lost on the way.
    while (this.#unackedHead < this.#unacked.length && this.#unacked[this.#unackedHead].q < line.q) {
      this.#deliverLocally(this.#unacked[this.#unackedHead++]);
    }
    const own = this.#unacked[this.#unackedHead];
    if (own?.q === line.q) {
      this.#unackedHead++;
      this.#events?.line(own.room, own.text, own.sender);
    }
    // Lines that could not be sent wait only for those published before them.
    while (this.#unackedHead < this.#unacked.length && this.#unacked[this.#unackedHead].local) {
      this.#deliverLocally(this.#unacked[this.#unackedHead++]);
    }
    this.#compact();
  }

  /** A line of this node's that did not come back from Redis, to this node's clients. */
  #deliverLocally(entry: Unacked): void {
    if (!entry.local) this.#localDrops++;
    this.#events?.line(entry.room, entry.text, entry.sender);
  }

  #compact(): void {
    if (this.#unackedHead === this.#unacked.length) {
      this.#unacked = [];
      this.#unackedHead = 0;
    } else if (this.#unackedHead > 1024 && this.#unackedHead * 2 > this.#unacked.length) {
      this.#unacked = this.#unacked.slice(this.#unackedHead);
      this.#unackedHead = 0;
    }
  }

  #status(status: "up" | "down", error?: Error): void {
    if (status === "down") {
      // Nothing more comes back on the lost subscription: this node's lines on their way reach
      // its own clients, in their order.
      // A line delivered lets its sender go on, and what it sends meanwhile queues behind.
      while (this.#unackedHead < this.#unacked.length) this.#deliverLocally(this.#unacked[this.#unackedHead++]);
      this.#compact();
      if (this.#toldDown) return;
      this.#toldDown = true;
      this.#events?.status(false, `Redis: ${error?.message ?? "the connection closed"}`);
      return;
    }
    if (!this.#toldDown) return;
    this.#toldDown = false;
    // Members are written back before the clients hear that the chat is whole again.
    const presence = this.#presence;
    void (presence ? presence.renew() : Promise.resolve()).catch(() => {}).then(() => {
      if (!this.#toldDown) this.#events?.status(true);
    });
  }
}
