/**
 * Who is in the chat across nodes, kept in Redis: nicknames claimed atomically, and each
 * node's members of each room, all under keys that expire unless their node renews them.
 *
 * - A nickname is the key `PREFIX:nick:<lowercased>`, set with `SET … NX PX` to the claiming
 *   node's id: the first claim wins, on whichever node it is made. Only its node renews or
 *   frees it (a script compares the value first).
 * - A node's members of a room are the sorted set `PREFIX:room:<room>:node:<node>`, scored by
 *   a counter in Redis (`PREFIX:joins`) that orders joins on every node, and the room's nodes
 *   are the set `PREFIX:room:<room>:nodes`.
 *   {@linkcode RedisPresence.who} merges the nodes' sets in joining order.
 * - A node is alive while its key `PREFIX:node:<node>` is: it expires `ttlMs` after the last
 *   renewal. Its members' keys live twice as long, so that the first node to see it dead can
 *   still read them: {@linkcode RedisPresence.reap} wins the right to announce its leaves with
 *   `SET … NX`, so one node announces them, once. {@linkcode RedisPresence.who} lists live
 *   nodes only.
 * - Every `ttlMs / 3` the node renews all of its keys and writes them again (so that a Redis
 *   that restarted empty learns them back). A node that dies stops renewing, and its members
 *   and nicknames vanish within `ttlMs`: nothing deletes the entries of a node whose key is
 *   alive. A nickname that another node took while Redis had forgotten it is reported
 *   through {@linkcode RedisPresenceOptions.onNickLost}.
 *
 * @module
 */

import type { RedisLink } from "../../redis/redis_link.ts";
import { replyText, type RespValue } from "../../redis/resp.ts";

/**
 * Options of {@linkcode RedisPresence}.
 *
 * @example
 * ```ts
 * import { RedisLink } from "../../redis/redis_link.ts";
 * const options: RedisPresenceOptions = {
 *   link: new RedisLink({ url: "redis://127.0.0.1:6379" }),
 *   node: "chat-1",
 *   ttlMs: 10_000,
 * };
 * ```
 */
export interface RedisPresenceOptions {
  /** The link to Redis. */
  link: RedisLink;
  /** This node's id, unique among the nodes. */
  node: string;
  /** The prefix of every key. Default `sockmodels:chat`. */
  prefix?: string;
  /** How long an entry outlives its node's last renewal. Default 10 s. */
  ttlMs?: number;
  /** A nickname this node held was taken by another node (after Redis lost it). */
  onNickLost?(nick: string): void;
  /**
   * A dead node's members, by room, that this node is the one to announce as gone; checked
   * after every renewal.
   */
  onNodeGone?(node: string, rooms: Map<string, string[]>): void;
  /**
   * Another node took this node for dead (it missed its renewals for `ttlMs`) and announced its
   * members as gone; they are written back now, and may be announced again.
   */
  onRevived?(rooms: Map<string, string[]>): void;
}

/** Renews a key only while it still holds this node's id. */
const RENEW_IF_OURS =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end " +
  "return 0";
/** Raises the join counter to at least ARGV[1], after a Redis that restarted began it again. */
const RAISE_COUNTER = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') " +
  "if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 0";
/**
 * Everyone in a room on the live nodes, as nick, score, nick, score…: KEYS[1] is the room's
 * set of nodes; ARGV[1] the key prefix, ARGV[2] the room.
 */
const WHO = "local out = {} " +
  "for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do " +
  "if redis.call('EXISTS', ARGV[1] .. ':node:' .. node) == 1 then " +
  "local m = redis.call('ZRANGE', ARGV[1] .. ':room:' .. ARGV[2] .. ':node:' .. node, 0, -1, 'WITHSCORES') " +
  "for i = 1, #m do out[#out + 1] = m[i] end end end return out";
/** Replaces a node's set of a room: KEYS[1] the set, ARGV[1] its TTL, then score, nick… */
const REPLACE_ROOM = "redis.call('DEL', KEYS[1]) " +
  "for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end " +
  "redis.call('PEXPIRE', KEYS[1], ARGV[1]) return 0";
/** How long a node that was announced as dead is remembered as such, to say it is back if it is. */
const REAPED_MS = 3_600_000;
/** Deletes a key only while it still holds this node's id. */
const DELETE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * A node's view of the chat's presence in Redis; see the module's description.
 *
 * @example
 * ```ts
 * import { RedisLink } from "../../redis/redis_link.ts";
 * const link = new RedisLink({ url: "redis://127.0.0.1:6379" });
 * await link.ready();
 * const presence = new RedisPresence({ link, node: "chat-1" });
 * if (await presence.claimNick("ada")) await presence.enter("lobby", "ada");
 * console.log(await presence.who("lobby")); // ["ada", …members on other nodes]
 * ```
 */
export class RedisPresence {
  readonly #link: RedisLink;
  readonly #node: string;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #onNickLost: ((nick: string) => void) | undefined;
  readonly #onRevived: ((rooms: Map<string, string[]>) => void) | undefined;
  /** Nicknames this node holds, lowercased, with their spelling. */
  readonly #nicks = new Map<string, string>();
  /** This node's members of each room; the score (when they joined) is NaN until Redis gave it. */
  readonly #rooms = new Map<string, Map<string, RoomEntry>>();
  readonly #timer: ReturnType<typeof setInterval>;
  #lastScore = 0;

  /** Starts renewing this node's entries every `ttlMs / 3`. */
  constructor(options: RedisPresenceOptions) {
    this.#link = options.link;
    this.#node = options.node;
    this.#prefix = options.prefix ?? "sockmodels:chat";
    this.#ttlMs = options.ttlMs ?? 10_000;
    if (!(this.#ttlMs >= 100)) throw new RangeError(`Presence TTL must be at least 100 ms, got ${options.ttlMs}`);
    this.#onNickLost = options.onNickLost;
    this.#timer = setInterval(() => {
      void this.renew().catch(() => {});
      void this.reap().then(
        (dead) => {
          for (const { node, rooms } of dead) options.onNodeGone?.(node, rooms);
        },
        () => {},
      );
    }, Math.floor(this.#ttlMs / 3));
    this.#onRevived = options.onRevived;
  }

  #nickKey(nick: string): string {
    return `${this.#prefix}:nick:${nick.toLowerCase()}`;
  }

  #roomKey(room: string, node = this.#node): string {
    return `${this.#prefix}:room:${room}:node:${node}`;
  }

  #nodesKey(room: string): string {
    return `${this.#prefix}:room:${room}:nodes`;
  }

  #nodeKey(node = this.#node): string {
    return `${this.#prefix}:node:${node}`;
  }

  #nodeRoomsKey(node = this.#node): string {
    return `${this.#prefix}:node:${node}:rooms`;
  }

  /** Marks this node alive for another `ttlMs`. */
  async #heartbeat(): Promise<void> {
    await Promise.all([
      this.#link.command(["SET", this.#nodeKey(), "1", "PX", this.#ttlMs]),
      this.#link.command(["SADD", `${this.#prefix}:nodes`, this.#node]),
    ]);
  }

  /**
   * Claims `nick` for a member of this node: true when it is now this node's (or already
   * was), false when another node holds it. Rejects while Redis cannot be reached.
   */
  async claimNick(nick: string): Promise<boolean> {
    const reply = await this.#link.command(["SET", this.#nickKey(nick), this.#node, "NX", "PX", this.#ttlMs]);
    if (reply === "OK") {
      this.#nicks.set(nick.toLowerCase(), nick);
      return true;
    }
    const holder = await this.#link.command(["GET", this.#nickKey(nick)]);
    if (holder !== null && replyText(holder) === this.#node) {
      this.#nicks.set(nick.toLowerCase(), nick);
      return true;
    }
    return false;
  }

  /**
   * Holds `nick` for this node without asking Redis (which cannot be reached now): the next
   * renewal claims it, or reports it through `onNickLost` if another node has it.
   */
  holdNick(nick: string): void {
    this.#nicks.set(nick.toLowerCase(), nick);
  }

  /** Frees `nick` if this node holds it. */
  async releaseNick(nick: string): Promise<void> {
    this.#nicks.delete(nick.toLowerCase());
    await this.#link.command(["EVAL", DELETE_IF_OURS, 1, this.#nickKey(nick), this.#node]).catch(() => {});
  }

  /**
   * Records that `nick`, of this node, is in `room` now. This node's own view changes at once,
   * so that an exit or a rename made before Redis answered applies to it.
   */
  async enter(room: string, nick: string): Promise<void> {
    let members = this.#rooms.get(room);
    if (!members) this.#rooms.set(room, members = new Map());
    const entry: RoomEntry = { nick, score: NaN, removed: false };
    members.set(nick, entry);
    // One counter in Redis orders joins on every node; while Redis cannot be reached, the
    // node goes on from the highest number it has seen.
    let score: number;
    try {
      score = Number(await this.#link.command(["INCR", `${this.#prefix}:joins`]));
    } catch {
      score = this.#lastScore + 1;
    }
    this.#lastScore = Math.max(this.#lastScore, score);
    if (entry.removed) return;
    entry.score = score;
    const key = this.#roomKey(room);
    // Sent together; the node's own key first, so that no one sees these without it.
    await Promise.all([
      this.#heartbeat(),
      this.#link.command(["ZADD", key, score, entry.nick]),
      this.#link.command(["PEXPIRE", key, 2 * this.#ttlMs]),
      this.#link.command(["SADD", this.#nodesKey(room), this.#node]),
      this.#link.command(["SADD", this.#nodeRoomsKey(), room]),
      this.#link.command(["PEXPIRE", this.#nodeRoomsKey(), 2 * this.#ttlMs]),
    ]).catch(() => {});
  }

  /** Records that `nick`, of this node, left `room`. */
  async exit(room: string, nick: string): Promise<void> {
    const members = this.#rooms.get(room);
    const entry = members?.get(nick);
    if (!members || !entry) return;
    entry.removed = true;
    members.delete(nick);
    const commands: (string | number)[][] = [["ZREM", this.#roomKey(room), nick]];
    if (members.size === 0) {
      this.#rooms.delete(room);
      commands.push(["DEL", this.#roomKey(room)], ["SREM", this.#nodesKey(room), this.#node], [
        "SREM",
        this.#nodeRoomsKey(),
        room,
      ]);
    }
    // A command lost while Redis cannot be reached is made good at the next renewal, which
    // writes each room whole.
    await Promise.all(commands.map((command) => this.#link.command(command))).catch(() => {});
  }

  /** Records that a member of this node in `room` is now called `to`, keeping its place. */
  async rename(room: string, from: string, to: string): Promise<void> {
    const members = this.#rooms.get(room);
    const entry = members?.get(from);
    if (!members || !entry) return;
    members.delete(from);
    entry.nick = to;
    members.set(to, entry);
    // Not yet in Redis: enter() writes it under its new name.
    if (Number.isNaN(entry.score)) return;
    await Promise.all([
      this.#link.command(["ZREM", this.#roomKey(room), from]),
      this.#link.command(["ZADD", this.#roomKey(room), entry.score, to]),
    ]).catch(() => {});
  }

  /** Everyone in `room` on every live node, in joining order. Rejects while Redis cannot be reached. */
  async who(room: string): Promise<string[]> {
    const reply = asArray(await this.#link.command(["EVAL", WHO, 1, this.#nodesKey(room), this.#prefix, room]));
    const entries: [string, number][] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) entries.push([replyText(reply[i]), Number(replyText(reply[i + 1]))]);
    return entries.sort((a, b) => a[1] - b[1]).map(([nick]) => nick);
  }

  /**
   * Finds the nodes that died (their key expired) and, for each that this node is the first
   * to claim, returns its members by room and deletes its entries. Every live node calls it
   * at each renewal; one of them gets each dead node.
   */
  async reap(): Promise<{ node: string; rooms: Map<string, string[]> }[]> {
    const dead: { node: string; rooms: Map<string, string[]> }[] = [];
    const nodes = asArray(await this.#link.command(["SMEMBERS", `${this.#prefix}:nodes`])).map(replyText);
    for (const node of nodes) {
      if (node === this.#node || await this.#link.command(["EXISTS", this.#nodeKey(node)]) === 1) continue;
      const won = await this.#link.command([
        "SET",
        `${this.#prefix}:reaped:${node}`,
        this.#node,
        "NX",
        "PX",
        REAPED_MS,
      ]);
      if (won !== "OK") continue;
      const rooms = new Map<string, string[]>();
      for (const room of asArray(await this.#link.command(["SMEMBERS", this.#nodeRoomsKey(node)])).map(replyText)) {
        const members = asArray(await this.#link.command(["ZRANGE", this.#roomKey(room, node), 0, -1])).map(replyText);
        if (members.length > 0) rooms.set(room, members);
        await this.#link.command(["DEL", this.#roomKey(room, node)]);
        await this.#link.command(["SREM", this.#nodesKey(room), node]);
      }
      await this.#link.command(["DEL", this.#nodeRoomsKey(node)]);
      await this.#link.command(["SREM", `${this.#prefix}:nodes`, node]);
      dead.push({ node, rooms });
    }
    return dead;
  }

  /**
   * Renews every entry of this node, and writes back those Redis lost. Called every
   * `ttlMs / 3`; resolves once done.
   */
  async renew(): Promise<void> {
    if (this.#link.status !== "up") return;
    await this.#heartbeat();
    const reaped = await this.#link.command(["DEL", `${this.#prefix}:reaped:${this.#node}`]) === 1;
    await this.#link.command(["EVAL", RAISE_COUNTER, 1, `${this.#prefix}:joins`, this.#lastScore]);
    // Sent together, so that a node with many members renews in one round trip or two.
    const nicks = [...this.#nicks];
    const renewed = await Promise.all(
      nicks.map(([, nick]) =>
        this.#link.command(["EVAL", RENEW_IF_OURS, 1, this.#nickKey(nick), this.#node, this.#ttlMs])
      ),
    );
    const missing = nicks.filter((_, i) => renewed[i] !== 1);
    // Gone from Redis (a restart, or claimed while Redis could not be reached): claim it back,
    // unless another node took it meanwhile.
    const reclaimed = await Promise.all(
      missing.map(([, nick]) => this.#link.command(["SET", this.#nickKey(nick), this.#node, "NX", "PX", this.#ttlMs])),
    );
    for (const [i, [lower, nick]] of missing.entries()) {
      if (reclaimed[i] === "OK" || this.#nicks.get(lower) !== nick) continue;
      this.#nicks.delete(lower);
      this.#onNickLost?.(nick);
    }
    await Promise.all([...this.#rooms.keys()].map((room) => this.#writeRoom(room)));
    if (reaped) {
      this.#onRevived?.(new Map([...this.#rooms].map(([room, members]) => [room, [...members.keys()]])));
    }
  }

  /** Writes this node's members of `room` whole, after the node's own key (renew() writes it). */
  async #writeRoom(room: string): Promise<void> {
    const members = this.#rooms.get(room);
    if (!members || members.size === 0) return;
    const key = this.#roomKey(room);
    const args: (string | number)[] = ["EVAL", REPLACE_ROOM, 1, key, 2 * this.#ttlMs];
    for (const entry of members.values()) if (!Number.isNaN(entry.score)) args.push(entry.score, entry.nick);
    // Written whole, so that what was lost while Redis could not be reached is made good.
    await Promise.all([
      this.#link.command(args),
      this.#link.command(["SADD", this.#nodesKey(room), this.#node]),
      this.#link.command(["SADD", this.#nodeRoomsKey(), room]),
      this.#link.command(["PEXPIRE", this.#nodeRoomsKey(), 2 * this.#ttlMs]),
    ]);
  }

  /**
   * Stops renewing. With `forget`, this node's entries are deleted at once (a node that
   * stops cleanly); without, they expire (as if the node had died).
   */
  async close(forget = true): Promise<void> {
    clearInterval(this.#timer);
    if (!forget) return;
    await this.#link.command(["DEL", this.#nodeKey(), this.#nodeRoomsKey()]).catch(() => {});
    await this.#link.command(["SREM", `${this.#prefix}:nodes`, this.#node]).catch(() => {});
    for (const room of this.#rooms.keys()) {
      await this.#link.command(["DEL", this.#roomKey(room)]).catch(() => {});
      await this.#link.command(["SREM", this.#nodesKey(room), this.#node]).catch(() => {});
    }
    for (const nick of this.#nicks.values()) await this.releaseNick(nick);
    this.#rooms.clear();
  }
}

/** A member of a room on this node. */
interface RoomEntry {
  nick: string;
  /** When it joined, from Redis's counter; NaN until Redis answered. */
  score: number;
  /** It left before Redis answered. */
  removed: boolean;
}

function asArray(reply: RespValue): RespValue[] {
  return Array.isArray(reply) ? reply : [];
}
