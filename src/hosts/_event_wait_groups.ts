/**
 * The waiting loops of a WSAEventSelect server (seeds 001 and 003). One wait takes at most
 * 64 events (WSA_MAXIMUM_WAIT_EVENTS), so, as Winsock servers run one thread per 64 events,
 * the sockets are split into groups of 64, each with its own waiting loop. The first group's
 * event 0 is the listening socket's; the other groups' event 0 wakes their loop when a
 * socket joins, so that it waits on its new arrays.
 *
 * @module
 */

import {
  closeEvent,
  createEvent,
  resetEvent,
  setEvent,
  WAIT_OBJECT_0,
  waitForMultipleEvents,
  WSA_MAXIMUM_WAIT_EVENTS,
  type WsaEvent,
} from "../models/event_select.ts";

/**
 * What a group holds for one socket: at least its event object.
 *
 * @example
 * ```ts
 * import { createEvent } from "sockmodels/event-select";
 * import type { WaitGroupMember } from "./_event_wait_groups.ts";
 * const info: WaitGroupMember = { event: createEvent() };
 * ```
 */
export interface WaitGroupMember {
  /** The socket's event object, selected with `eventSelect`. */
  readonly event: WsaEvent;
}

/**
 * What the waiting loops call.
 *
 * @example
 * ```ts
 * import type { WaitGroupHandlers, WaitGroupMember } from "./_event_wait_groups.ts";
 * interface Info extends WaitGroupMember {
 *   removed: boolean;
 * }
 * declare const acceptOne: () => void;
 * declare const handleSocket: (info: Info) => void;
 * const handlers: WaitGroupHandlers<Info> = {
 *   onListenerEvent: () => acceptOne(),
 *   onMemberEvent: (info) => handleSocket(info),
 *   isRemoved: (info) => info.removed,
 * };
 * ```
 */
export interface WaitGroupHandlers<T extends WaitGroupMember> {
  /** The listening socket's event is signalled. */
  onListenerEvent(): void;
  /** A socket's event is signalled. */
  onMemberEvent(member: T): void;
  /** True for a member taken out meanwhile (its event is then skipped). */
  isRemoved(member: T): boolean;
}

/** The arrays one waiting loop works on (the seed's arrSocketInfo and arrEvent). */
class WaitGroup<T> {
  readonly arrEvent: WsaEvent[];
  readonly arrSocketInfo: (T | undefined)[] = [undefined];
  constructor(ownEvent: WsaEvent) {
    this.arrEvent = [ownEvent];
  }
}

/**
 * The groups of a WSAEventSelect server and their waiting loops.
 *
 * @example
 * ```ts
 * import {
 *   createEvent, eventSelect, FD_CLOSE, FD_READ, type WsaEvent,
 * } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import {
 *   EventWaitGroups, type WaitGroupHandlers, type WaitGroupMember,
 * } from "./_event_wait_groups.ts";
 * interface Info extends WaitGroupMember {
 *   sock: NonBlockingSocket;
 * }
 * declare const listenEvent: WsaEvent;
 * declare const handlers: WaitGroupHandlers<Info>;
 * declare const sock: NonBlockingSocket;
 * const groups = new EventWaitGroups(listenEvent, handlers);
 * const info: Info = { event: createEvent(), sock };
 * eventSelect(sock, info.event, FD_READ | FD_CLOSE);
 * groups.add(info);
 * await groups.stop();
 * ```
 */
export class EventWaitGroups<T extends WaitGroupMember> {
  readonly #groups: WaitGroup<T>[] = [];
  readonly #groupOf = new Map<T, WaitGroup<T>>();
  readonly #loops: Promise<void>[] = [];
  #stopped = false;
  readonly #handlers: WaitGroupHandlers<T>;

  /** Starts the first group's loop, whose event 0 is `listenEvent`. */
  constructor(listenEvent: WsaEvent, handlers: WaitGroupHandlers<T>) {
    this.#handlers = handlers;
    this.#groups.push(new WaitGroup<T>(listenEvent));
    this.#loops.push(this.#waitLoop(this.#groups[0]));
  }

  /** True once `stop` was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Puts a member in the first group with room, starting a new group (and loop) if none has. */
  add(member: T): void {
    let group = this.#groups.find((g) => g.arrEvent.length < WSA_MAXIMUM_WAIT_EVENTS);
    if (!group) {
      group = new WaitGroup<T>(createEvent());
      this.#groups.push(group);
      this.#loops.push(this.#waitLoop(group));
    }
    this.#groupOf.set(member, group);
    group.arrSocketInfo.push(member);
    group.arrEvent.push(member.event);
    // That group's loop waits on its old arrays: wake it so that it waits on the new ones.
    if (group !== this.#groups[0]) setEvent(group.arrEvent[0]);
  }

  /**
   * Closes a member's event and takes it out of its group. It may run from another group's
   * loop: that loop's wait then fails on the closed event and waits again on its new arrays.
   */
  remove(member: T): void {
    const group = this.#groupOf.get(member);
    if (!group) return;
    this.#groupOf.delete(member);
    // Close the event while the arrays still hold it, so the failing wait can name it.
    closeEvent(member.event);
    const index = group.arrSocketInfo.indexOf(member);
    group.arrSocketInfo.splice(index, 1);
    group.arrEvent.splice(index, 1);
  }

  /**
   * Ends every waiting loop, then closes the groups' own events (not the listener's). Like a
   * Winsock server telling its threads to end, it sets each loop's event 0 (the listener's,
   * for the first group): the loop wakes, sees `stopped` and returns. The waits take no abort
   * signal: one signal shared by every loop would hold an abort listener per group (157 at
   * 10,000 sockets, past Node's limit of 10), and adding and removing a listener on every wait
   * is a good part of a wait's cost on Node.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const group of this.#groups) setEvent(group.arrEvent[0]);
    await Promise.all(this.#loops);
    for (const group of this.#groups.slice(1)) closeEvent(group.arrEvent[0]);
  }

  async #waitLoop(group: WaitGroup<T>): Promise<void> {
    while (!this.#stopped) {
      let index: number;
      try {
        index = await waitForMultipleEvents(group.arrEvent);
      } catch {
        continue; // a member's event was closed: wait again on the arrays without it
      }
      if (this.#stopped) return;
      index -= WAIT_OBJECT_0;
      // The wait names the lowest signalled event. Serve every signalled one from there on,
      // so that busy sockets at low indexes do not starve the others.
      const ready: (T | undefined)[] = [];
      for (let i = index; i < group.arrEvent.length; i++) {
        if (group.arrEvent[i].signaled) ready.push(group.arrSocketInfo[i]);
      }
      for (const member of ready) {
        if (member !== undefined) {
          if (!this.#handlers.isRemoved(member)) this.#handlers.onMemberEvent(member);
        } else if (group === this.#groups[0]) {
          this.#handlers.onListenerEvent();
        } else {
          resetEvent(group.arrEvent[0]);
        }
      }
    }
  }
}
