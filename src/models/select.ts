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

import type { Watchable } from "../core/socket_core.ts";
import { cancelled, checkTimeout, notASocket, PendingWait, readyBits } from "./_wait.ts";
import { coresOf, FdSet, retainReady } from "./fd_set.ts";
import { POLLERR, POLLNVAL, POLLRDNORM, POLLWRNORM } from "./readiness.ts";

export type { Readiness, Watchable } from "../core/socket_core.ts";
export * from "./readiness.ts";
export { FD_SETSIZE, FdSet, type FdSetOptions } from "./fd_set.ts";
export * from "./poll.ts";
export * from "./selector.ts";

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
 * Flag arrays of finished calls, for the next ones: a server that selects in a loop over
 * thousands of sockets would otherwise leave a buffer behind on every pass.
 */
const spareFlags: Uint8Array[] = [];
const MAX_SPARE_FLAGS = 64;

function takeFlags(size: number): Uint8Array {
  const spare = spareFlags.pop();
  return spare !== undefined && spare.length >= size ? spare : new Uint8Array(Math.max(size, 64));
}

function returnFlags(flags: Uint8Array): void {
  if (spareFlags.length < MAX_SPARE_FLAGS) spareFlags.push(flags);
}

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
  let ready = takeFlags(total);

  /** Fills `ready`; returns the count, or the first socket found closed. */
  const scan = (): number | Watchable => {
    let size = 0;
    for (let k = 0; k < 3; k++) size += sets[k]?.size ?? 0;
    if (size > ready.length) ready = new Uint8Array(size); // a set grew during the wait
    let count = 0;
    let at = 0;
    for (let k = 0; k < 3; k++) {
      const set = sets[k];
      if (set === undefined) continue;
      const cores = coresOf(set);
      const bit = SET_BIT[k];
      for (let i = 0, n = set.size; i < n; i++, at++) {
        const bits = readyBits(cores[i], bit);
        if (bits & POLLNVAL) return cores[i];
        const r = bits & bit ? 1 : 0;
        ready[at] = r;
        count += r;
      }
    }
    return count;
  };
  /** Leaves in the sets their ready members, and gives the flags back. */
  const apply = (): void => {
    let at = 0;
    for (let k = 0; k < 3; k++) {
      const set = sets[k];
      if (set === undefined) continue;
      const size = set.size;
      retainReady(set, ready, at);
      at += size;
    }
    returnFlags(ready);
  };

  if (signal?.aborted) {
    returnFlags(ready);
    return Promise.reject(cancelled("select", signal));
  }
  for (const set of sets) {
    if (set === undefined) continue;
    const cores = coresOf(set);
    for (let i = 0, n = set.size; i < n; i++) {
      if (cores[i].isClosed) {
        returnFlags(ready);
        return Promise.reject(notASocket("select", cores[i]));
      }
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
        if (!wait.finish()) return;
        returnFlags(ready);
        reject(cancelled("select", signal));
      },
    );
    // The first check runs after this turn's I/O, so that one call sees everything that became
    // ready in it; under load something is ready by then, and no subscription is ever made.
    // Otherwise every change schedules one check, again after the turn's I/O.
    const check = (): void => {
      if (wait.aborted) {
        wait.finish();
        returnFlags(ready);
        return reject(cancelled("select", signal));
      }
      const result = scan();
      if (typeof result !== "number") {
        wait.finish();
        returnFlags(ready);
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
          for (let i = 0, n = set.size; i < n; i++) wait.watch(cores[i], onChange);
        }
        wait.arm();
      }
    };
    const onChange = (): void => wait.schedule(check);
    wait.schedule(check);
  });
}
