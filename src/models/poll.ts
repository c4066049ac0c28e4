/**
 * {@linkcode poll}: WSAPoll over an array of `{ socket, events, revents }` entries.
 *
 * @module
 */

import type { Watchable } from "../core/socket_core.ts";
import { ALWAYS, cancelled, checkTimeout, coreOf, PendingWait, readyBits } from "./_wait.ts";
import type { Selectable } from "./readiness.ts";

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
