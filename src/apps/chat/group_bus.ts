/**
 * The chat's bus between the workers of one process group (`serve chat --processes N`), over
 * the group's channel: no other server needed.
 *
 * The supervisor numbers every record of the channel, so every worker reads one sequence:
 * room lines, and the presence records (claims, releases, joins, leaves, renames) from which
 * each worker keeps the same copy of who is where. A nickname claim is decided where it falls
 * in that sequence: the first claim of a free name wins on every worker alike. When the
 * supervisor announces that a worker started, every other worker sends it its own members as
 * of that point in the sequence; the newcomer keeps the records that follow aside until all
 * have answered, then applies the answers and those records in order, and takes clients. When
 * a worker ends, the supervisor says so in the
 * sequence, and every worker drops its members there, with a leave notice to its own clients:
 * the same notice at the same place on every worker.
 *
 * @module
 */

import { type ChatBus, type ChatBusEvents, listNames } from "./chat_bus.ts";

/**
 * How long a starting worker waits for the others' members before it takes clients anyway
 * (a worker that does not answer in this time is stuck, and the group restarts it).
 */
const SYNC_TIMEOUT_MS = 10_000;

/**
 * A worker's end of its group's channel, as {@linkcode GroupChatBus} needs it: in a worker,
 * `join` is `joinGroupChannel` of `sockmodels/process-group`, and `self` the worker's pid.
 *
 * @example
 * ```ts
 * import { joinGroupChannel } from "../../process_group/process_group.ts";
 * import { processId } from "../../platform/process.ts";
 * const port: GroupPort = { self: processId(), join: joinGroupChannel };
 * ```
 */
export interface GroupPort {
  /** This worker's pid, as the channel names publishers. */
  self: number;
  /** Joins the channel: records with their sequence number and publisher's pid, and starts and ends of workers. */
  join(
    onRecord: (data: unknown, from: number, seq: number, pid: number) => void,
    onMembership: (change: { joined?: number; left?: number; members: number[] }, seq: number) => void,
  ): { publish(data: unknown): void; close(): void };
}

/** A worker's members, by room, with the sequence number of each one's join. */
type Rooms = Map<string, Map<string, number>>;

/** The records on the channel, kept short: each has one field, named by a letter. */
interface BusRecord {
  /** A room line: room, text, and the publishing worker's peer id of its sender. */
  l?: [string, string, number?];
  /** A nickname claim, with the claimer's ticket. */
  c?: [string, number];
  /** A nickname freed. */
  x?: string;
  /** A member entered a room. */
  e?: [string, string];
  /** A member left a room. */
  q?: [string, string];
  /** A member of a room was renamed. */
  r?: [string, string, string];
  /** Not on the channel: a worker's end, held aside with the records around it. */
  gone?: number;
  /** A worker's members for the worker `to` that started: nicknames, and room, nick, join order. */
  s?: { to: number; nicks: string[]; rooms: [string, string, number][] };
}

/**
 * The bus of the workers of one process group; see the module's description. Only in a
 * worker of a group started with a channel.
 *
 * @example
 * ```ts
 * import { joinGroupChannel } from "../../process_group/process_group.ts";
 * import { processId } from "../../platform/process.ts";
 * import { ChatHub } from "./chat_hub.ts";
 * const hub = new ChatHub({ bus: new GroupChatBus({ self: processId(), join: joinGroupChannel }) });
 * await hub.ready;
 * ```
 */
export class GroupChatBus implements ChatBus {
  readonly kind = "group";
  readonly dropped = 0;
  readonly #port: GroupPort;
  readonly #self: number;
  #channel: { publish(data: unknown): void; close(): void } | undefined;
  #events: ChatBusEvents | undefined;
  /** Who holds each nickname, lowercased: a worker's pid. */
  readonly #nicks = new Map<string, number>();
  readonly #members = new Map<number, Rooms>();
  readonly #claims = new Map<number, (claimed: boolean) => void>();
  #ticket = 0;
  /** The workers whose members this worker waits for, once it knows them. */
  #awaited: Set<number> | undefined;
  #synced: (() => void) | undefined;
  /** Until synced: the records that came after this worker's start, applied once it is. */
  #held: [BusRecord, number, number][] | undefined = [];

  constructor(port: GroupPort) {
    this.#port = port;
    this.#self = port.self;
  }

  start(events: ChatBusEvents): Promise<void> {
    this.#events = events;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#synced?.(), SYNC_TIMEOUT_MS);
      this.#synced = () => {
        clearTimeout(timer);
        this.#synced = undefined;
        const held = this.#held ?? [];
        this.#held = undefined;
        for (const [record, seq, pid] of held) this.#apply(record, seq, pid);
        resolve();
      };
      this.#channel = this.#port.join(
        (data, _from, seq, pid) => {
          const record = data as BusRecord;
          if (record.s) {
            if (record.s.to === this.#self) this.#roster(record.s, pid);
          } else if (this.#held) this.#held.push([record, seq, pid]);
          else this.#apply(record, seq, pid);
        },
        (change) => this.#membership(change),
      );
    });
  }

  publish(room: string, text: string, sender?: number): boolean {
    if (!this.#channel) return false;
    this.#send({ l: sender === undefined ? [room, text] : [room, text, sender] });
    return true;
  }

  claimNick(nick: string): Promise<boolean> {
    const ticket = ++this.#ticket;
    const answer = new Promise<boolean>((resolve) => this.#claims.set(ticket, resolve));
    this.#send({ c: [nick, ticket] });
    return answer;
  }

  releaseNick(nick: string): void {
    this.#send({ x: nick });
  }

  entered(room: string, nick: string): void {
    this.#send({ e: [room, nick] });
  }

  exited(room: string, nick: string): void {
    this.#send({ q: [room, nick] });
  }

  renamed(room: string, from: string, to: string): void {
    this.#send({ r: [room, from, to] });
  }

  who(room: string): string[] {
    const entries: [string, number][] = [];
    for (const rooms of this.#members.values()) for (const entry of rooms.get(room) ?? []) entries.push(entry);
    return entries.sort((a, b) => a[1] - b[1]).map(([nick]) => nick);
  }

  close(): Promise<void> {
    this.#channel?.close();
    this.#channel = undefined;
    for (const resolve of this.#claims.values()) resolve(false);
    this.#claims.clear();
    return Promise.resolve();
  }

  #send(record: BusRecord): void {
    this.#channel?.publish(record);
  }

  #roomsOf(pid: number): Rooms {
    let rooms = this.#members.get(pid);
    if (!rooms) this.#members.set(pid, rooms = new Map());
    return rooms;
  }

  #apply(record: BusRecord, seq: number, pid: number): void {
    if (record.gone !== undefined) {
      this.#gone(record.gone);
    } else if (record.l) {
      const [room, text, sender] = record.l;
      this.#events?.line(room, text, pid === this.#self ? sender : undefined);
    } else if (record.c) {
      const [nick, ticket] = record.c;
      const holder = this.#nicks.get(nick.toLowerCase());
      const claimed = holder === undefined || holder === pid;
      if (claimed) this.#nicks.set(nick.toLowerCase(), pid);
      if (pid === this.#self) {
        this.#claims.get(ticket)?.(claimed);
        this.#claims.delete(ticket);
      }
    } else if (record.x !== undefined) {
      if (this.#nicks.get(record.x.toLowerCase()) === pid) this.#nicks.delete(record.x.toLowerCase());
    } else if (record.e) {
      const [room, nick] = record.e;
      const rooms = this.#roomsOf(pid);
      let members = rooms.get(room);
      if (!members) rooms.set(room, members = new Map());
      members.set(nick, seq);
    } else if (record.q) {
      const [room, nick] = record.q;
      const members = this.#members.get(pid)?.get(room);
      members?.delete(nick);
      if (members?.size === 0) this.#members.get(pid)?.delete(room);
    } else if (record.r) {
      const [room, from, to] = record.r;
      const members = this.#members.get(pid)?.get(room);
      const order = members?.get(from);
      if (members && order !== undefined) {
        members.delete(from);
        members.set(to, order);
      }
    }
  }

  /** Another worker's members as of this worker's start, before the records that followed it. */
  #roster(roster: NonNullable<BusRecord["s"]>, pid: number): void {
    // An answer after the wait timed out comes after records it precedes: it only adds.
    for (const nick of roster.nicks) if (!this.#nicks.has(nick.toLowerCase())) this.#nicks.set(nick.toLowerCase(), pid);
    const rooms = this.#roomsOf(pid);
    for (const [room, nick, order] of roster.rooms) {
      let members = rooms.get(room);
      if (!members) rooms.set(room, members = new Map());
      if (!members.has(nick)) members.set(nick, order);
    }
    this.#answered(pid);
  }

  #membership(change: { joined?: number; left?: number; members: number[] }): void {
    if (change.joined === this.#self) {
      this.#awaited = new Set(change.members.filter((pid) => pid !== this.#self));
      this.#answered();
    } else if (change.joined !== undefined && this.#awaited !== undefined) {
      // A worker started: hand it this worker's members.
      const nicks = [...this.#nicks].filter(([, holder]) => holder === this.#self).map(([nick]) => nick);
      const rooms: [string, string, number][] = [];
      for (const [room, members] of this.#members.get(this.#self) ?? []) {
        for (const [nick, order] of members) rooms.push([room, nick, order]);
      }
      this.#send({ s: { to: change.joined, nicks, rooms } });
    }
    if (change.left !== undefined) {
      // Before this worker is synced, what it holds aside is applied later, the end with it.
      if (this.#held) this.#held.push([{ gone: change.left } as BusRecord, 0, 0]);
      else this.#gone(change.left);
      this.#answered(change.left);
    }
  }

  /** A worker ended: its members leave every room, with the same notice on every worker. */
  #gone(pid: number): void {
    for (const [nick, holder] of [...this.#nicks]) if (holder === pid) this.#nicks.delete(nick);
    const rooms = this.#members.get(pid);
    this.#members.delete(pid);
    for (const [room, members] of rooms ?? []) {
      const names = [...members.keys()];
      if (names.length === 0) continue;
      this.#events?.line(room, `* ${listNames(names)} left ${room} (their server process ended)`);
    }
  }

  #answered(pid?: number): void {
    if (pid !== undefined) this.#awaited?.delete(pid);
    if (this.#awaited?.size === 0) this.#synced?.();
  }
}
