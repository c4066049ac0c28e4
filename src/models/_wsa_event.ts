/**
 * Event objects (WSAEVENT) and the wait on up to 64 of them (WSAWaitForMultipleEvents), the
 * half of WSAEventSelect that does not touch sockets. `event_select.ts` re-exports them.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";

/**
 * Added to the index of the signalled event in {@linkcode waitForMultipleEvents}' result.
 *
 * @example
 * ```ts
 * import { WAIT_OBJECT_0, waitForMultipleEvents, type WsaEvent } from "sockmodels/event-select";
 * declare const events: WsaEvent[];
 * const index = (await waitForMultipleEvents(events)) - WAIT_OBJECT_0;
 * ```
 */
export const WAIT_OBJECT_0 = 0;
/**
 * What {@linkcode waitForMultipleEvents} returns when the timeout passed first.
 *
 * @example
 * ```ts
 * import { WAIT_TIMEOUT, waitForMultipleEvents, type WsaEvent } from "sockmodels/event-select";
 * declare const events: WsaEvent[];
 * const result = await waitForMultipleEvents(events, { timeoutMs: 100 });
 * if (result === WAIT_TIMEOUT) console.log("idle");
 * ```
 */
export const WAIT_TIMEOUT = 258;
/**
 * The most events one {@linkcode waitForMultipleEvents} call takes.
 *
 * @example
 * ```ts
 * import { WSA_MAXIMUM_WAIT_EVENTS, type WsaEvent } from "sockmodels/event-select";
 * declare const events: WsaEvent[];
 * const groups = Math.ceil(events.length / WSA_MAXIMUM_WAIT_EVENTS);
 * ```
 */
export const WSA_MAXIMUM_WAIT_EVENTS = 64;

interface EventState {
  readonly id: number;
  signaled: boolean;
  closed: boolean;
  /**
   * The subscriptions of the arrays waited on that hold this event, once per entry that names
   * it. They stay between waits (see {@linkcode Subscription}); setting the event tells each
   * of them, in place, and closing it drops them all.
   */
  subscribers: Subscription[];
}

let lastEventId = 0;
let stateOfEvent: (event: WsaEvent) => EventState;

/**
 * A manual-reset event object, like a `WSAEVENT`: it stays signalled until it is reset. Make
 * one with {@linkcode createEvent}.
 *
 * @example
 * ```ts
 * const event: WsaEvent = createEvent();
 * setEvent(event);
 * console.log(event.signaled); // true
 * ```
 */
export class WsaEvent {
  /** A process-unique id, used in error messages. */
  readonly id: number = ++lastEventId;
  readonly #state: EventState = { id: this.id, signaled: false, closed: false, subscribers: [] };

  static {
    stateOfEvent = (event) => event.#state;
  }

  /** True while the event is set. */
  get signaled(): boolean {
    return this.#state.signaled;
  }

  /** True once {@linkcode closeEvent} was called. */
  get closed(): boolean {
    return this.#state.closed;
  }
}

/** The state of an event from `createEvent`; a TypeError naming `what` for anything else. */
export function stateOf(event: unknown, what: string): EventState {
  if (!(event instanceof WsaEvent)) {
    throw new TypeError(`${what} must be an event from createEvent(), got ${describeValue(event)}`);
  }
  return stateOfEvent(event);
}

/** A short description of a bad argument, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return JSON.stringify(value) ?? typeof value;
}

/** What `Subscription.readyIfSame` returns for other events than its own. */
const NOT_THE_SAME = -2;

/** The lowest index of a signalled event (all of them with `waitAll`), or -1. */
function readyIndex(states: readonly EventState[], count: number, waitAll: boolean): number {
  if (waitAll) {
    for (let i = 0; i < count; i++) if (!states[i].signaled) return -1;
    return WAIT_OBJECT_0;
  }
  for (let i = 0; i < count; i++) if (states[i].signaled) return WAIT_OBJECT_0 + i;
  return -1;
}

/** Adds `sub` to the event's subscribers, first dropping the idle subscriptions of other arrays. */
function subscribe(state: EventState, sub: Subscription): void {
  const subs = state.subscribers;
  // An idle subscription of another array is only a cache: dropping it bounds how many an
  // event holds, whatever arrays it is waited in (a waiting one stays until its wait ends).
  for (let i = subs.length - 1; i >= 0; i--) {
    const other = subs[i];
    if (other === sub || other.waiting) continue;
    other.dispose(); // takes its entries out of `subs`: look again from the end
    i = subs.length;
  }
  subs.push(sub);
}

/** Takes one entry of `sub` out of the event's subscribers, if it is there. */
function unsubscribe(state: EventState, sub: Subscription): void {
  const subs = state.subscribers;
  const index = subs.lastIndexOf(sub);
  if (index >= 0) subs.splice(index, 1);
}

/**
 * The subscriptions of the events of one array, kept from wait to wait: a loop that waits on
 * the same array again and again (the usual shape, and the hosts' waiting groups) subscribes
 * each event once instead of once per wait, and a signal costs one call per subscription, with
 * no copy of the event's list. `sync` brings the subscriptions up to date with the events of
 * the next wait (an O(n) comparison that touches only the entries that changed).
 *
 * While no wait is pending a signal is ignored: the next wait sees the event's state anyway.
 * A subscription is released when it is disposed: when another array's subscription comes to
 * one of its events while it is idle, and, one event at a time, when an event is closed or
 * is not in the array at the next wait.
 */
class Subscription {
  /** The events subscribed, as the array held them at the last wait, and their states. */
  readonly events: WsaEvent[] = [];
  readonly states: EventState[] = [];
  /** Made beside a busy subscription of the same array: released when its wait ends. */
  readonly transient: boolean;
  disposed = false;
  /** True while a wait is pending. */
  waiting = false;
  #waitAll = false;
  #signal: AbortSignal | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve: ((result: number) => void) | undefined;
  #reject: ((error: Error) => void) | undefined;

  constructor(transient: boolean) {
    this.transient = transient;
  }

  /** Subscribes to the first `count` of `events`, whose states are in `states`, and to nothing else. */
  sync(events: readonly WsaEvent[], states: readonly EventState[], count: number): void {
    const own = this.states;
    for (let i = 0; i < count; i++) {
      const state = states[i];
      const old = own[i];
      if (old === state) continue;
      if (old !== undefined) unsubscribe(old, this);
      own[i] = state;
      this.events[i] = events[i];
      subscribe(state, this);
    }
    for (let i = count; i < own.length; i++) unsubscribe(own[i], this);
    own.length = count;
    this.events.length = count;
  }

  /**
   * If `events` holds exactly the events subscribed, in that order, and none is closed: the
   * result of a wait on them now (as `readyIndex`). Else NOT_THE_SAME.
   */
  readyIfSame(events: readonly WsaEvent[], waitAll: boolean): number {
    const own = this.events;
    const states = this.states;
    const count = own.length;
    if (events.length !== count) return NOT_THE_SAME;
    let first = -1;
    let all = true;
    for (let i = 0; i < count; i++) {
      if (events[i] !== own[i]) return NOT_THE_SAME;
      const state = states[i];
      if (state.signaled) {
        if (first < 0) first = i;
      } else {
        if (state.closed) return NOT_THE_SAME;
        all = false;
      }
    }
    if (waitAll) return all ? WAIT_OBJECT_0 : -1;
    return first < 0 ? -1 : WAIT_OBJECT_0 + first;
  }

  /** True if it is subscribed to exactly the first `count` of `states`, in that order. */
  matches(states: readonly EventState[], count: number): boolean {
    const own = this.states;
    if (own.length !== count) return false;
    for (let i = 0; i < count; i++) if (own[i] !== states[i]) return false;
    return true;
  }

  /** Starts a wait; `timeoutMs` is finite or undefined. */
  begin(
    waitAll: boolean,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    resolve: (result: number) => void,
    reject: (error: Error) => void,
  ): void {
    this.waiting = true;
    this.#waitAll = waitAll;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (timeoutMs !== undefined) this.#timer = setTimeout(this.#onTimeout, timeoutMs);
  }

  /** One of its events was set. */
  onSet(): void {
    if (!this.waiting) return;
    const result = readyIndex(this.states, this.states.length, this.#waitAll);
    if (result >= 0) this.#end(result, undefined);
  }

  /** One of its events was closed, and has already dropped its subscribers. */
  onClose(state: EventState): void {
    if (!this.waiting) return;
    const index = this.states.indexOf(state);
    this.#end(0, new TypeError(`The event at index ${index} (event ${state.id}) was closed during the wait`));
  }

  /** Unsubscribes from every event. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const own = this.states;
    for (let i = 0; i < own.length; i++) unsubscribe(own[i], this);
    own.length = 0;
    this.events.length = 0;
  }

  readonly #onTimeout = (): void => {
    if (this.waiting) this.#end(WAIT_TIMEOUT, undefined);
  };

  readonly #onAbort = (): void => {
    if (this.waiting) this.#end(0, cancelledWait(this.states.length, this.#signal));
  };

  /** Ends the wait: releases its timer and its abort listener, then settles it. */
  #end(result: number, error: Error | undefined): void {
    const resolve = this.#resolve!;
    const reject = this.#reject!;
    this.waiting = false;
    this.#resolve = undefined;
    this.#reject = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
    // Not now: this may run while an event walks its subscribers.
    if (this.transient) queueMicrotask(() => this.dispose());
    if (error === undefined) resolve(result);
    else reject(error);
  }
}

/** The subscription kept for each array waited on, while the array lives and it is not disposed. */
const subscriptionOfArray = new WeakMap<readonly WsaEvent[], Subscription>();

/**
 * The subscription for a wait on `events`, holding the first `count` of `states`: the array's
 * own if it is idle, else an idle one of the same events (a loop that builds a new array of
 * the same events for every wait), else a new one; a transient one if the array's is busy.
 */
function subscriptionFor(events: readonly WsaEvent[], states: readonly EventState[], count: number): Subscription {
  let sub = subscriptionOfArray.get(events);
  if (sub !== undefined && !sub.disposed) {
    if (sub.waiting) sub = new Subscription(true);
  } else {
    sub = undefined;
    for (const other of states[0].subscribers) {
      if (!other.waiting && !other.transient && other.matches(states, count)) {
        sub = other;
        break;
      }
    }
    sub ??= new Subscription(false);
    subscriptionOfArray.set(events, sub);
  }
  sub.sync(events, states, count);
  return sub;
}

function cancelledWait(count: number, signal: AbortSignal | undefined): NetError {
  return new NetError("ECANCELED", `The wait for ${count} events was cancelled`, { cause: signal?.reason });
}

/**
 * Creates a manual-reset event object that is not signalled (WSACreateEvent).
 *
 * @example
 * ```ts
 * import { createEvent, eventSelect, FD_CLOSE, FD_READ } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const event = createEvent();
 * eventSelect(sock, event, FD_READ | FD_CLOSE);
 * ```
 */
export function createEvent(): WsaEvent {
  return new WsaEvent();
}

/**
 * Signals the event (WSASetEvent). Returns false if the event was closed.
 *
 * @example
 * ```ts
 * const stop = createEvent();
 * setEvent(stop); // wakes whoever waits on it
 * ```
 */
export function setEvent(event: WsaEvent): boolean {
  const state = stateOf(event, "The event to set");
  if (state.closed) return false;
  if (!state.signaled) {
    state.signaled = true;
    // No subscriber leaves the list while it is told: a transient one is disposed later.
    const subs = state.subscribers;
    for (let i = 0; i < subs.length; i++) subs[i].onSet();
  }
  return true;
}

/**
 * Makes the event non-signalled (WSAResetEvent). Returns false if the event was closed.
 *
 * @example
 * ```ts
 * import { resetEvent, type WsaEvent } from "sockmodels/event-select";
 * declare const event: WsaEvent;
 * resetEvent(event); // a wait on it blocks again until it is set
 * ```
 */
export function resetEvent(event: WsaEvent): boolean {
  const state = stateOf(event, "The event to reset");
  if (state.closed) return false;
  state.signaled = false;
  return true;
}

/**
 * Closes the event (WSACloseEvent). Waits that include it reject with a TypeError. Returns false
 * if it was already closed.
 *
 * @example
 * ```ts
 * import { closeEvent, type WsaEvent } from "sockmodels/event-select";
 * declare const event: WsaEvent;
 * closeEvent(event); // after the socket it was selected for is closed
 * ```
 */
export function closeEvent(event: WsaEvent): boolean {
  const state = stateOf(event, "The event to close");
  if (state.closed) return false;
  state.closed = true;
  state.signaled = false;
  const subs = state.subscribers;
  state.subscribers = [];
  for (let i = 0; i < subs.length; i++) subs[i].onClose(state);
  return true;
}

/**
 * Options of {@linkcode waitForMultipleEvents}.
 *
 * @example
 * ```ts
 * const opts: WaitForEventsOptions = { waitAll: false, timeoutMs: 1000 };
 * ```
 */
export interface WaitForEventsOptions {
  /** Wait until every event is signalled at the same time, instead of any one. Default false. */
  waitAll?: boolean;
  /** Resolve with WAIT_TIMEOUT after this many milliseconds; 0 only checks. Default: forever. */
  timeoutMs?: number;
  /** Aborting rejects the wait with a NetError (ECANCELED). */
  signal?: AbortSignal;
}

/**
 * Waits until one of `events` is signalled (or all of them, with `waitAll`), like
 * WSAWaitForMultipleEvents. Resolves with `WAIT_OBJECT_0 + index` of the lowest signalled
 * event (WAIT_OBJECT_0 with `waitAll`), or WAIT_TIMEOUT. The events are not reset. At most
 * {@linkcode WSA_MAXIMUM_WAIT_EVENTS} events are accepted; more rejects with a RangeError.
 *
 * A wait that has to sleep subscribes to the events, and the subscriptions are kept for the
 * next wait on the same array (or on an array of the same events): a loop that waits on one
 * array again and again pays for subscribing only when the array changes. Closing an event
 * drops its subscriptions; a later wait on an array without an event drops that event's.
 *
 * @example
 * ```ts
 * import {
 *   enumNetworkEvents, WAIT_OBJECT_0, WAIT_TIMEOUT, waitForMultipleEvents, type WsaEvent,
 * } from "sockmodels/event-select";
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * declare const sockets: NonBlockingSocket[];
 * declare const events: WsaEvent[]; // events[i] is selected for sockets[i]
 * const result = await waitForMultipleEvents(events, { timeoutMs: 1000 });
 * if (result !== WAIT_TIMEOUT) {
 *   const index = result - WAIT_OBJECT_0;
 *   const { networkEvents } = enumNetworkEvents(sockets[index], events[index]);
 * }
 * ```
 */
export function waitForMultipleEvents(
  events: readonly WsaEvent[],
  options: WaitForEventsOptions = {},
): Promise<number> {
  const { waitAll = false, timeoutMs, signal } = options;
  // The array's own subscription, idle and still on exactly these events, spares checking each
  // event again (it did when it subscribed): only whether one was closed is looked at.
  let sub = subscriptionOfArray.get(events);
  let now = NOT_THE_SAME;
  if (sub !== undefined && !sub.waiting && !sub.disposed) now = sub.readyIfSame(events, waitAll);
  let count = 0;
  if (now === NOT_THE_SAME) {
    sub = undefined;
    try {
      count = checkEvents(events, scratch);
      now = readyIndex(scratch, count, waitAll);
    } catch (error) {
      scratch.fill(undefined!);
      return Promise.reject(error);
    }
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs >= 0))) {
    scratch.fill(undefined!, 0, count);
    return Promise.reject(
      new RangeError(`The wait timeout must be a non-negative number of milliseconds, got ${timeoutMs}`),
    );
  }
  if (now < 0 && timeoutMs !== 0 && !signal?.aborted) {
    // The caller may change its array while we wait: the subscription keeps the events it held now.
    sub ??= subscriptionFor(events, scratch, count);
    scratch.fill(undefined!, 0, count);
    const waiting = sub;
    return new Promise<number>((resolve, reject) => {
      waiting.begin(
        waitAll,
        timeoutMs !== undefined && Number.isFinite(timeoutMs) ? timeoutMs : undefined,
        signal,
        resolve,
        reject,
      );
    });
  }
  scratch.fill(undefined!, 0, count);
  if (now >= 0) return Promise.resolve(now);
  if (timeoutMs === 0) return Promise.resolve(WAIT_TIMEOUT);
  return Promise.reject(cancelledWait(events.length, signal));
}

/**
 * Checks the events of a wait and puts their states in `states`; returns how many there are.
 * Throws a TypeError or a RangeError naming the first bad one.
 */
function checkEvents(events: readonly WsaEvent[], states: EventState[]): number {
  if (!Array.isArray(events)) {
    throw new TypeError(`The events to wait for must be an array, got ${describeValue(events)}`);
  }
  const count = events.length;
  if (count > WSA_MAXIMUM_WAIT_EVENTS) {
    throw new RangeError(
      `Too many events for waitForMultipleEvents: ${count} exceeds WSA_MAXIMUM_WAIT_EVENTS (${WSA_MAXIMUM_WAIT_EVENTS})`,
    );
  }
  if (count === 0) throw new RangeError("waitForMultipleEvents needs at least 1 event, got 0");
  for (let i = 0; i < count; i++) {
    const event = events[i];
    // stateOf, without building its message for every event.
    const state = event instanceof WsaEvent ? stateOfEvent(event) : stateOf(event, `The event at index ${i}`);
    if (state.closed) throw new TypeError(`The event at index ${i} (event ${state.id}) is closed`);
    states[i] = state;
  }
  return count;
}

/** Where a call puts the states of its events while it checks them; emptied before it returns. */
const scratch: EventState[] = new Array(WSA_MAXIMUM_WAIT_EVENTS);
