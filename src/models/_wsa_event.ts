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
   * The waits that include this event. A wait that ends is only marked done, not taken out of
   * the other events' lists (a wait on 64 events would otherwise cost 64 removals); done waits
   * are dropped when the event wakes its waiters, or when the list reaches `pruneAt`.
   */
  waiters: EventWait[];
  pruneAt: number;
}

/** Waits kept on a quiet event before its done ones are dropped. */
const PRUNE_MIN = 16;
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
  readonly #state: EventState = { id: this.id, signaled: false, closed: false, waiters: [], pruneAt: PRUNE_MIN };

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

function wakeWaiters(state: EventState): void {
  const waits = state.waiters;
  if (waits.length === 0) return;
  // A wait for all events that is not complete yet stays; every other one is done or ends now.
  state.waiters = [];
  for (const wait of waits) {
    if (wait.done) continue;
    wait.check();
    if (!wait.done) state.waiters.push(wait);
  }
  state.pruneAt = Math.max(PRUNE_MIN, 2 * state.waiters.length);
}

function addWaiter(state: EventState, wait: EventWait): void {
  if (state.waiters.length >= state.pruneAt) {
    state.waiters = state.waiters.filter((w) => !w.done);
    state.pruneAt = Math.max(PRUNE_MIN, 2 * state.waiters.length);
  }
  state.waiters.push(wait);
}

/** The lowest index of a signalled event (all of them with `waitAll`), or -1. */
function readyIndex(states: readonly EventState[], waitAll: boolean): number {
  if (waitAll) {
    for (let i = 0; i < states.length; i++) if (!states[i].signaled) return -1;
    return WAIT_OBJECT_0;
  }
  for (let i = 0; i < states.length; i++) if (states[i].signaled) return WAIT_OBJECT_0 + i;
  return -1;
}

/** One pending {@linkcode waitForMultipleEvents}. */
class EventWait {
  done = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly #states: readonly EventState[];
  readonly #waitAll: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (result: number) => void;
  readonly #reject: (error: Error) => void;

  constructor(
    states: readonly EventState[],
    waitAll: boolean,
    signal: AbortSignal | undefined,
    resolve: (result: number) => void,
    reject: (error: Error) => void,
  ) {
    this.#states = states;
    this.#waitAll = waitAll;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    for (const state of states) addWaiter(state, this);
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  check(): void {
    const states = this.#states;
    for (let i = 0; i < states.length; i++) {
      if (states[i].closed) {
        this.#finish();
        this.#reject(new TypeError(`The event at index ${i} (event ${states[i].id}) was closed during the wait`));
        return;
      }
    }
    const result = readyIndex(states, this.#waitAll);
    if (result >= 0) {
      this.#finish();
      this.#resolve(result);
    }
  }

  timeOut = (): void => {
    if (this.done) return;
    this.#finish();
    this.#resolve(WAIT_TIMEOUT);
  };

  onAbort = (): void => {
    if (this.done) return;
    this.#finish();
    this.#reject(cancelledWait(this.#states.length, this.#signal));
  };

  #finish(): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.#signal?.removeEventListener("abort", this.onAbort);
  }
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
    wakeWaiters(state);
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
  wakeWaiters(state);
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
  let states: EventState[];
  try {
    if (!Array.isArray(events)) {
      throw new TypeError(`The events to wait for must be an array, got ${describeValue(events)}`);
    }
    if (events.length > WSA_MAXIMUM_WAIT_EVENTS) {
      throw new RangeError(
        `Too many events for waitForMultipleEvents: ${events.length} exceeds WSA_MAXIMUM_WAIT_EVENTS (${WSA_MAXIMUM_WAIT_EVENTS})`,
      );
    }
    if (events.length === 0) throw new RangeError("waitForMultipleEvents needs at least 1 event, got 0");
    states = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      const state = stateOf(events[i], `The event at index ${i}`);
      if (state.closed) throw new TypeError(`The event at index ${i} (event ${state.id}) is closed`);
      states[i] = state;
    }
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs >= 0))) {
      throw new RangeError(`The wait timeout must be a non-negative number of milliseconds, got ${timeoutMs}`);
    }
  } catch (error) {
    return Promise.reject(error);
  }
  // The caller may change its array while we wait: the wait keeps the states it held now.
  const now = readyIndex(states, waitAll);
  if (now >= 0) return Promise.resolve(now);
  if (timeoutMs === 0) return Promise.resolve(WAIT_TIMEOUT);
  if (signal?.aborted) return Promise.reject(cancelledWait(states.length, signal));
  return new Promise<number>((resolve, reject) => {
    const wait = new EventWait(states, waitAll, signal, resolve, reject);
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) wait.timer = setTimeout(wait.timeOut, timeoutMs);
  });
}
