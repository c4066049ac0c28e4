/**
 * The readiness flags of poll and the Selector (WSAPoll's POLL* bits), and what select, poll and
 * the Selector can wait on.
 *
 * @module
 */

import type { Watchable } from "../core/socket_core.ts";

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
