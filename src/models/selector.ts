/**
 * {@linkcode Selector}: an epoll-style registry with level- or edge-triggered notification, whose
 * `wait` costs O(ready sockets), not O(registered sockets).
 *
 * @module
 */

import type { Watchable } from "../core/socket_core.ts";
import { NetError } from "../runtime/errors.ts";
import {
  ALWAYS,
  cancelDeferred,
  cancelled,
  checkTimeout,
  coreOf,
  defer,
  type Deferred,
  INTEREST_BITS,
  notASocket,
  PendingWait,
  readyBits,
} from "./_wait.ts";
import { POLLNVAL, type Selectable } from "./readiness.ts";
import { Ring } from "../_internal/ring.ts";

/**
 * How a {@linkcode Selector} reports a socket.
 *
 * - `"level"`: in every `wait` while it is ready (like select, poll and epoll's default).
 * - `"edge"`: once per change (data arrived, the send queue drained, a connection arrived,
 *   FIN, an error), like epoll's EPOLLET. Drain the socket until WOULD_BLOCK each time.
 *
 * @example
 * ```ts
 * const mode: TriggerMode = "edge";
 * ```
 */
export type TriggerMode = "level" | "edge";

/**
 * Options of a {@linkcode Selector}.
 *
 * @example
 * ```ts
 * const opts: SelectorOptions = { mode: "edge" };
 * ```
 */
export interface SelectorOptions {
  /** The trigger mode of registrations that do not choose one. Default `"level"`. */
  mode?: TriggerMode;
}

/**
 * Options of {@linkcode Selector.register}.
 *
 * @example
 * ```ts
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * import { POLLIN, type Selector } from "sockmodels/select";
 * declare const selector: Selector;
 * declare const listener: NonBlockingListener;
 * selector.register(listener, POLLIN, undefined, { mode: "level" });
 * ```
 */
export interface RegisterOptions {
  /** This registration's trigger mode. Default: the selector's. */
  mode?: TriggerMode;
}

/**
 * Options of {@linkcode Selector.wait}.
 *
 * @example
 * ```ts
 * const opts: SelectorWaitOptions = { timeoutMs: 1000, maxEvents: 64 };
 * ```
 */
export interface SelectorWaitOptions {
  /** 0 checks once; negative or missing waits until an event. Resolves with [] on timeout. */
  timeoutMs?: number;
  /** The most events to return; the rest wait for the next call. Default: all. */
  maxEvents?: number;
  /** Aborting rejects with a NetError (ECANCELED). */
  signal?: AbortSignal;
}

/**
 * One ready socket from {@linkcode Selector.wait}.
 *
 * @example
 * ```ts
 * import { POLLIN, type Selector } from "sockmodels/select";
 * declare const selector: Selector;
 * for (const { socket, events, data } of await selector.wait()) {
 *   if (events & POLLIN) console.log("readable", socket, data);
 * }
 * ```
 */
export interface SelectorEvent<T extends Selectable = Selectable, D = unknown> {
  /** The socket as it was registered. */
  readonly socket: T;
  /** Its readiness now, within the interest, plus POLLERR and POLLHUP. */
  readonly events: number;
  /** The data given to `register` or `modify`. */
  readonly data: D;
}

class Registration<T, D> {
  socket: T;
  core: Watchable;
  interest: number;
  data: D;
  edge: boolean;
  active = true;
  queued = false;
  unwatch: () => void = noop;

  constructor(socket: T, core: Watchable, interest: number, data: D, edge: boolean) {
    this.socket = socket;
    this.core = core;
    this.interest = interest;
    this.data = data;
    this.edge = edge;
  }
}

function noop(): void {}

interface Waiter<T extends Selectable, D> {
  max: number;
  wait: PendingWait;
  resolve(events: SelectorEvent<T, D>[]): void;
  reject(error: NetError): void;
}

function checkInterest(interest: number): void {
  if (!Number.isInteger(interest) || (interest & ~INTEREST_BITS) !== 0 || interest < 0) {
    throw new RangeError(
      `Selector interest must combine POLLIN and POLLOUT (0x${INTEREST_BITS.toString(16)}), got ${interest}`,
    );
  }
}

function checkMode(mode: unknown): asserts mode is TriggerMode | undefined {
  if (mode !== undefined && mode !== "level" && mode !== "edge") {
    throw new RangeError(`Selector mode must be "level" or "edge", got ${JSON.stringify(mode)}`);
  }
}

/**
 * An epoll-style selector: register sockets once with an interest (`POLLIN`, `POLLOUT`), then
 * `wait` returns only the ready ones, in O(ready) time. Each registration listens to its
 * core's `watch` notifications and puts itself on a ready list; `wait` never scans the
 * registrations.
 *
 * Level-triggered (default): a ready socket is reported by every `wait` until it is no longer
 * ready; keep POLLOUT in the interest only while output is pending (`modify`).
 *
 * Edge-triggered (`mode: "edge"`): a socket is reported once per change — new data, FIN, an
 * error, a drained send queue, an arriving connection — and not again until the next change,
 * however much is left unread. So on each event, drain (seed 004's drain pattern):
 *
 * ```ts
 * import { type NonBlockingSocket, WOULD_BLOCK } from "sockmodels/nonblocking";
 * import { POLLIN, POLLOUT } from "sockmodels/select";
 * declare const sock: NonBlockingSocket;
 * declare const events: number;                 // the events `wait` reported for `sock`
 * declare const queueEcho: (bytes: Uint8Array) => void;
 * declare const flushUntilWouldBlock: () => void;
 * const buf = new Uint8Array(4096);
 * let peerClosed = false;
 * if (events & POLLIN) {
 *   for (;;) {                                  // recv until WOULD_BLOCK
 *     const n = sock.tryRecv(buf);
 *     if (n === WOULD_BLOCK) break;             // drained: the next data brings a new event
 *     if (n === 0) { peerClosed = true; break; }
 *     queueEcho(buf.subarray(0, n));
 *   }
 * }
 * if (events & POLLOUT) flushUntilWouldBlock(); // send until WOULD_BLOCK or nothing is left
 * ```
 *
 * If you stop draining early (to bound a backlog, say), no new event comes for the bytes left
 * behind: remember that and drain again yourself once you can.
 *
 * A socket closed locally leaves the selector by itself, as a closed fd leaves an epoll set.
 * A pending `wait` resolves after the I/O callbacks due in the current turn of the event loop,
 * so that it returns every socket that became ready in that turn at once.
 *
 * @example
 * ```ts
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * import { POLLIN, Selector } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * const selector = new Selector({ mode: "edge" });
 * selector.register(listener, POLLIN, "listener");
 * for (const { socket, events, data } of await selector.wait({ timeoutMs: 1000 })) {
 *   console.log(data, events & POLLIN ? "readable" : "", socket);
 * }
 * selector.close();
 * ```
 */
export class Selector<T extends Selectable = Selectable, D = unknown> implements Disposable {
  /** The default trigger mode of registrations. */
  readonly mode: TriggerMode;
  #registrations = new Map<Watchable, Registration<T, D>>();
  #ready = new Ring<Registration<T, D>>();
  #waiters: Waiter<T, D>[] = [];
  #wakeDeferred: Deferred | undefined;
  #closed = false;

  /** Creates an empty selector. */
  constructor(options: SelectorOptions = {}) {
    checkMode(options.mode);
    this.mode = options.mode ?? "level";
  }

  /** How many sockets are registered. */
  get size(): number {
    return this.#registrations.size;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether `socket` is registered. */
  has(socket: Selectable): boolean {
    return this.#registrations.has(coreOf(socket));
  }

  /**
   * Adds a socket (epoll_ctl ADD) with an interest of `POLLIN`, `POLLOUT` or both (POLLERR and
   * POLLHUP are always reported) and data returned with its events. If it is ready already,
   * the next `wait` reports it, in either mode. Throws a RangeError if it is registered already,
   * and a NetError (EINVAL) if it was closed locally.
   */
  register(socket: T, interest: number, data?: D, options: RegisterOptions = {}): void {
    this.#checkOpen("register");
    checkInterest(interest);
    checkMode(options.mode);
    const core = coreOf(socket);
    if (core.isClosed) throw notASocket("register", core);
    if (this.#registrations.has(core)) {
      throw new RangeError(`Cannot register socket #${core.id}: it is registered already; use modify()`);
    }
    const reg = new Registration<T, D>(socket, core, interest, data as D, (options.mode ?? this.mode) === "edge");
    reg.unwatch = core.watch(() => this.#changed(reg));
    this.#registrations.set(core, reg);
    this.#changed(reg);
  }

  /**
   * Changes the interest (and the data, unless `data` is omitted) of a registered socket
   * (epoll_ctl MOD). Like epoll, it re-checks the socket: if it is ready for the new interest,
   * the next `wait` reports it, in either mode. Throws a RangeError if it is not registered.
   */
  modify(socket: T, interest: number, data?: D): void {
    this.#checkOpen("modify");
    checkInterest(interest);
    const core = coreOf(socket);
    const reg = this.#registrations.get(core);
    if (!reg) throw new RangeError(`Cannot modify socket #${core.id}: it is not registered`);
    reg.interest = interest;
    if (data !== undefined) reg.data = data;
    this.#changed(reg);
  }

  /** Removes a socket (epoll_ctl DEL); returns whether it was registered. */
  unregister(socket: Selectable): boolean {
    const core = coreOf(socket);
    const reg = this.#registrations.get(core);
    if (!reg) return false;
    this.#drop(reg);
    return true;
  }

  /**
   * Waits until a registered socket is ready and returns the ready ones (at most
   * `maxEvents`), each with its events and data. Resolves with [] on timeout. Only one
   * wait at a time is needed, but several may wait: each event goes to one of them.
   */
  wait(options: SelectorWaitOptions = {}): Promise<SelectorEvent<T, D>[]> {
    if (this.#closed) return Promise.reject(this.#closedError("wait"));
    const timeoutMs = checkTimeout(options.timeoutMs, "Selector wait", true);
    const max = options.maxEvents ?? Number.POSITIVE_INFINITY;
    if (max !== Number.POSITIVE_INFINITY && (!Number.isInteger(max) || max < 1)) {
      throw new RangeError(`Selector maxEvents must be a positive integer, got ${max}`);
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(cancelled("Selector wait", signal));
    if (this.#ready.length > 0) {
      const events = this.#collect(max);
      if (events.length > 0) return Promise.resolve(events);
    }
    if (timeoutMs === 0) return Promise.resolve([]);

    return new Promise<SelectorEvent<T, D>[]>((resolve, reject) => {
      const waiter: Waiter<T, D> = { max, resolve, reject, wait: undefined as unknown as PendingWait };
      waiter.wait = new PendingWait(
        timeoutMs,
        signal,
        timeoutMs === undefined ? noop : () => {
          if (this.#removeWaiter(waiter)) resolve([]);
        },
        signal === undefined ? noop : () => {
          if (this.#removeWaiter(waiter)) reject(cancelled("Selector wait", signal));
        },
      );
      this.#waiters.push(waiter);
      waiter.wait.arm();
    });
  }

  /**
   * Unregisters every socket (the sockets stay open) and rejects pending waits with a
   * NetError (ECANCELED). Later calls throw.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const reg of this.#registrations.values()) {
      reg.active = false;
      reg.unwatch();
    }
    this.#registrations.clear();
    this.#ready.clear();
    if (this.#wakeDeferred !== undefined) cancelDeferred(this.#wakeDeferred);
    this.#wakeDeferred = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (w.wait.finish()) {
        w.reject(new NetError("ECANCELED", "The Selector was closed during the wait", { syscall: "Selector wait" }));
      }
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(op: string): void {
    if (this.#closed) throw this.#closedError(op);
  }

  #closedError(op: string): NetError {
    return new NetError("EINVAL", `Cannot ${op}: the Selector is closed`, { syscall: `Selector ${op}` });
  }

  #removeWaiter(waiter: Waiter<T, D>): boolean {
    if (!waiter.wait.finish()) return false;
    const i = this.#waiters.indexOf(waiter);
    if (i >= 0) this.#waiters.splice(i, 1);
    return true;
  }

  #drop(reg: Registration<T, D>): void {
    if (!reg.active) return;
    reg.active = false;
    reg.unwatch();
    this.#registrations.delete(reg.core);
  }

  /** A core reported a change (or the registration changed): queue it if it is now ready. */
  #changed(reg: Registration<T, D>): void {
    if (!reg.active) return;
    if (reg.core.isClosed) {
      this.#drop(reg);
      return;
    }
    if (reg.queued) return;
    if ((readyBits(reg.core, reg.interest) & (reg.interest | ALWAYS)) === 0) return;
    reg.queued = true;
    this.#ready.push(reg);
    // Wake the waiter after this turn's I/O, so that one wait returns every socket that
    // became ready in it rather than the first one alone.
    if (this.#waiters.length > 0 && this.#wakeDeferred === undefined) {
      this.#wakeDeferred = defer(() => {
        this.#wakeDeferred = undefined;
        this.#wake();
      });
    }
  }

  #wake(): void {
    while (this.#waiters.length > 0 && this.#ready.length > 0) {
      const waiter = this.#waiters[0];
      const events = this.#collect(waiter.max);
      if (events.length === 0) return;
      this.#waiters.shift();
      waiter.wait.finish();
      waiter.resolve(events);
    }
  }

  /**
   * Takes up to `max` events from the ready list, visiting each queued entry at most once.
   * Level entries that are still ready go back to the tail; the others leave the list.
   */
  #collect(max: number): SelectorEvent<T, D>[] {
    const out: SelectorEvent<T, D>[] = [];
    const ready = this.#ready;
    for (let n = ready.length; n > 0 && out.length < max; n--) {
      const reg = ready.shift()!;
      if (!reg.active) {
        reg.queued = false;
        continue;
      }
      const bits = readyBits(reg.core, reg.interest);
      if (bits & POLLNVAL) {
        reg.queued = false;
        this.#drop(reg);
        continue;
      }
      const events = bits & (reg.interest | ALWAYS);
      if (events === 0) {
        reg.queued = false;
        continue;
      }
      out.push({ socket: reg.socket, events, data: reg.data });
      if (reg.edge) reg.queued = false;
      else ready.push(reg);
    }
    return out;
  }
}
