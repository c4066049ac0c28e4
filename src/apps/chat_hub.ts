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
 *
 * A slow client never stalls the others: when the bytes queued for a client pass the high
 * water mark and are still above it {@linkcode SLOW_CHECK_MS} later (a burst that the socket
 * takes at once does not count), it is disconnected with a notice, to itself (as its last
 * line) and to its room. It then has a short grace period to read what is queued before it
 * is reset.
 *
 * @module
 */

import type { AppLog } from "./app_log.ts";
import type { Peer, PeerApp } from "./peer_host.ts";

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
 * const codec = delimited({ maxFrameLength: MAX_CHAT_MESSAGE });
 * ```
 */
export const MAX_CHAT_MESSAGE = 4096;

/**
 * How long a client's queue may stay above the high water mark before it counts as slow.
 *
 * @example
 * ```ts
 * console.log(SLOW_CHECK_MS); // 50
 * ```
 */
export const SLOW_CHECK_MS = 50;

const NAME = /^[A-Za-z0-9_-]{1,20}$/;
const COMMANDS = "/nick NAME, /join ROOM, /who, /quit";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Member {
  nick: string;
  room: string;
  gone: boolean;
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
 * const hub = new ChatHub({ highWaterMark: 1 << 20 });
 * const host = await startPeerHost("engine", { port: 9000, codec: delimited(), app: hub });
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
  readonly #suspects = new Set<Peer>();
  #checkTimer: ReturnType<typeof setTimeout> | undefined;
  #guests = 0;

  constructor(options: ChatHubOptions = {}) {
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    if (!Number.isInteger(this.#highWaterMark) || this.#highWaterMark < 1) {
      throw new RangeError(`High water mark must be a positive number of bytes, got ${options.highWaterMark}`);
    }
    this.#graceMs = options.slowCloseGraceMs ?? 2000;
    if (!(this.#graceMs >= 0)) {
      throw new RangeError(`Slow close grace must be a non-negative number of milliseconds, got ${options.slowCloseGraceMs}`);
    }
    this.#defaultRoom = options.defaultRoom ?? "lobby";
    if (!NAME.test(this.#defaultRoom)) {
      throw new RangeError(`Default room must be 1 to 20 letters, digits, _ or -, got ${JSON.stringify(options.defaultRoom)}`);
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
    this.#log?.({ event: "join", message: `${nick} connected and joined ${member.room}`, peer: peer.id, nick, room: member.room });
  }

  onFrame(peer: Peer, frame: Uint8Array): void {
    const member = peer.data as Member;
    if (member.gone) return;
    let text = decoder.decode(frame);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() === "") return;
    if (!text.startsWith("/")) {
      this.#broadcast(member.room, `${member.nick}: ${text}`);
      return;
    }
    const [command, ...rest] = text.trim().split(/\s+/);
    const argument = rest.join(" ");
    switch (command.toLowerCase()) {
      case "/nick":
        return this.#rename(peer, member, argument);
      case "/join":
        return this.#join(peer, member, argument);
      case "/who": {
        const names = [...this.#rooms.get(member.room) ?? []].map((p) => (p.data as Member).nick);
        return this.#say(peer, `* In ${member.room}: ${names.join(", ")}`);
      }
      case "/quit":
        this.#say(peer, `* Bye, ${member.nick}!`);
        this.#leave(peer, member, `${member.nick} left ${member.room}`);
        peer.close();
        return;
      default:
        return this.#say(peer, `! Unknown command ${command}. Commands: ${COMMANDS}`);
    }
  }

  onFrameError(peer: Peer, error: Error): void {
    const member = peer.data as Member;
    this.#say(peer, `! ${error.message}; closing the connection`);
    this.#leave(peer, member, `${member.nick} was disconnected: ${error.message}`);
  }

  onClose(peer: Peer, error?: Error): void {
    const member = peer.data as Member | undefined;
    if (!member || member.gone) return;
    const why = error ? ` (${(error as { code?: string }).code ?? error.message})` : "";
    this.#leave(peer, member, `${member.nick} left ${member.room}${why}`);
  }

  /** Tells everyone the server is stopping, and cancels the pending resets of slow clients. */
  close(): void {
    for (const room of this.#rooms.keys()) this.#broadcast(room, "* The server is shutting down");
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearTimeout(this.#checkTimer);
    this.#checkTimer = undefined;
    this.#suspects.clear();
  }

  #rename(peer: Peer, member: Member, name: string): void {
    if (name === "") return this.#say(peer, "! /nick needs a name, as in /nick alice");
    if (!NAME.test(name)) {
      return this.#say(peer, `! Nickname ${JSON.stringify(name)} is not valid: use 1 to 20 letters, digits, _ or -`);
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
      return this.#say(peer, `! Room ${JSON.stringify(name)} is not valid: use 1 to 20 letters, digits, _ or -`);
    }
    const room = name.toLowerCase();
    if (room === member.room) return this.#say(peer, `! You are already in ${room}`);
    const old = member.room;
    this.#exit(peer, old);
    this.#broadcast(old, `* ${member.nick} left ${old}`);
    member.room = room;
    this.#enter(peer, room);
    this.#log?.({ event: "room", message: `${member.nick} moved from ${old} to ${room}`, peer: peer.id, nick: member.nick, room, was: old });
  }

  #enter(peer: Peer, room: string): void {
    let members = this.#rooms.get(room);
    if (!members) this.#rooms.set(room, members = new Set());
    members.add(peer);
    this.#broadcast(room, `* ${(peer.data as Member).nick} joined ${room}`);
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
    this.#broadcast(member.room, `* ${news}`);
    this.#log?.({ event, message: news, peer: peer.id, nick: member.nick, room: member.room });
  }

  #broadcast(room: string, text: string): void {
    const members = this.#rooms.get(room);
    if (!members) return;
    const frame = encoder.encode(text);
    for (const peer of [...members]) this.#send(peer, frame);
  }

  #say(peer: Peer, text: string): void {
    this.#send(peer, encoder.encode(text));
  }

  #send(peer: Peer, frame: Uint8Array): void {
    peer.send(frame);
    if (peer.unsentBytes <= this.#highWaterMark || (peer.data as Member).gone) return;
    this.#suspects.add(peer);
    this.#checkTimer ??= setTimeout(() => {
      this.#checkTimer = undefined;
      const suspects = [...this.#suspects];
      this.#suspects.clear();
      for (const suspect of suspects) {
        if (!(suspect.data as Member).gone && suspect.unsentBytes > this.#highWaterMark) this.#disconnectSlow(suspect);
      }
    }, SLOW_CHECK_MS);
  }

  /** Out of the chat now, a last line to itself, and a reset if it does not drain in time. */
  #disconnectSlow(peer: Peer): void {
    const member = peer.data as Member;
    const reason = `too slow to read (${formatBytes(peer.unsentBytes)} unsent, above the high water mark of ${
      formatBytes(this.#highWaterMark)
    })`;
    peer.send(encoder.encode(`! You were disconnected: ${reason}`));
    this.#leave(peer, member, `${member.nick} was disconnected: ${reason}`, "slow");
    peer.close();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      peer.reset();
    }, this.#graceMs);
    this.#timers.add(timer);
  }
}
