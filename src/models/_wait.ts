/**
 * What select, poll and the Selector share: finding a socket's core, reading its readiness
 * bits, checking timeouts, and the pending wait that wakes on the cores' notifications.
 *
 * @module
 */

import { ListenerCore, SocketCore, type Watchable, WatchedCore } from "../core/socket_core.ts";
import { NetError } from "../runtime/errors.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLRDNORM, POLLWRNORM, type Selectable } from "./readiness.ts";

/** The bits reported whatever the interest. */
export const ALWAYS = POLLERR | POLLHUP | POLLNVAL;
/** The bits a Selector registration may ask for. */
export const INTEREST_BITS = POLLIN | POLLOUT | POLLERR | POLLHUP;
/** The largest delay a timer can take on every runtime. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function isWatchable(x: unknown): x is Watchable {
  return typeof x === "object" && x !== null &&
    typeof (x as Watchable).watch === "function" && typeof (x as Watchable).readiness === "function";
}

/** The core of a socket, listener or core; throws a TypeError for anything else. */
export function coreOf(s: Selectable): Watchable {
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
export function readyBits(w: Watchable, want: number): number {
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

/** The error of a wait on a socket that was closed: WSAENOTSOCK's EINVAL. */
export function notASocket(op: string, core: Watchable): NetError {
  return new NetError(
    "EINVAL",
    `Cannot ${op}: socket #${core.id} was closed locally, so it is not a socket any more (Winsock WSAENOTSOCK)`,
    { syscall: op },
  );
}

/** The error of a wait that `signal` aborted. */
export function cancelled(op: string, signal: AbortSignal | undefined): NetError {
  return new NetError("ECANCELED", `The ${op} was cancelled`, { syscall: op, cause: signal?.reason });
}

/** Checks a timeout; returns undefined for "wait forever". */
export function checkTimeout(
  timeoutMs: number | undefined,
  op: string,
  negativeIsInfinite: boolean,
): number | undefined {
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
export type Deferred = unknown;

/**
 * Runs `fn` in a later macrotask: after the I/O callbacks of this turn of the event loop, so
 * that one check sees every socket that became ready meanwhile. `setImmediate` where the
 * runtime has it, else a zero timer.
 */
export function defer(fn: () => void): Deferred {
  return immediate ? host.setImmediate!(fn) : setTimeout(fn, 0);
}

/** Cancels what {@linkcode defer} scheduled, if it has not run. */
export function cancelDeferred(d: Deferred): void {
  if (immediate) host.clearImmediate!(d);
  else clearTimeout(d as ReturnType<typeof setTimeout>);
}

type WatchList = (Watchable | (() => void) | undefined)[];
const spareWatchLists: WatchList[] = [];
const MAX_SPARE_WATCH_LISTS = 32;
/** Longer lists (a wait on tens of thousands of sockets) are left to the collector. */
const MAX_SPARE_WATCH_LIST_LENGTH = 16_384;

/**
 * One pending wait: a timer, an abort listener, watch subscriptions and a deferred check, all
 * released by `finish` exactly once. The timer and the abort listener are set up by `arm`,
 * only when the wait goes to sleep: a wait that a deferred check ends creates neither.
 */
export class PendingWait {
  done = false;
  #armed = false;
  #start: number;
  #timeoutMs: number | undefined;
  #signal: AbortSignal | undefined;
  #onTimeout: () => void;
  #onAbort: () => void;
  #deferred: Deferred | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Per watch: the core and its callback (a WatchedCore, as SocketCore and ListenerCore are),
   * or an unwatch function; `#watched` entries are in use. The array comes from a pool and goes
   * back to it.
   */
  #unwatch: WatchList | undefined;
  #watched = 0;

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
    const unwatch = this.#unwatch ??= spareWatchLists.pop() ?? [];
    if (core instanceof WatchedCore) {
      core.addWatcher(fn);
      unwatch[this.#watched++] = core;
      unwatch[this.#watched++] = fn;
    } else unwatch[this.#watched++] = core.watch(fn);
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
    if (unwatch) {
      const watched = this.#watched;
      for (let i = 0; i < watched; i++) {
        const entry = unwatch[i];
        if (typeof entry === "function") entry();
        else (entry as Watchable & WatchedCore).unwatch(unwatch[++i] as () => void);
      }
      // Back to the pool with its room kept, so that a loop of waits on thousands of sockets
      // does not leave an array behind each time.
      unwatch.fill(undefined, 0, watched);
      if (spareWatchLists.length < MAX_SPARE_WATCH_LISTS && unwatch.length <= MAX_SPARE_WATCH_LIST_LENGTH) {
        spareWatchLists.push(unwatch);
      }
    }
    this.#unwatch = undefined;
    this.#watched = 0;
    return true;
  }
}
