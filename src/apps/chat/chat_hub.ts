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

const NAME = /^[A-Za-z0-9_-]{1,20}$/;
const COMMANDS = "/nick NAME, /join ROOM, /who, /quit";
/** While joins and leaves keep coming, their notices go out at most this often. */
const ANNOUNCE_INTERVAL_MS = 100;
/** Names listed in one join or leave notice; the rest are counted. */
const NAMES_PER_NOTICE = 10;
const decoder = new TextDecoder();

interface Member {
  nick: string;
  room: string;
  gone: boolean;
}

/** A join or a leave waiting to be announced; `text` is the whole notice when it stands alone. */
interface RoomEvent {
  kind: "joined" | "left";
  nick: string;
  text: string;
}

function listNames(names: string[]): string {
  if (names.length === 1) return names[0];
  const shown = names.slice(0, Math.min(names.length, NAMES_PER_NOTICE));
  const rest = names.length - shown.length;
  if (rest > 0) return `${shown.join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
  return `${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}`;
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
    let nick: string;
    do nick = `guest${++this.#guests}`; while (this.#nicks.has(nick));
    const member: Member = { nick, room: this.#defaultRoom, gone: false };
    peer.data = member;
    this.#nicks.set(nick.toLowerCase(), peer);
    this.#say(peer, `* Welcome, ${nick}! You are in room ${member.room}. Commands: ${COMMANDS}`);
    this.#enter(peer, member.room);
    this.#log?.({
      event: "join",
      message: `${nick} connected and joined ${member.room}`,
      peer: peer.id,
      nick,
      room: member.room,
    });
  }

  onFrame(peer: Peer, frame: Uint8Array): void {
    this.#sender = peer;
    try {
      this.#handle(peer, frame);
    } finally {
      this.#sender = undefined;
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
      this.#broadcast(member.room, line);
      return;
    }
    const [command, ...rest] = text.trim().split(/\s+/);
    const argument = rest.join(" ");
    switch (command.toLowerCase()) {
      case "/nick":
        return this.#rename(peer, member, argument);
      case "/join":
        return this.#join(peer, member, argument);
      case "/who":
        return this.#who(peer, member.room);
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

  /** Tells everyone the server is stopping, and cancels the pending resets of slow clients. */
  close(): void {
    for (const room of this.#rooms.keys()) this.#broadcast(room, "* The server is shutting down");
    this.#closed = true;
    clearTimeout(this.#announceTimer);
    this.#announceTimer = undefined;
    this.#roomEvents.clear();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearTimeout(this.#checkTimer);
    this.#checkTimer = undefined;
    this.#suspects.clear();
    for (const sender of this.#throttled) sender.resume();
    this.#throttled.clear();
  }

  #rename(peer: Peer, member: Member, name: string): void {
    if (name === "") return this.#say(peer, "! /nick needs a name, as in /nick alice");
    if (!NAME.test(name)) {
      return this.#say(peer, `! Nickname ${quoteInput(name)} is not valid: use 1 to 20 letters, digits, _ or -`);
    }
    if (name === member.nick) return this.#say(peer, `! You are already ${name}`);
    const holder = this.#nicks.get(name.toLowerCase());
    if (holder !== undefined && holder !== peer) return this.#say(peer, `! Nickname ${name} is taken`);
    const old = member.nick;
    this.#nicks.delete(old.toLowerCase());
    this.#nicks.set(name.toLowerCase(), peer);
    member.nick = name;
    this.#broadcast(member.room, `* ${old} is now ${name}`);
    this.#log?.({ event: "nick", message: `${old} is now ${name}`, peer: peer.id, nick: name, was: old });
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
    this.#exit(peer, member.room);
    if (this.#nicks.get(member.nick.toLowerCase()) === peer) this.#nicks.delete(member.nick.toLowerCase());
    if (event === "leave" || event === "idle") this.#announce(member.room, "left", member.nick, `* ${news}`);
    else this.#broadcast(member.room, `* ${news}`);
    this.#log?.({ event, message: news, peer: peer.id, nick: member.nick, room: member.room });
  }

  /** Lists a room's members, in as many lines as the line limit needs. */
  #who(peer: Peer, room: string): void {
    const names = [...this.#rooms.get(room) ?? []].map((p) => (p.data as Member).nick);
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
    if (this.#closed) return;
    let events = this.#roomEvents.get(room);
    if (!events) this.#roomEvents.set(room, events = []);
    events.push({ kind, nick, text });
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
      this.#sendToRoom(room, text);
      i = end;
    }
  }

  /** A line to everyone in a room, after the notices that came before it. */
  #broadcast(room: string, text: string): void {
    this.#flushAnnouncements(room);
    this.#sendToRoom(room, text);
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
      sender.pause();
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
        sender.resume();
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
