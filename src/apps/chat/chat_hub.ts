/**
 * Seed 001's chat as an application on any peer host: every line a client sends goes to
 * every client in its room, the sender included, in the order the server received them.
 *
 * The protocol is plain text, one message per frame (a line with `lines` framing):
 *
 * - `/nick NAME` changes the nickname (1 to 20 letters, digits, `_` or `-`, unique);
 * - `/join ROOM` moves to another room (same rules for the name), created on first use;
 * - `/who` lists who is in the room;
 * - `/quit` says goodbye and closes;
 * - anything else is a message, sent on as `NICK: text`.
 *
 * Lines from the server start with `* ` (news) or `! ` (an error, sent to one client only).
 * Control characters other than tab are shown as `^[`-style text, never passed on raw. No
 * line the chat sends is longer than {@linkcode MAX_CHAT_MESSAGE} bytes: a message that would
 * be is refused with a `! ` line, and `/who` of a large room takes several lines.
 *
 * Joins and leaves are announced several names to a line: at the end of the event-loop turn,
 * and while they keep coming at most every 100 ms, so that a storm of N connections or
 * disconnections costs a few lines to each member, not one line to every member for every
 * event. A message always comes after the notices of what happened before it.
 *
 * The rooms may span processes and machines: with a {@linkcode ChatBus} other than the
 * in-process one, every room line goes through the bus and comes back in its order, so that
 * each client of a room sees the same order on every node; nicknames are claimed on the bus,
 * and `/who` lists the members of every node. While a nickname claim or a `/who` waits for the
 * bus, the client's next lines wait too, so its commands keep their order. A client with
 * {@linkcode MAX_IN_FLIGHT} lines on the bus is not read from until they come back.
 *
 * A slow client never stalls the others: when the bytes queued for a client pass the high
 * water mark, and for {@linkcode SLOW_STALL_MS} it reads none of them (a burst that the
 * socket takes at once does not count) or it is still above the mark after
 * {@linkcode SLOW_MAX_MS}, it is disconnected with a notice, to itself (as its last line) and
 * to its room. It then has a short grace period to read what is queued before it
 * is reset. Meanwhile the client whose line pushed a queue past the mark is not read from, so
 * a sender that never stops goes at the pace its room reads, and fast readers keep up.
 *
 * @module
 */

import { FrameTooLargeError, MalformedFrameError } from "../../framing/errors.ts";
import type { AppLog } from "../app_log.ts";
import type { Peer, PeerApp } from "../../hosts/types.ts";
import { encodeLine, escapeControls, quoteInput, utf8Length } from "../text_lines.ts";
import { type ChatBus, InProcessChatBus, listNames } from "./chat_bus.ts";

/**
 * Options of {@linkcode ChatHub}.
 *
 * @example
 * ```ts
 * const options: ChatHubOptions = { highWaterMark: 256 * 1024, slowCloseGraceMs: 1000 };
 * ```
 */
export interface ChatHubOptions {
  /** Bytes queued for one client past which it is disconnected as too slow. Default 1 MiB. */
  highWaterMark?: number;
  /** How long a disconnected slow client may read what is queued before it is reset. Default 2 s. */
  slowCloseGraceMs?: number;
  /** The room every client starts in. Default `lobby`. */
  defaultRoom?: string;
  /** Receives a record for every join, leave, rename, room change and slow disconnect. */
  onLog?: AppLog;
  /** What connects this node's rooms to other nodes'. Default: an {@linkcode InProcessChatBus}. */
  bus?: ChatBus;
}

/**
 * The longest message a client may send, in bytes; the chat servers' codecs reject longer.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const codec = delimited({ maxFrameLength: MAX_CHAT_MESSAGE });
 * ```
 */
export const MAX_CHAT_MESSAGE = 4096;

/**
 * How often the queues above the high water mark are checked.
 *
 * @example
 * ```ts
 * console.log(SLOW_CHECK_MS); // 50
 * ```
 */
export const SLOW_CHECK_MS = 50;

/**
 * How long a client with a queue above the high water mark may read none of it before it
 * counts as slow. Shorter would cut clients whose reads pause for a moment: a long round trip,
 * a busy process, a collection.
 *
 * @example
 * ```ts
 * console.log(SLOW_STALL_MS); // 250
 * ```
 */
export const SLOW_STALL_MS = 250;

/**
 * How long a client's queue may stay above the high water mark, even while it reads, before
 * it counts as slow: a reader far slower than its room cannot hold the room's senders back.
 *
 * @example
 * ```ts
 * console.log(SLOW_MAX_MS); // 1000
 * ```
 */
export const SLOW_MAX_MS = 1000;

/**
 * How many of one client's lines may be on the bus, published and not yet back, before the
 * client is not read from until they come back: a flood from one client cannot queue without
 * bound between the nodes.
 *
 * @example
 * ```ts
 * console.log(MAX_IN_FLIGHT); // 32
 * ```
 */
export const MAX_IN_FLIGHT = 32;

/** Room and nickname changes a client may make at once on a shared chat, and per second after. */
const CHANGE_BURST = 10;
const CHANGES_PER_SECOND = 2;

const NAME = /^[A-Za-z0-9_-]{1,20}$/;
const COMMANDS = "/nick NAME, /join ROOM, /who, /quit";
/** While joins and leaves keep coming, their notices go out at most this often. */
const ANNOUNCE_INTERVAL_MS = 100;
const decoder = new TextDecoder();

interface Member {
  nick: string;
  room: string;
  gone: boolean;
  /** Nickname claims and `/who`s waiting for the bus: while any does, frames wait in `queue`. */
  waits: number;
  queue: Uint8Array[];
  /** Lines published on the bus that have not come back yet. */
  inFlight: number;
  /** Its queued frames are being handled. */
  draining: boolean;
  /** A `/join` waits until its lines on the bus have come back. */
  settling: boolean;
  /** Whether the host was asked to stop reading it. */
  paused: boolean;
  /** Room and nickname changes it may still make at once, on a shared chat, and when counted. */
  changes: number;
  changesAt: number;
}

/** A join or a leave waiting to be announced; `text` is the whole notice when it stands alone. */
interface RoomEvent {
  kind: "joined" | "left";
  nick: string;
  text: string;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The chat: rooms, nicknames and commands, on any {@linkcode PeerApp} host.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startHost } from "sockmodels/hosts";
 * const hub = new ChatHub({ highWaterMark: 1 << 20 });
 * const host = await startHost("engine", { port: 9000, codec: delimited(), app: hub });
 * ```
 */
export class ChatHub implements PeerApp {
  readonly #highWaterMark: number;
  readonly #graceMs: number;
  readonly #defaultRoom: string;
  readonly #log: AppLog | undefined;
  readonly #rooms = new Map<string, Set<Peer>>();
  readonly #nicks = new Map<string, Peer>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Clients above the mark: since when, their least unsent count, and when it last fell. */
  readonly #suspects = new Map<Peer, { since: number; unsent: number; progressAt: number }>();
  /** Senders not read from until their room caught up. */
  readonly #throttled = new Set<Peer>();
  /** The client whose line is being handled. */
  #sender: Peer | undefined;
  #checkTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #roomEvents = new Map<string, RoomEvent[]>();
  #announceTimer: ReturnType<typeof setTimeout> | undefined;
  #lastAnnounced = 0;
  #closed = false;
  #guests = 0;
  readonly #bus: ChatBus;
  readonly #shared: boolean;
  /** The clients by peer id, to find the sender of a line that comes back from the bus. */
  readonly #peers = new Map<number, Peer>();
  /** Resolves once the bus lets this node take clients. */
  readonly ready: Promise<void>;

  constructor(options: ChatHubOptions = {}) {
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    if (!Number.isInteger(this.#highWaterMark) || this.#highWaterMark < 1) {
      throw new RangeError(`High water mark must be a positive number of bytes, got ${options.highWaterMark}`);
    }
    this.#graceMs = options.slowCloseGraceMs ?? 2000;
    if (!(this.#graceMs >= 0)) {
      throw new RangeError(
        `Slow close grace must be a non-negative number of milliseconds, got ${options.slowCloseGraceMs}`,
      );
    }
    this.#defaultRoom = options.defaultRoom ?? "lobby";
    if (!NAME.test(this.#defaultRoom)) {
      throw new RangeError(
        `Default room must be 1 to 20 letters, digits, _ or -, got ${JSON.stringify(options.defaultRoom)}`,
      );
    }
    this.#log = options.onLog;
    this.#bus = options.bus ?? new InProcessChatBus();
    this.#shared = options.bus !== undefined && !(options.bus instanceof InProcessChatBus);
    // Guests of several nodes are named from different places, so that their first claims
    // rarely collide.
    if (this.#shared) this.#guests = Math.floor(Math.random() * 90_000);
    this.ready = this.#bus.start({
      line: (room, text, sender) => this.#deliver(room, text, sender),
      status: (up, why) => this.#busStatus(up, why),
      nickLost: (nick) => this.#nickLost(nick),
    });
  }

  /** Room lines that could not reach the other nodes, since the start. */
  get dropped(): number {
    return this.#bus.dropped;
  }

  /** The number of clients in the chat. */
  get members(): number {
    return this.#nicks.size;
  }

  /** The rooms that have someone in them, with their members' nicknames in joining order. */
  rooms(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [room, peers] of this.#rooms) out.set(room, [...peers].map((p) => (p.data as Member).nick));
    return out;
  }

  onOpen(peer: Peer): void {
    const member: Member = {
      nick: "",
      room: this.#defaultRoom,
      gone: false,
      waits: 0,
      queue: [],
      inFlight: 0,
      draining: false,
      settling: false,
      paused: false,
      changes: CHANGE_BURST,
      changesAt: 0,
    };
    peer.data = member;
    this.#peers.set(peer.id, peer);
    this.#nameGuest(peer, member, (nick) => {
      this.#say(peer, `* Welcome, ${nick}! You are in room ${member.room}. Commands: ${COMMANDS}`);
      this.#enter(peer, member.room);
      this.#log?.({
        event: "join",
        message: `${nick} connected and joined ${member.room}`,
        peer: peer.id,
        nick,
        room: member.room,
      });
    });
  }

  /** Finds a guest name no one holds, on this node and on the bus, then calls `named`. */
  #nameGuest(peer: Peer, member: Member, named: (nick: string) => void): void {
    let nick: string;
    do nick = `guest${++this.#guests}`; while (this.#nicks.has(nick));
    this.#claim(peer, member, nick, (claimed) => {
      if (!claimed) return this.#nameGuest(peer, member, named);
      member.nick = nick;
      named(nick);
    });
  }

  /**
   * Claims `nick` on this node and on the bus, then calls `done` with the answer; while the
   * bus has not answered, the client's frames wait, and the name is held here.
   */
  #claim(peer: Peer, member: Member, nick: string, done: (claimed: boolean) => void): void {
    const key = nick.toLowerCase();
    this.#nicks.set(key, peer);
    const answer = this.#bus.claimNick(nick);
    if (typeof answer === "boolean") {
      if (!answer) this.#nicks.delete(key);
      return done(answer);
    }
    this.#wait(peer, member, answer, (claimed) => {
      if (member.gone) {
        if (this.#nicks.get(key) === peer) this.#nicks.delete(key);
        if (claimed) this.#bus.releaseNick(nick);
        return;
      }
      if (!claimed) this.#nicks.delete(key);
      done(claimed);
    });
  }

  /** Holds the client's frames until `answer` settles, then runs `then` and the held frames. */
  #wait<T>(peer: Peer, member: Member, answer: Promise<T>, then: (value: T) => void): void {
    member.waits++;
    this.#updatePause(peer);
    answer.then(then, () => {}).finally(() => {
      member.waits--;
      this.#updatePause(peer);
      this.#drainQueue(peer, member);
    }).catch((error) => this.#log?.({ event: "error", message: `chat: ${(error as Error).message}`, peer: peer.id }));
  }

  onFrame(peer: Peer, frame: Uint8Array): void {
    const member = peer.data as Member;
    // Frames already read when the client was paused still arrive: they wait their turn. The
    // host may reuse the frame's memory once this returns.
    if (this.#held(member) || member.queue.length > 0) member.queue.push(frame.slice());
    else this.#onFrame(peer, frame);
  }

  /** Whether the client's frames must wait: for a bus answer, or for its lines on the bus. */
  #held(member: Member): boolean {
    if (member.settling && member.inFlight === 0) member.settling = false;
    return member.waits > 0 || member.inFlight >= MAX_IN_FLIGHT || member.settling;
  }

  #drainQueue(peer: Peer, member: Member): void {
    if (member.draining) return;
    member.draining = true;
    try {
      while (!this.#held(member) && !member.gone && member.queue.length > 0) this.#onFrame(peer, member.queue.shift()!);
    } finally {
      member.draining = false;
    }
  }

  #onFrame(peer: Peer, frame: Uint8Array): void {
    const previous = this.#sender;
    this.#sender = peer;
    try {
      this.#handle(peer, frame);
    } finally {
      this.#sender = previous;
    }
  }

  #handle(peer: Peer, frame: Uint8Array): void {
    const member = peer.data as Member;
    if (member.gone) return;
    let text = decoder.decode(frame);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() === "") return;
    if (!text.startsWith("/")) {
      const line = `${member.nick}: ${escapeControls(text)}`;
      const size = utf8Length(line);
      if (size > MAX_CHAT_MESSAGE) {
        return this.#say(
          peer,
          `! Your message was not sent: with your name and its control characters shown it takes ${size} bytes, above the limit of ${MAX_CHAT_MESSAGE}`,
        );
      }
      this.#broadcast(member.room, line, peer);
      return;
    }
    const [command, ...rest] = text.trim().split(/\s+/);
    const argument = rest.join(" ");
    const name = command.toLowerCase();
    if (name === "/join" && member.inFlight > 0) {
      // Its lines still on the bus are its old room's: it hears them there before it moves.
      member.queue.unshift(frame.slice());
      member.settling = true;
      return this.#updatePause(peer);
    }
    if ((name === "/nick" || name === "/join") && this.#shared && !this.#mayChange(member)) {
      return this.#say(
        peer,
        `! Slow down: rooms and nicknames change at most ${CHANGES_PER_SECOND} times a second here; ${command} was ignored`,
      );
    }
    switch (name) {
      case "/nick":
        return this.#rename(peer, member, argument);
      case "/join":
        return this.#join(peer, member, argument);
      case "/who":
        return this.#who(peer, member);
      case "/quit":
        this.#say(peer, `* Bye, ${member.nick}!`);
        this.#leave(peer, member, `${member.nick} left ${member.room}`);
        peer.close();
        return;
      default:
        return this.#say(
          peer,
          `! Unknown command ${
            command.length <= 40 ? escapeControls(command) : quoteInput(command)
          }. Commands: ${COMMANDS}`,
        );
    }
  }

  onFrameError(peer: Peer, error: Error): void {
    const member = peer.data as Member;
    // A line with no newline within the limit is a message over the limit, as a length is.
    const tooLong = error instanceof FrameTooLargeError ||
      (error instanceof MalformedFrameError && error.reason === "delimiter");
    const why = tooLong ? `it is over the limit of ${MAX_CHAT_MESSAGE} bytes` : "it is not a valid frame";
    this.#say(peer, `! Your message was not sent: ${why} (${error.message}); closing the connection`);
    this.#leave(
      peer,
      member,
      `${member.nick} was disconnected: they sent a message that ${why.replace("it is", "was")}`,
    );
  }

  onClose(peer: Peer, error?: Error): void {
    const member = peer.data as Member | undefined;
    this.#peers.delete(peer.id);
    if (!member || member.gone) return;
    const why = error ? ` (${(error as { code?: string }).code ?? error.message})` : "";
    this.#leave(peer, member, `${member.nick} left ${member.room}${why}`);
  }

  onIdle(peer: Peer, idleMs: number): void {
    const member = peer.data as Member | undefined;
    if (!member || member.gone) return;
    const seconds = Math.round(idleMs / 1000);
    this.#say(peer, `! You sent nothing for ${seconds} s; closing the connection`);
    this.#leave(peer, member, `${member.nick} left ${member.room} (idle)`, "idle");
  }

  /**
   * Whether a client may change room or nickname now: on a shared chat each change goes to
   * every node, so a client that keeps changing is held to a rate.
   */
  #mayChange(member: Member): boolean {
    const now = Date.now();
    member.changes = Math.min(CHANGE_BURST, member.changes + ((now - member.changesAt) / 1000) * CHANGES_PER_SECOND);
    member.changesAt = now;
    if (member.changes < 1) return false;
    member.changes--;
    return true;
  }

  /**
   * Tells this node's clients the server is stopping, and cancels the pending resets of slow
   * clients. The leaves of the clients closed after this reach the other nodes at
   * {@linkcode ChatHub.stop}.
   */
  close(): void {
    for (const [room, peers] of this.#rooms) {
      this.#flushAnnouncements(room);
      const frame = encodeLine("* The server is shutting down", MAX_CHAT_MESSAGE);
      for (const peer of peers) peer.send(frame);
    }
    this.#closed = true;
    clearTimeout(this.#announceTimer);
    this.#announceTimer = undefined;
    if (!this.#shared) this.#roomEvents.clear();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearTimeout(this.#checkTimer);
    this.#checkTimer = undefined;
    this.#suspects.clear();
    const throttled = [...this.#throttled];
    this.#throttled.clear();
    for (const sender of throttled) this.#updatePause(sender);
  }

  /** After {@linkcode ChatHub.close} and the host's close: tells the other nodes who left, and leaves the bus. */
  async stop(): Promise<void> {
    this.#closed = true;
    for (const room of [...this.#roomEvents.keys()]) this.#flushAnnouncements(room);
    clearTimeout(this.#checkTimer);
    this.#checkTimer = undefined;
    await this.#bus.close(true);
  }

  #rename(peer: Peer, member: Member, name: string): void {
    if (name === "") return this.#say(peer, "! /nick needs a name, as in /nick alice");
    if (!NAME.test(name)) {
      return this.#say(peer, `! Nickname ${quoteInput(name)} is not valid: use 1 to 20 letters, digits, _ or -`);
    }
    if (name === member.nick) return this.#say(peer, `! You are already ${name}`);
    const holder = this.#nicks.get(name.toLowerCase());
    if (holder !== undefined && holder !== peer) return this.#say(peer, `! Nickname ${name} is taken`);
    // A change of case only is the same claim.
    if (holder === peer) return this.#renamed(peer, member, name);
    this.#claim(peer, member, name, (claimed) => {
      if (!claimed) return this.#say(peer, `! Nickname ${name} is taken`);
      this.#renamed(peer, member, name);
    });
  }

  #renamed(peer: Peer, member: Member, name: string): void {
    const old = member.nick;
    if (old.toLowerCase() !== name.toLowerCase()) {
      this.#nicks.delete(old.toLowerCase());
      this.#bus.releaseNick(old);
    }
    this.#nicks.set(name.toLowerCase(), peer);
    member.nick = name;
    this.#bus.renamed(member.room, old, name);
    this.#broadcast(member.room, `* ${old} is now ${name}`);
    this.#log?.({ event: "nick", message: `${old} is now ${name}`, peer: peer.id, nick: name, was: old });
  }

  /** Another node took a nickname of this node's while the bus had lost it: its holder becomes a guest. */
  #nickLost(nick: string): void {
    const peer = this.#nicks.get(nick.toLowerCase());
    const member = peer?.data as Member | undefined;
    if (!peer || !member || member.gone || member.nick.toLowerCase() !== nick.toLowerCase()) return;
    const held = member.nick;
    this.#nicks.delete(held.toLowerCase());
    this.#nameGuest(peer, member, (guest) => {
      member.nick = held;
      this.#say(peer, `! Your nickname ${held} was taken on another server while they could not reach each other`);
      this.#renamed(peer, member, guest);
    });
  }

  /** The bus lost the other nodes or reached them again: every client here hears it once. */
  #busStatus(up: boolean, why?: string): void {
    const text = up
      ? "* The chat reaches the other servers again"
      : `! The chat cannot reach the other servers (${
        why ?? "the bus is down"
      }); rooms are limited to this server for now`;
    const frame = encodeLine(text, MAX_CHAT_MESSAGE);
    for (const peers of this.#rooms.values()) for (const peer of peers) this.#send(peer, frame);
    this.#log?.({
      event: up ? "bus-up" : "bus-down",
      message: up
        ? `the ${this.#bus.kind} bus is back; ${this.#bus.dropped} lines dropped so far`
        : `the ${this.#bus.kind} bus is down (${why}); lines are delivered on this server only`,
      dropped: this.#bus.dropped,
    });
  }

  #join(peer: Peer, member: Member, name: string): void {
    if (name === "") return this.#say(peer, "! /join needs a room, as in /join games");
    if (!NAME.test(name)) {
      return this.#say(peer, `! Room ${quoteInput(name)} is not valid: use 1 to 20 letters, digits, _ or -`);
    }
    const room = name.toLowerCase();
    if (room === member.room) return this.#say(peer, `! You are already in ${room}`);
    const old = member.room;
    this.#exit(peer, old);
    this.#bus.exited(old, member.nick);
    this.#announce(old, "left", member.nick, `* ${member.nick} left ${old}`);
    member.room = room;
    this.#enter(peer, room);
    this.#log?.({
      event: "room",
      message: `${member.nick} moved from ${old} to ${room}`,
      peer: peer.id,
      nick: member.nick,
      room,
      was: old,
    });
  }

  #enter(peer: Peer, room: string): void {
    let members = this.#rooms.get(room);
    if (!members) this.#rooms.set(room, members = new Set());
    members.add(peer);
    const nick = (peer.data as Member).nick;
    this.#bus.entered(room, nick);
    this.#announce(room, "joined", nick, `* ${nick} joined ${room}`);
  }

  #exit(peer: Peer, room: string): void {
    const members = this.#rooms.get(room);
    members?.delete(peer);
    if (members?.size === 0) this.#rooms.delete(room);
  }

  /** Takes a client out of the chat for good and tells its room why. */
  #leave(peer: Peer, member: Member, news: string, event = "leave"): void {
    if (member.gone) return;
    member.gone = true;
    member.queue.length = 0;
    this.#peers.delete(peer.id);
    // A client that closes before its guest name was given was never in the chat.
    if (member.nick === "") return;
    this.#exit(peer, member.room);
    this.#bus.exited(member.room, member.nick);
    if (this.#nicks.get(member.nick.toLowerCase()) === peer) {
      this.#nicks.delete(member.nick.toLowerCase());
      this.#bus.releaseNick(member.nick);
    }
    if (event === "leave" || event === "idle") this.#announce(member.room, "left", member.nick, `* ${news}`);
    else this.#broadcast(member.room, `* ${news}`);
    this.#log?.({ event, message: news, peer: peer.id, nick: member.nick, room: member.room });
  }

  /** Lists a room's members on every node, in as many lines as the line limit needs. */
  #who(peer: Peer, member: Member): void {
    const room = member.room;
    const local = [...this.#rooms.get(room) ?? []].map((p) => (p.data as Member).nick);
    // Members who joined here a moment ago may not be on the bus's list yet.
    const withLocal = (names: string[]) => {
      const listed = new Set(names.map((name) => name.toLowerCase()));
      return [...names, ...local.filter((name) => !listed.has(name.toLowerCase()))];
    };
    const answer = this.#bus.who(room, local);
    if (Array.isArray(answer)) return this.#listWho(peer, room, withLocal(answer));
    const reply = answer.then(
      (names) => ({ names: withLocal(names), limited: false }),
      () => ({ names: local, limited: true }),
    );
    this.#wait(peer, member, reply, ({ names, limited }) => {
      this.#listWho(peer, room, names);
      if (limited) this.#say(peer, "! Only this server's members are listed: the other servers cannot be reached");
    });
  }

  #listWho(peer: Peer, room: string, names: string[]): void {
    let line = `* In ${room}:`;
    let first = true;
    for (const name of names) {
      const next = `${line}${first ? " " : ", "}${name}`;
      if (utf8Length(next) + 1 > MAX_CHAT_MESSAGE) {
        this.#say(peer, line + ",");
        line = `*   ${name}`;
      } else {
        line = next;
      }
      first = false;
    }
    this.#say(peer, line);
  }

  /** Queues a join or leave notice; the room hears them at the end of this event-loop turn. */
  #announce(room: string, kind: RoomEvent["kind"], nick: string, text: string): void {
    // A stopping node's leaves matter to the other nodes only: they go at stop().
    if (this.#closed && !this.#shared) return;
    let events = this.#roomEvents.get(room);
    if (!events) this.#roomEvents.set(room, events = []);
    events.push({ kind, nick, text });
    if (this.#closed) return;
    // The first notice after a quiet spell goes out at the end of this turn; while notices
    // keep coming they go out at most every ANNOUNCE_INTERVAL_MS, so that connections arriving
    // one per turn still share lines.
    this.#announceTimer ??= setTimeout(() => {
      this.#announceTimer = undefined;
      this.#lastAnnounced = Date.now();
      for (const room of [...this.#roomEvents.keys()]) this.#flushAnnouncements(room);
    }, Math.max(0, this.#lastAnnounced + ANNOUNCE_INTERVAL_MS - Date.now()));
  }

  /** Sends a room's queued notices, runs of joins or of leaves as one line each. */
  #flushAnnouncements(room: string): void {
    const events = this.#roomEvents.get(room);
    if (!events) return;
    this.#roomEvents.delete(room);
    for (let i = 0; i < events.length;) {
      let end = i + 1;
      while (end < events.length && events[end].kind === events[i].kind) end++;
      const text = end === i + 1
        ? events[i].text
        : `* ${listNames(events.slice(i, end).map((e) => e.nick))} ${events[i].kind} ${room}`;
      this.#publish(room, text);
      i = end;
    }
  }

  /** A line to everyone in a room, after the notices that came before it. */
  #broadcast(room: string, text: string, sender?: Peer): void {
    this.#flushAnnouncements(room);
    this.#publish(room, text, sender);
  }

  /** Puts a room line on the bus, or delivers it here when the bus cannot take it. */
  #publish(room: string, text: string, sender?: Peer): void {
    const member = sender?.data as Member | undefined;
    if (member) member.inFlight++;
    if (this.#bus.publish(room, text, sender?.id)) {
      if (sender) this.#updatePause(sender);
      return;
    }
    this.#deliver(room, text, sender?.id);
  }

  /** A room line from the bus (or from this node, when the bus could not take it). */
  #deliver(room: string, text: string, senderId?: number): void {
    const sender = senderId === undefined ? undefined : this.#peers.get(senderId);
    const member = sender?.data as Member | undefined;
    if (member) member.inFlight = Math.max(0, member.inFlight - 1);
    // After close() this node's clients have been told it stops: nothing more goes to them.
    if (this.#closed) return;
    const previous = this.#sender;
    // While its line goes out, the sender is the one slowed down if a reader falls behind.
    this.#sender = member && !member.gone ? sender : undefined;
    try {
      this.#sendToRoom(room, text);
    } finally {
      this.#sender = previous;
    }
    if (sender && member) {
      this.#updatePause(sender);
      this.#drainQueue(sender, member);
    }
  }

  /** Reads a client only while nothing holds it: a pending bus answer, lines in flight, a room behind. */
  #updatePause(peer: Peer): void {
    const member = peer.data as Member;
    const hold = !member.gone && (this.#held(member) || (this.#throttled.has(peer) && !this.#closed));
    if (hold === member.paused) return;
    member.paused = hold;
    if (hold) peer.pause();
    else peer.resume();
  }

  #sendToRoom(room: string, text: string): void {
    const members = this.#rooms.get(room);
    if (!members) return;
    const frame = encodeLine(text, MAX_CHAT_MESSAGE);
    for (const peer of [...members]) this.#send(peer, frame);
  }

  #say(peer: Peer, text: string): void {
    this.#send(peer, encodeLine(text, MAX_CHAT_MESSAGE));
  }

  #send(peer: Peer, frame: Uint8Array): void {
    peer.send(frame);
    if (peer.unsentBytes <= this.#highWaterMark || (peer.data as Member).gone) return;
    this.#suspect(peer);
    // The client whose line this is waits until its room took it: a sender that never stops
    // is slowed down to what the room reads, instead of filling the queues of fast readers
    // faster than the server can write them.
    const sender = this.#sender;
    if (sender !== undefined && !this.#throttled.has(sender)) {
      this.#throttled.add(sender);
      this.#updatePause(sender);
    }
    this.#checkTimer ??= setTimeout(() => this.#checkQueues(), SLOW_CHECK_MS);
  }

  #suspect(peer: Peer): void {
    if (this.#suspects.has(peer)) return;
    const now = Date.now();
    this.#suspects.set(peer, { since: now, unsent: peer.unsentBytes, progressAt: now });
  }

  /**
   * Disconnects the clients above the high water mark that read nothing for
   * {@linkcode SLOW_STALL_MS}, or that stayed above it for {@linkcode SLOW_MAX_MS}; a client
   * that is reading, just not as fast as the server wrote, is given time. Then lets the senders
   * held for a room go on once no one in it is above the mark.
   */
  #checkQueues(): void {
    this.#checkTimer = undefined;
    const now = Date.now();
    for (const [suspect, seen] of [...this.#suspects]) {
      const unsent = suspect.unsentBytes;
      if ((suspect.data as Member).gone || unsent <= this.#highWaterMark) {
        this.#suspects.delete(suspect);
        continue;
      }
      if (unsent < seen.unsent) {
        seen.unsent = unsent;
        seen.progressAt = now;
      }
      if (now - seen.progressAt >= SLOW_STALL_MS || now - seen.since >= SLOW_MAX_MS) {
        this.#suspects.delete(suspect);
        this.#disconnectSlow(suspect);
      }
    }
    for (const sender of [...this.#throttled]) {
      const member = sender.data as Member;
      if (member.gone) {
        this.#throttled.delete(sender);
        continue;
      }
      let behind = false;
      for (const peer of this.#rooms.get(member.room) ?? []) {
        if ((peer.data as Member).gone || peer.unsentBytes <= this.#highWaterMark) continue;
        behind = true;
        this.#suspect(peer);
      }
      if (!behind) {
        this.#throttled.delete(sender);
        this.#updatePause(sender);
      }
    }
    if (this.#suspects.size > 0 || this.#throttled.size > 0) {
      this.#checkTimer = setTimeout(() => this.#checkQueues(), SLOW_CHECK_MS);
    }
  }

  /** Out of the chat now, a last line to itself, and a reset if it does not drain in time. */
  #disconnectSlow(peer: Peer): void {
    const member = peer.data as Member;
    const reason = `too slow to read (${formatBytes(peer.unsentBytes)} unsent, above the high water mark of ${
      formatBytes(this.#highWaterMark)
    })`;
    this.#say(peer, `! You were disconnected: ${reason}`);
    this.#leave(peer, member, `${member.nick} was disconnected: ${reason}`, "slow");
    peer.close();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      peer.reset();
    }, this.#graceMs);
    this.#timers.add(timer);
  }
}
