/**
 * The select/poll model: one task waits for readiness on many non-blocking sockets at once,
 * then calls `tryRecv`, `trySend` and `tryAccept` only on the ready ones.
 *
 * - {@linkcode select} is Winsock's `select(readfds, writefds, exceptfds, timeout)` over
 *   {@linkcode FdSet}s, whose size is capped like FD_SETSIZE (64 by default, as on Windows).
 * - {@linkcode poll} is `WSAPoll`: an array of `{ socket, events, revents }` entries.
 * - {@linkcode Selector} is an epoll-style registry with level- or edge-triggered
 *   notification, whose `wait` costs O(ready sockets), not O(registered sockets).
 *
 * All three are level-triggered views of each socket's {@linkcode SocketCore} except the
 * Selector in edge mode. They wake up through the cores' `watch` notifications, never by
 * polling on a timer, and unsubscribe when they return.
 *
 * @example
 * ```ts
 * import { FdSet, select } from "sockmodels/select";
 * import { NonBlockingListener } from "sockmodels/nonblocking";
 * const listener = await NonBlockingListener.listen({ port: 9000 });
 * const readSet = new FdSet([listener]);
 * const ready = await select(readSet, null, null, { timeoutMs: 1000 });
 * if (ready > 0 && readSet.has(listener)) console.log("a connection is waiting");
 * ```
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import { ListenerCore, SocketCore, type Watchable } from "../core/socket_core.ts";

export type { Readiness, Watchable } from "../core/socket_core.ts";

// ---- flags ------------------------------------------------------------------------------

/**
 * Normal data can be read (or, on a listener, a connection accepted). WSAPoll's value.
 *
 * @example
 * ```ts
 * import { type PollFd, POLLRDNORM } from "sockmodels/select";
 * declare const fd: PollFd;
 * if (fd.revents & POLLRDNORM) console.log("readable");
 * ```
 */
export const POLLRDNORM: number = 0x0100;
/**
 * Priority (out-of-band) data can be read. Never reported: the adapter has no OOB data.
 *
 * @example
 * ```ts
 * const both = POLLRDNORM | POLLRDBAND; // the same as POLLIN
 * ```
 */
export const POLLRDBAND: number = 0x0200;
/**
 * Readable: `POLLRDNORM | POLLRDBAND`, as in winsock2.h. Test `revents & POLLIN`: a
 * readable socket reports `POLLRDNORM`.
 *
 * @example
 * ```ts
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import { POLLIN } from "sockmodels/select";
 * declare const sock: NonBlockingSocket;
 * const fds = [{ socket: sock, events: POLLIN, revents: 0 }];
 * ```
 */
export const POLLIN: number = POLLRDNORM | POLLRDBAND;
/**
 * Normal data can be written. WSAPoll's value.
 *
 * @example
 * ```ts
 * import { type PollFd, POLLWRNORM } from "sockmodels/select";
 * declare const fd: PollFd;
 * if (fd.revents & POLLWRNORM) console.log("writable");
 * ```
 */
export const POLLWRNORM: number = 0x0010;
/**
 * Writable: the send queue is below the send buffer, or a non-blocking connect finished.
 * Equal to `POLLWRNORM`, as in winsock2.h.
 *
 * @example
 * ```ts
 * import { type PollFd, POLLOUT } from "sockmodels/select";
 * declare const fd: PollFd;
 * fd.events |= POLLOUT; // ask to hear when the pending output can go out
 * ```
 */
export const POLLOUT: number = POLLWRNORM;
/**
 * An error is pending (a failed connect, a reset). Always reported, whether asked for or not.
 *
 * @example
 * ```ts
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import { POLLERR, type PollFd } from "sockmodels/select";
 * declare const fd: PollFd<NonBlockingSocket>;
 * if (fd.revents & POLLERR) fd.socket?.reset();
 * ```
 */
export const POLLERR: number = 0x0001;
/**
 * The connection is closed (both directions, or aborted). Always reported.
 *
 * @example
 * ```ts
 * import type { NonBlockingSocket } from "sockmodels/nonblocking";
 * import { POLLHUP, type PollFd } from "sockmodels/select";
 * declare const fd: PollFd<NonBlockingSocket>;
 * if (fd.revents & POLLHUP) void fd.socket?.close();
 * ```
 */
export const POLLHUP: number = 0x0002;
/**
 * The socket was closed locally, so it is not a socket any more. Always reported.
 *
 * @example
 * ```ts
 * import { type PollFd, POLLNVAL } from "sockmodels/select";
 * declare const fd: PollFd;
 * if (fd.revents & POLLNVAL) fd.socket = null;
 * ```
 */
export const POLLNVAL: number = 0x0004;

/** The bits reported whatever the interest. */
const ALWAYS = POLLERR | POLLHUP | POLLNVAL;
const INTEREST_BITS = POLLIN | POLLOUT | POLLERR | POLLHUP;
/** The largest delay a timer can take on every runtime. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The default capacity of an {@linkcode FdSet}: 64, Windows' FD_SETSIZE.
 *
 * @example
 * ```ts
 * new FdSet().setSize === FD_SETSIZE; // true
 * ```
 */
export const FD_SETSIZE: number = 64;

// ---- what can be waited on ----------------------------------------------------------------

/**
 * What select, poll and the Selector accept: a `NonBlockingSocket` or `NonBlockingListener`
 * (anything with a `core`), or a core itself.
 *
 * @example
 * ```ts
 * import type { NonBlockingListener, NonBlockingSocket } from "sockmodels/nonblocking";
 * import type { Selectable } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * declare const sock: NonBlockingSocket;
 * const items: Selectable[] = [listener, sock, sock.core];
 * ```
 */
export type Selectable = Watchable | { readonly core: Watchable };

function isWatchable(x: unknown): x is Watchable {
  return typeof x === "object" && x !== null &&
    typeof (x as Watchable).watch === "function" && typeof (x as Watchable).readiness === "function";
}

function coreOf(s: Selectable): Watchable {
  // Sockets and listeners (the usual case) first, then bare cores.
  const core = (s as { core?: unknown } | null)?.core;
  if (core instanceof SocketCore || core instanceof ListenerCore) return core;
  if (s instanceof SocketCore || s instanceof ListenerCore) return s;
  if (isWatchable(core)) return core;
  if (isWatchable(s)) return s;
  throw new TypeError(
    `Expected a socket, a listener or a Watchable core, got ${s === null ? "null" : typeof s}`,
  );
}

/**
 * The level readiness of a core as WSAPoll bits, without allocating for the two core classes.
 * `want` limits the work to the bits asked for: POLLRDNORM and POLLWRNORM are computed only if
 * in `want`; POLLERR, POLLHUP and POLLNVAL always are. A socket closed locally is POLLNVAL
 * and nothing else.
 */
function readyBits(w: Watchable, want: number): number {
  if (w instanceof SocketCore) {
    if (w.isClosed) return POLLNVAL;
    const error = w.error;
    const eof = w.eof;
    let bits = 0;
    if (want & POLLRDNORM && (eof || error !== undefined || w.available > 0)) bits |= POLLRDNORM;
    if (want & POLLWRNORM && w.sendSpace > 0) bits |= POLLWRNORM;
    if (error !== undefined) bits |= POLLERR;
    // hup also covers "the peer sent FIN and we shut down", which only readiness() knows.
    if (w.streamClosed || (eof && w.readiness().hup)) bits |= POLLHUP;
    return bits;
  }
  if (w instanceof ListenerCore) {
    if (w.isClosed) return POLLNVAL;
    return want & POLLRDNORM && w.pending > 0 ? POLLRDNORM : 0;
  }
  if (w.isClosed) return POLLNVAL;
  const r = w.readiness();
  return ((r.readable ? POLLRDNORM : 0) | (r.writable ? POLLWRNORM : 0) | (r.error ? POLLERR : 0) |
    (r.hup ? POLLHUP : 0)) & (want | ALWAYS);
}

function notASocket(op: string, core: Watchable): NetError {
  return new NetError(
    "EINVAL",
    `Cannot ${op}: socket #${core.id} was closed locally, so it is not a socket any more (Winsock WSAENOTSOCK)`,
    { syscall: op },
  );
}

function cancelled(op: string, signal: AbortSignal | undefined): NetError {
  return new NetError("ECANCELED", `The ${op} was cancelled`, { syscall: op, cause: signal?.reason });
}

/** Checks a timeout; returns undefined for "wait forever". */
function checkTimeout(timeoutMs: number | undefined, op: string, negativeIsInfinite: boolean): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs)) {
    throw new TypeError(`${op} timeoutMs must be a number of milliseconds, got ${String(timeoutMs)}`);
  }
  if (timeoutMs < 0) {
    if (negativeIsInfinite) return undefined;
    throw new RangeError(`${op} timeoutMs must be 0 or more milliseconds, got ${timeoutMs}`);
  }
  if (timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(`${op} timeoutMs must be at most ${MAX_TIMEOUT_MS} ms, got ${timeoutMs}`);
  }
  return timeoutMs;
}

const host = globalThis as {
  setImmediate?: (fn: () => void) => unknown;
  clearImmediate?: (handle: unknown) => void;
};
const immediate = typeof host.setImmediate === "function" && typeof host.clearImmediate === "function";

/** A handle of {@linkcode defer}. */
type Deferred = unknown;

/**
 * Runs `fn` in a later macrotask: after the I/O callbacks of this turn of the event loop, so
 * that one check sees every socket that became ready meanwhile. `setImmediate` where the
 * runtime has it, else a zero timer.
 */
function defer(fn: () => void): Deferred {
  return immediate ? host.setImmediate!(fn) : setTimeout(fn, 0);
}

function cancelDeferred(d: Deferred): void {
  if (immediate) host.clearImmediate!(d);
  else clearTimeout(d as ReturnType<typeof setTimeout>);
}

/**
 * One pending wait: a timer, an abort listener, watch subscriptions and a deferred check, all
 * released by `finish` exactly once. The timer and the abort listener are set up by `arm`,
 * only when the wait goes to sleep: a wait that a deferred check ends creates neither.
 */
class PendingWait {
  done = false;
  #armed = false;
  #start: number;
  #timeoutMs: number | undefined;
  #signal: AbortSignal | undefined;
  #onTimeout: () => void;
  #onAbort: () => void;
  #deferred: Deferred | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unwatch: (() => void)[] | undefined;

  constructor(
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    onTimeout: () => void,
    onAbort: () => void,
  ) {
    this.#timeoutMs = timeoutMs;
    this.#start = timeoutMs === undefined ? 0 : performance.now();
    this.#signal = signal;
    this.#onTimeout = onTimeout;
    this.#onAbort = onAbort;
  }

  /** True if the signal was aborted (the caller then ends the wait with ECANCELED). */
  get aborted(): boolean {
    return this.#signal?.aborted === true;
  }

  /** Starts the timer (for the time left) and listens for the abort. */
  arm(): void {
    if (this.#armed || this.done) return;
    this.#armed = true;
    const signal = this.#signal;
    if (signal) {
      if (signal.aborted) return this.#onAbort();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (this.#timeoutMs !== undefined) {
      const left = Math.max(0, this.#timeoutMs - (performance.now() - this.#start));
      this.#timer = setTimeout(this.#onTimeout, left);
    }
  }

  watch(core: Watchable, fn: () => void): void {
    (this.#unwatch ??= []).push(core.watch(fn));
  }

  /** True once `watch` was called. */
  get watching(): boolean {
    return this.#unwatch !== undefined;
  }

  /** Runs `check` in a later macrotask, once however often it is asked before it runs. */
  schedule(check: () => void): void {
    if (this.done || this.#deferred !== undefined) return;
    this.#deferred = defer(() => {
      this.#deferred = undefined;
      if (!this.done) check();
    });
  }

  /** Releases everything; returns false if it was already finished. */
  finish(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#deferred !== undefined) cancelDeferred(this.#deferred);
    this.#deferred = undefined;
    if (this.#armed && this.#signal) this.#signal.removeEventListener("abort", this.#onAbort);
    const unwatch = this.#unwatch;
    if (unwatch) { for (let i = 0; i < unwatch.length; i++) unwatch[i](); }
    this.#unwatch = undefined;
    return true;
  }
}

// ---- select ---------------------------------------------------------------------------------

/**
 * Options of an {@linkcode FdSet}.
 *
 * @example
 * ```ts
 * const opts: FdSetOptions = { setSize: 1024 }; // like #define FD_SETSIZE 1024
 * ```
 */
export interface FdSetOptions {
  /** The most sockets the set holds, like FD_SETSIZE. Default 64. */
  setSize?: number;
}

let coresOf: (set: FdSet) => readonly Watchable[];
let retainReady: (set: FdSet, ready: Uint8Array, offset: number) => void;

/**
 * A set of sockets for {@linkcode select}, Winsock's `fd_set`: at most `setSize` sockets
 * (FD_SETSIZE, 64 by default), kept in the order they were added. The Winsock macros map to:
 *
 * | Winsock | here |
 * |---|---|
 * | `FD_ZERO(&set)` | `set.clear()` |
 * | `FD_SET(s, &set)` | `set.add(s)` |
 * | `FD_CLR(s, &set)` | `set.delete(s)` |
 * | `FD_ISSET(s, &set)` | `set.has(s)` |
 * | `set.fd_count`, `set.fd_array[i]` | `set.size`, `set.at(i)` or `for (const s of set)` |
 * | `fd_set copy = master;` | `new FdSet(master)` |
 *
 * A socket is one member however it is given: the socket, or its core. `select` leaves in
 * the set only the members that are ready, as Winsock does, so build the sets again before
 * every call (or copy a master set).
 *
 * @example
 * ```ts
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * import { FdSet, select } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * const master = new FdSet([listener]);       // FD_ZERO + FD_SET
 * const readSet = new FdSet(master);           // readSet = masterSet
 * await select(readSet, null, null);
 * for (const s of readSet) console.log("ready:", s);
 * ```
 */
export class FdSet<T extends Selectable = Selectable> implements Iterable<T> {
  /** The capacity (FD_SETSIZE). */
  readonly setSize: number;
  #items: T[] = [];
  #cores: Watchable[] = [];
  #members = new Set<Watchable>();

  static {
    coresOf = (set) => set.#cores;
    retainReady = (set, ready, offset) => {
      const items = set.#items;
      const cores = set.#cores;
      let kept = 0;
      for (let i = 0; i < cores.length; i++) {
        if (ready[offset + i]) {
          items[kept] = items[i];
          cores[kept++] = cores[i];
        } else {
          set.#members.delete(cores[i]);
        }
      }
      items.length = kept;
      cores.length = kept;
    };
  }

  /**
   * An empty set (`new FdSet({ setSize })`), or one holding `init`'s sockets
   * (`new FdSet([a, b], { setSize })`). Copying another FdSet keeps its `setSize` unless
   * `options` gives one.
   */
  constructor(init?: Iterable<T> | FdSetOptions, options?: FdSetOptions) {
    let items: Iterable<T> | undefined;
    let opts = options;
    if (init !== undefined && init !== null && typeof (init as Iterable<T>)[Symbol.iterator] === "function") {
      items = init as Iterable<T>;
      if (opts === undefined && init instanceof FdSet) opts = { setSize: init.setSize };
    } else if (init !== undefined) {
      if (options !== undefined) throw new TypeError("FdSet takes the options once: new FdSet(items, options)");
      opts = init as FdSetOptions;
    }
    const setSize = opts?.setSize ?? FD_SETSIZE;
    if (!Number.isInteger(setSize) || setSize < 1) {
      throw new RangeError(`FdSet setSize must be a positive integer, got ${setSize}`);
    }
    this.setSize = setSize;
    if (items) { for (const s of items) this.add(s); }
  }

  /** How many sockets are in the set (`fd_count`). */
  get size(): number {
    return this.#items.length;
  }

  /**
   * FD_SET: adds a socket (nothing happens if it is already in). Throws a RangeError when the
   * set already holds `setSize` sockets.
   */
  add(socket: T): this {
    const core = coreOf(socket);
    if (this.#members.has(core)) return this;
    if (this.#items.length >= this.setSize) {
      throw new RangeError(
        `Too many sockets for select: adding socket number ${this.#items.length + 1} exceeds the set size of ` +
          `${this.setSize} (FD_SETSIZE). Create the FdSet with a larger setSize, as #define FD_SETSIZE does ` +
          `before including winsock2.h, or split the sockets over several sets.`,
      );
    }
    this.#members.add(core);
    this.#items.push(socket);
    this.#cores.push(core);
    return this;
  }

  /** FD_CLR: removes a socket; returns whether it was in the set. */
  delete(socket: Selectable): boolean {
    const core = coreOf(socket);
    if (!this.#members.delete(core)) return false;
    const i = this.#cores.indexOf(core);
    this.#items.splice(i, 1);
    this.#cores.splice(i, 1);
    return true;
  }

  /** FD_ISSET: whether the socket is in the set (after `select`: whether it is ready). */
  has(socket: Selectable): boolean {
    return this.#members.has(coreOf(socket));
  }

  /** FD_ZERO: empties the set. */
  clear(): void {
    this.#items.length = 0;
    this.#cores.length = 0;
    this.#members.clear();
  }

  /** The socket at `index` in the order added (`fd_array[index]`), or undefined. */
  at(index: number): T | undefined {
    return this.#items[index];
  }

  /** The sockets, in the order they were added. */
  [Symbol.iterator](): IterableIterator<T> {
    return this.#items.values();
  }
}

/**
 * Options of {@linkcode select}.
 *
 * @example
 * ```ts
 * const opts: SelectOptions = { timeoutMs: 0 }; // poll once and return
 * ```
 */
export interface SelectOptions {
  /** How long to wait: 0 checks once and returns, undefined waits until a socket is ready. */
  timeoutMs?: number;
  /** Aborting rejects with a NetError (ECANCELED) and leaves the sets as they were. */
  signal?: AbortSignal;
}

/** What makes a member of the read, write and except set ready. */
const SET_BIT = [POLLRDNORM, POLLWRNORM, POLLERR];

/**
 * Winsock's `select`: waits until at least one socket is ready, then resolves with the number
 * of ready sockets (counted once per set they are ready in) and leaves in each set only its
 * ready sockets. On timeout it resolves with 0 and empties the sets.
 *
 * - Read set: data is waiting, the peer sent FIN (`tryRecv` returns 0), an error is pending
 *   (`tryRecv` throws it), or, for a listener, a connection waits (`tryAccept` succeeds).
 * - Write set: the send queue is below the send buffer (`trySend` makes progress), which
 *   includes a non-blocking connect that has just finished.
 * - Except set: a pending error, such as a failed non-blocking connect (Winsock reports
 *   those in exceptfds, not writefds).
 *
 * Any set may be null. Every socket must be open: one closed locally rejects with a NetError
 * (EINVAL, Winsock's WSAENOTSOCK), at the call or if it happens during the wait. Bad
 * arguments throw at once: a RangeError with no socket in any set (Winsock: WSAEINVAL), a
 * RangeError or TypeError for a bad timeout.
 *
 * `timeoutMs: 0` checks at once. Otherwise the first check comes after the I/O callbacks
 * already due in this turn of the event loop, so that one call reports every socket that
 * became ready in it; only if none is ready does select subscribe to the sockets' changes.
 *
 * @example
 * ```ts
 * import type { NonBlockingListener, NonBlockingSocket } from "sockmodels/nonblocking";
 * import { FdSet, select } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * declare const clients: NonBlockingSocket[];
 * declare const hasPendingOutput: (client: NonBlockingSocket) => boolean;
 * const readSet = new FdSet([listener, ...clients]);
 * const writeSet = new FdSet(clients.filter((c) => hasPendingOutput(c)));
 * const n = await select(readSet, writeSet, null, { timeoutMs: 10_000 });
 * if (n === 0) console.log("nothing happened for 10 s");
 * for (const s of readSet) console.log("readable:", s);
 * ```
 */
export function select(
  readSet: FdSet | null | undefined,
  writeSet: FdSet | null | undefined,
  exceptSet: FdSet | null | undefined,
  options: SelectOptions = {},
): Promise<number> {
  const sets = [readSet ?? undefined, writeSet ?? undefined, exceptSet ?? undefined];
  const timeoutMs = checkTimeout(options.timeoutMs, "select", false);
  const signal = options.signal;
  let total = 0;
  for (const set of sets) {
    if (set === undefined) continue;
    if (!(set instanceof FdSet)) throw new TypeError(`select takes FdSets or null, got ${typeof set}`);
    total += set.size;
  }
  if (total === 0) {
    throw new RangeError("select needs at least one socket: every set is empty or null (Winsock: WSAEINVAL)");
  }
  // One flag per member of the three sets, laid out one set after the other.
  let ready = new Uint8Array(total);

  /** Fills `ready`; returns the count, or the first socket found closed. */
  const scan = (): number | Watchable => {
    let size = 0;
    for (let k = 0; k < 3; k++) size += sets[k]?.size ?? 0;
    if (size !== ready.length) ready = new Uint8Array(size); // a set changed during the wait
    let count = 0;
    let at = 0;
    for (let k = 0; k < 3; k++) {
      const set = sets[k];
      if (set === undefined) continue;
      const cores = coresOf(set);
      const bit = SET_BIT[k];
      for (let i = 0; i < cores.length; i++, at++) {
        const bits = readyBits(cores[i], bit);
        if (bits & POLLNVAL) return cores[i];
        const r = bits & bit ? 1 : 0;
        ready[at] = r;
        count += r;
      }
    }
    return count;
  };
  const apply = (): void => {
    let at = 0;
    for (let k = 0; k < 3; k++) {
      const set = sets[k];
      if (set === undefined) continue;
      const size = set.size;
      retainReady(set, ready, at);
      at += size;
    }
  };

  if (signal?.aborted) return Promise.reject(cancelled("select", signal));
  for (const set of sets) {
    if (set === undefined) continue;
    const cores = coresOf(set);
    for (let i = 0; i < cores.length; i++) {
      if (cores[i].isClosed) return Promise.reject(notASocket("select", cores[i]));
    }
  }
  if (timeoutMs === 0) {
    const count = scan() as number;
    apply();
    return Promise.resolve(count);
  }

  return new Promise<number>((resolve, reject) => {
    const wait: PendingWait = new PendingWait(
      timeoutMs,
      signal,
      () => {
        if (!wait.finish()) return;
        scan();
        ready.fill(0);
        apply();
        resolve(0);
      },
      () => {
        if (wait.finish()) reject(cancelled("select", signal));
      },
    );
    // The first check runs after this turn's I/O, so that one call sees everything that became
    // ready in it; under load something is ready by then, and no subscription is ever made.
    // Otherwise every change schedules one check, again after the turn's I/O.
    const check = (): void => {
      if (wait.aborted) {
        wait.finish();
        return reject(cancelled("select", signal));
      }
      const result = scan();
      if (typeof result !== "number") {
        wait.finish();
        reject(notASocket("select", result));
      } else if (result > 0) {
        wait.finish();
        apply();
        resolve(result);
      } else if (!wait.watching) {
        // The same callback on a core twice subscribes it once.
        for (const set of sets) {
          if (set === undefined) continue;
          const cores = coresOf(set);
          for (let i = 0; i < cores.length; i++) wait.watch(cores[i], onChange);
        }
        wait.arm();
      }
    };
    const onChange = (): void => wait.schedule(check);
    wait.schedule(check);
  });
}

// ---- poll -----------------------------------------------------------------------------------

/**
 * One entry of {@linkcode poll}'s array, WSAPoll's `WSAPOLLFD`. An entry whose `socket` is null
 * is skipped (its `revents` becomes 0), like a negative fd.
 *
 * @example
 * ```ts
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * import { POLLIN, type PollFd } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * const entry: PollFd = { socket: listener, events: POLLIN, revents: 0 };
 * ```
 */
export interface PollFd<T extends Selectable = Selectable> {
  /** The socket, or null to skip the entry. */
  socket: T | null | undefined;
  /** What to wait for: `POLLIN`, `POLLOUT` or both. */
  events: number;
  /** Set by `poll`: the events that happened, plus POLLERR, POLLHUP and POLLNVAL. */
  revents: number;
}

/**
 * Options of {@linkcode poll}.
 *
 * @example
 * ```ts
 * const opts: PollOptions = { signal: AbortSignal.timeout(5000) };
 * ```
 */
export interface PollOptions {
  /** Aborting rejects with a NetError (ECANCELED). */
  signal?: AbortSignal;
}

function fillRevents(fds: readonly PollFd[]): number {
  // The array's subscription, if it has one, knows the core of each entry it last saw.
  const known = pollSubscriptions.get(fds);
  const sockets = known?.sockets;
  const cores = known?.cores;
  let count = 0;
  for (let i = 0; i < fds.length; i++) {
    const fd = fds[i];
    const socket = fd.socket;
    if (socket === null || socket === undefined) {
      fd.revents = 0;
      continue;
    }
    const events = fd.events;
    const core = sockets !== undefined && sockets[i] === socket ? cores![i]! : coreOf(socket);
    const revents = readyBits(core, events) & (events | ALWAYS);
    fd.revents = revents;
    if (revents !== 0) count++;
  }
  return count;
}

/**
 * WSAPoll: waits until at least one entry has an event, fills every entry's `revents` and
 * resolves with the number of entries whose `revents` is not 0. Level-triggered: a socket
 * reports `POLLRDNORM` (test with `& POLLIN`) while data, the peer's FIN or an error is
 * waiting, and `POLLWRNORM` (`POLLOUT`) while its send queue is below its send buffer.
 * `POLLERR`, `POLLHUP` and `POLLNVAL` (closed locally) are reported whatever `events` asks.
 *
 * `timeoutMs` 0 checks at once; a negative or missing timeout waits until something
 * happens. Resolves with 0 on timeout. As with {@linkcode select}, a call that may wait
 * checks first after the I/O already due in this turn of the event loop. A non-array `fds`
 * or a bad timeout throws at once.
 *
 * Keep POLLOUT in `events` only while output is pending: a socket with room in its send
 * buffer is always writable, so a POLLOUT left on wakes the loop at once, every time.
 *
 * @example
 * ```ts
 * import type { NonBlockingListener } from "sockmodels/nonblocking";
 * import { poll, POLLIN, type PollFd } from "sockmodels/select";
 * declare const listener: NonBlockingListener;
 * const fds: PollFd[] = [{ socket: listener, events: POLLIN, revents: 0 }];
 * const n = await poll(fds, 10_000);
 * if (fds[0].revents & POLLIN) console.log("accept now");
 * ```
 */
export function poll(fds: readonly PollFd[], timeoutMs?: number, options: PollOptions = {}): Promise<number> {
  if (!Array.isArray(fds)) throw new TypeError(`poll takes an array of { socket, events, revents }, got ${typeof fds}`);
  const timeout = checkTimeout(timeoutMs, "poll", true);
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(cancelled("poll", signal));
  if (timeout === 0) return Promise.resolve(fillRevents(fds));

  return new Promise<number>((resolve, reject) => {
    let subscription: PollSubscription | undefined;
    const done = (): boolean => {
      if (!wait.finish()) return false;
      subscription?.wakers.delete(onChange);
      return true;
    };
    const wait: PendingWait = new PendingWait(
      timeout,
      signal,
      () => {
        if (done()) resolve(fillRevents(fds));
      },
      () => {
        if (done()) reject(cancelled("poll", signal));
      },
    );
    // As in select: the first check after this turn's I/O, subscriptions only if still idle.
    const check = (): void => {
      if (wait.aborted) {
        done();
        return reject(cancelled("poll", signal));
      }
      const count = fillRevents(fds);
      if (count > 0) {
        done();
        resolve(count);
      } else if (subscription === undefined) {
        subscription = subscriptionOf(fds);
        subscription.sync();
        subscription.wakers.add(onChange);
        wait.arm();
      }
    };
    const onChange = (): void => wait.schedule(check);
    wait.schedule(check);
  });
}

/**
 * The watch subscriptions of one poll array, kept from call to call. A loop that polls the
 * same array again and again, the usual shape, then subscribes each socket once instead of
 * once per call that sleeps; `sync` brings the subscriptions up to date with the array's
 * entries (an O(n) comparison that allocates only for entries that changed).
 */
class PollSubscription {
  readonly fds: readonly PollFd[];
  /** The pending polls on this array; each is told of every change. */
  readonly wakers = new Set<() => void>();
  /** The entries' sockets and their cores, as of the last `sync`. */
  sockets: (Selectable | null | undefined)[] = [];
  cores: (Watchable | undefined)[] = [];
  /** How many entries name each core, and its unsubscribe. */
  #watched = new Map<Watchable, { count: number; unwatch: () => void }>();
  readonly #onChange = (): void => {
    for (const wake of this.wakers) wake();
  };

  constructor(fds: readonly PollFd[]) {
    this.fds = fds;
  }

  sync(): void {
    const fds = this.fds;
    const cores = this.cores;
    const sockets = this.sockets;
    for (let i = 0; i < fds.length; i++) {
      const socket = fds[i].socket;
      if (sockets[i] === socket && i < cores.length) continue;
      sockets[i] = socket;
      const core = socket === null || socket === undefined ? undefined : coreOf(socket);
      if (cores[i] === core) continue;
      this.#drop(cores[i]);
      cores[i] = core;
      if (core === undefined) continue;
      const entry = this.#watched.get(core);
      if (entry) entry.count++;
      else this.#watched.set(core, { count: 1, unwatch: core.watch(this.#onChange) });
    }
    for (let i = fds.length; i < cores.length; i++) this.#drop(cores[i]);
    cores.length = fds.length;
    sockets.length = fds.length;
  }

  #drop(core: Watchable | undefined): void {
    if (core === undefined) return;
    const entry = this.#watched.get(core)!;
    if (--entry.count > 0) return;
    entry.unwatch();
    this.#watched.delete(core);
  }

  dispose(): void {
    for (const entry of this.#watched.values()) entry.unwatch();
    this.#watched.clear();
    this.cores = [];
    this.sockets = [];
  }
}

/** Poll arrays whose subscriptions are kept: the most recently polled ones. */
const pollSubscriptions = new Map<readonly PollFd[], PollSubscription>();
const KEPT_POLL_ARRAYS = 8;

/**
 * The subscription of `fds`, most recently used last. Beyond the few arrays kept, the least
 * recently polled idle one is dropped, so a loop that builds a new array for every call costs
 * what it did without the cache, and holds on to nothing.
 */
function subscriptionOf(fds: readonly PollFd[]): PollSubscription {
  let subscription = pollSubscriptions.get(fds);
  if (subscription !== undefined) {
    pollSubscriptions.delete(fds);
    pollSubscriptions.set(fds, subscription);
    return subscription;
  }
  subscription = new PollSubscription(fds);
  pollSubscriptions.set(fds, subscription);
  if (pollSubscriptions.size > KEPT_POLL_ARRAYS) {
    for (const [key, old] of pollSubscriptions) {
      if (old.wakers.size > 0) continue;
      pollSubscriptions.delete(key);
      old.dispose();
      break;
    }
  }
  return subscription;
}

// ---- Selector -------------------------------------------------------------------------------

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

/** A growable ring buffer: O(1) push and shift without moving elements. */
class Ring<T> {
  #buf: (T | undefined)[] = new Array(16);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(x: T): void {
    if (this.#size === this.#buf.length) {
      const old = this.#buf;
      const grown: (T | undefined)[] = new Array(old.length * 2);
      for (let i = 0; i < this.#size; i++) grown[i] = old[(this.#head + i) & (old.length - 1)];
      this.#buf = grown;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#size) & (this.#buf.length - 1)] = x;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const x = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#size--;
    return x;
  }

  clear(): void {
    this.#buf = new Array(16);
    this.#head = 0;
    this.#size = 0;
  }
}

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
    if (this.#ready.size > 0) {
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
    while (this.#waiters.length > 0 && this.#ready.size > 0) {
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
    for (let n = ready.size; n > 0 && out.length < max; n--) {
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
