/**
 * What the sockets of the blocking and non-blocking models share: the core they wrap, their
 * addresses, and shutdown, close and reset.
 *
 * @module
 */

import type { Addr } from "../runtime/types.ts";
import type { ListenerCore, SocketCore } from "./socket_core.ts";

/**
 * A connected socket over a {@linkcode SocketCore}: the part of `BlockingSocket` and
 * `NonBlockingSocket` that does not depend on whether calls wait.
 *
 * @example
 * ```ts
 * import { CoreSocket } from "sockmodels/core";
 * import { connect } from "sockmodels/blocking";
 * const sock: CoreSocket = await connect("127.0.0.1", 9000);
 * console.log(sock.remoteAddr);
 * sock.shutdown(); // FIN after what is queued
 * await sock.close();
 * ```
 */
export abstract class CoreSocket implements AsyncDisposable {
  /** The socket's state; select, poll and Selector watch it. */
  readonly core: SocketCore;

  /** Wraps a core. */
  constructor(core: SocketCore) {
    this.core = core;
  }

  /** The local address, once connected. */
  get localAddr(): Addr | undefined {
    return this.core.stream?.localAddr;
  }

  /** The peer's address, once connected. */
  get remoteAddr(): Addr | undefined {
    return this.core.stream?.remoteAddr;
  }

  /** shutdown(SD_SEND): FIN after the queued bytes; receiving goes on. */
  shutdown(): void {
    this.core.shutdown();
  }

  /** closesocket: flushes, closes, and resolves once closed. */
  close(): Promise<void> {
    return this.core.close();
  }

  /** Aborts the connection (an RST where the runtime can send one). */
  reset(): void {
    this.core.reset();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * A listening socket over a {@linkcode ListenerCore}: the part of `BlockingListener` and
 * `NonBlockingListener` that does not depend on whether `accept` waits.
 *
 * @example
 * ```ts
 * import { CoreListener } from "sockmodels/core";
 * import { listen } from "sockmodels/blocking";
 * const listener: CoreListener = await listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr.port);
 * await listener.close();
 * ```
 */
export abstract class CoreListener implements AsyncDisposable {
  /** The listener's state; select, poll and Selector watch it. */
  readonly core: ListenerCore;

  /** Wraps a listening core. */
  constructor(core: ListenerCore) {
    this.core = core;
  }

  /** The bound address. */
  get addr(): Addr {
    return this.core.addr;
  }

  /** Stops listening and resets the connections nobody accepted. */
  close(): Promise<void> {
    return this.core.close();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
