/**
 * What carries the chat's room lines between the nodes that serve one chat, and what they know
 * of one another's members: the contract of {@linkcode ChatHub}'s bus, and the in-process bus
 * that is the default (one node, today's behaviour).
 *
 * Every line a room hears — messages, joins, leaves, renames, server notices — is published
 * to the bus by the node where it happened and reaches every node, that one included, through
 * {@linkcode ChatBusEvents.line}. Each node sends a room's lines to its own members in the
 * order the bus delivers them, so every client of a room sees one order on every node.
 *
 * The other buses: {@linkcode GroupChatBus} (the workers of `serve chat --processes N`) and
 * {@linkcode RedisChatBus} (many machines).
 *
 * @module
 */

/** Names listed in one join or leave notice; the rest are counted. */
const NAMES_PER_NOTICE = 10;

/**
 * Names as a notice lists them: `ada`, `ada and bob`, `ada, bob and cy`, and past ten,
 * `ada, bob, … and 5 others`.
 *
 * @example
 * ```ts
 * console.log(listNames(["ada", "bob", "cy"])); // ada, bob and cy
 * ```
 */
export function listNames(names: string[]): string {
  if (names.length === 1) return names[0];
  const shown = names.slice(0, Math.min(names.length, NAMES_PER_NOTICE));
  const rest = names.length - shown.length;
  if (rest > 0) return `${shown.join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
  return `${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}`;
}

/**
 * What a bus tells its hub.
 *
 * @example
 * ```ts
 * const events: ChatBusEvents = {
 *   line: (room, text) => console.log(room, text),
 *   status: (up, why) => console.log(up ? "bus up" : `bus down: ${why}`),
 *   nickLost: (nick) => console.log(`${nick} was taken elsewhere`),
 * };
 * ```
 */
export interface ChatBusEvents {
  /**
   * A line for `room`, in the bus's order. `sender` is the peer id given to
   * {@linkcode ChatBus.publish} when the line was published on this node.
   */
  line(room: string, text: string, sender?: number): void;
  /** The bus lost the other nodes (`up` false) or reached them again, and why. */
  status(up: boolean, why?: string): void;
  /** A nickname of this node's was found held by another node (after the bus lost it). */
  nickLost(nick: string): void;
}

/**
 * The contract between {@linkcode ChatHub} and what connects its node to the others.
 *
 * Methods that need the other nodes may answer later, as a promise; the in-process bus answers
 * at once. Presence calls (`entered`, `exited`, `renamed`, `releaseNick`) never fail: a bus
 * that cannot reach the others keeps them and writes them when it can.
 *
 * @example
 * ```ts
 * const bus: ChatBus = new InProcessChatBus();
 * ```
 */
export interface ChatBus {
  /** A short name for logs: `in-process`, `group`, `redis`. */
  readonly kind: string;
  /** Lines that could not reach the other nodes, since the start. */
  readonly dropped: number;
  /** Starts delivering to `events`; resolves once the node may take clients. */
  start(events: ChatBusEvents): Promise<void>;
  /**
   * Publishes a line of `room` to every node. True when it will come back through
   * {@linkcode ChatBusEvents.line}; false when it could not be sent (the hub then delivers it
   * to its own members, and the line counts in {@linkcode ChatBus.dropped}).
   */
  publish(room: string, text: string, sender?: number): boolean;
  /** Claims a nickname for a member of this node: true when it is this node's now. */
  claimNick(nick: string): boolean | Promise<boolean>;
  /** Frees a nickname this node held. */
  releaseNick(nick: string): void;
  /** A member of this node entered `room`. */
  entered(room: string, nick: string): void;
  /** A member of this node left `room`. */
  exited(room: string, nick: string): void;
  /** A member of this node in `room` is now called `to`. */
  renamed(room: string, from: string, to: string): void;
  /**
   * Everyone in `room` on every node, in joining order; `local` is this node's members, for a
   * bus that keeps no list (or cannot reach its list now).
   */
  who(room: string, local: string[]): string[] | Promise<string[]>;
  /** Leaves the other nodes; with `forget`, this node's members are removed at once. */
  close(forget?: boolean): Promise<void>;
}

/**
 * The bus of a chat in one process: a published line comes back at once, and every nickname
 * the hub finds free is free.
 *
 * @example
 * ```ts
 * import { ChatHub } from "./chat_hub.ts";
 * const hub = new ChatHub({ bus: new InProcessChatBus() });
 * ```
 */
export class InProcessChatBus implements ChatBus {
  readonly kind = "in-process";
  readonly dropped = 0;
  #events: ChatBusEvents | undefined;

  start(events: ChatBusEvents): Promise<void> {
    this.#events = events;
    return Promise.resolve();
  }

  publish(room: string, text: string, sender?: number): boolean {
    if (!this.#events) return false;
    this.#events.line(room, text, sender);
    return true;
  }

  claimNick(): boolean {
    return true;
  }

  releaseNick(): void {}
  entered(): void {}
  exited(): void {}
  renamed(): void {}

  who(_room: string, local: string[]): string[] {
    return local;
  }

  close(): Promise<void> {
    this.#events = undefined;
    return Promise.resolve();
  }
}
