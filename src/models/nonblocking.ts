/**
 * The non-blocking model: `ioctlsocket(FIONBIO)` sockets whose calls never wait. A call that
 * cannot make progress now returns {@linkcode WOULD_BLOCK} (WSAEWOULDBLOCK) and the caller
 * tries again later, usually when select, poll or a Selector says the socket is ready. The
 * send buffer is bounded, so partial sends really happen.
 *
 * @module
 */

import { NetError } from "../runtime/errors.ts";
import { ListenerCore, SocketCore, type SocketCoreOptions } from "../core/socket_core.ts";
import { CoreListener, CoreSocket } from "../core/core_socket.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Transport } from "../runtime/types.ts";

/**
 * Returned when a non-blocking call cannot make progress now, like WSAEWOULDBLOCK.
 *
 * @example
 * ```ts
 * import { type NonBlockingSocket, WOULD_BLOCK } from "sockmodels/nonblocking";
 * declare const sock: NonBlockingSocket;
 * const buf = new Uint8Array(4096);
 * const n = sock.tryRecv(buf);
 * if (n === WOULD_BLOCK) { /* wait for readiness, then try again *\/ }
 * ```
 */
export const WOULD_BLOCK: unique symbol = Symbol("WSAEWOULDBLOCK");

/**
 * The type of {@linkcode WOULD_BLOCK}.
 *
 * @example
 * ```ts
 * function isWouldBlock(x: number | WouldBlock): x is WouldBlock { return x === WOULD_BLOCK; }
 * ```
 */
export type WouldBlock = typeof WOULD_BLOCK;

/**
 * A non-blocking recv on a core: the count copied into `buffer`, 0 at end of stream, or
 * {@linkcode WOULD_BLOCK}; throws the connection's error, or ENOTCONN on a closed socket.
 *
 * @example
 * ```ts
 * import type { SocketCore } from "sockmodels/core";
 * declare const core: SocketCore;
 * const n = tryRecvFrom(core, new Uint8Array(1024));
 * ```
 */
export function tryRecvFrom(core: SocketCore, buffer: Uint8Array): number | WouldBlock {
  if (core.isClosed) throw new NetError("ENOTCONN", "Cannot recv: the socket is closed", { syscall: "recv" });
  if (buffer.byteLength === 0) return 0;
  if (core.available > 0) return core.read(buffer);
  if (core.error) throw core.error;
  if (core.eof) return 0;
  return WOULD_BLOCK;
}

/**
 * Options for non-blocking sockets.
 *
 * @example
 * ```ts
 * const opts: NonBlockingOptions = { sendBufferSize: 4096 };
 * ```
 */
export interface NonBlockingOptions extends SocketCoreOptions {
  /** The transport to use. Default: the runtime's own. */
  transport?: Transport;
}

/**
 * A connected (or connecting) socket whose calls never wait.
 *
 * @example
 * ```ts
 * import { NonBlockingSocket, WOULD_BLOCK } from "sockmodels/nonblocking";
 * const sock = await NonBlockingSocket.connect("127.0.0.1", 9000);
 * const sent = sock.trySend(new TextEncoder().encode("hi")); // a count, or WOULD_BLOCK
 * ```
 */
export class NonBlockingSocket extends CoreSocket {
  /**
   * Starts connecting and returns at once, like a non-blocking `connect` that reported
   * WSAEWOULDBLOCK. The socket becomes writable when connected; a failed connect shows as an
   * error (select's except set, POLLERR).
   */
  static async connect(
    hostname: string,
    port: number,
    options: NonBlockingOptions & { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<NonBlockingSocket> {
    const transport = options.transport ?? await defaultTransport();
    return new NonBlockingSocket(SocketCore.connect(transport, hostname, port, options));
  }

  /** True once the connection is up. */
  get connected(): boolean {
    return this.core.stream !== undefined;
  }

  /**
   * Copies waiting bytes into `buffer`. Returns the count, 0 once the peer has closed and
   * everything was read, or WOULD_BLOCK if nothing is there yet. Throws the connection's
   * NetError.
   */
  tryRecv(buffer: Uint8Array): number | WouldBlock {
    return tryRecvFrom(this.core, buffer);
  }

  /**
   * Copies as many bytes as the send buffer has room for and returns the count (possibly
   * fewer than `bytes.byteLength`: a partial send), or WOULD_BLOCK if the buffer is full or the
   * socket is still connecting. Throws the connection's NetError, or EPIPE after shutdown.
   */
  trySend(bytes: Uint8Array): number | WouldBlock {
    const core = this.core;
    if (core.error) throw core.error;
    if (core.isClosed) throw new NetError("ENOTCONN", "Cannot send: the socket is closed", { syscall: "send" });
    if (core.connecting) return WOULD_BLOCK;
    if (bytes.byteLength === 0) return 0;
    const room = core.sendSpace;
    if (room === 0) {
      // An empty write arms the drain notification, so watchers hear when room frees
      // (and it throws EPIPE on a socket that was shut down).
      core.write(new Uint8Array(0));
      return WOULD_BLOCK;
    }
    const n = Math.min(room, bytes.byteLength);
    core.write(bytes.slice(0, n));
    return n;
  }
}

/**
 * A listening socket whose `tryAccept` never waits.
 *
 * @example
 * ```ts
 * import { NonBlockingListener, WOULD_BLOCK } from "sockmodels/nonblocking";
 * const listener = await NonBlockingListener.listen({ port: 9000 });
 * const sock = listener.tryAccept();
 * if (sock !== WOULD_BLOCK) console.log("accepted", sock.remoteAddr);
 * ```
 */
export class NonBlockingListener extends CoreListener {
  /** Binds and listens. */
  static async listen(
    options: NonBlockingOptions & { hostname?: string; port: number; backlog?: number },
  ): Promise<NonBlockingListener> {
    const transport = options.transport ?? await defaultTransport();
    return new NonBlockingListener(await ListenerCore.listen(transport, options));
  }

  /** The next pending connection, or WOULD_BLOCK. Throws ENOTCONN once closed. */
  tryAccept(): NonBlockingSocket | WouldBlock {
    if (this.core.isClosed) {
      throw new NetError("ENOTCONN", "Cannot accept: the listener is closed", { syscall: "accept" });
    }
    const core = this.core.accept();
    return core ? new NonBlockingSocket(core) : WOULD_BLOCK;
  }
}
