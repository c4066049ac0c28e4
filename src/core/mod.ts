/**
 * The socket core under every model: one `SocketCore` per socket (a bounded receive buffer,
 * the adapter stream's send queue, level readiness and change notification), `ListenerCore`
 * for a listener, and `waitUntil`; and `CoreSocket` and `CoreListener`, the part of the blocking
 * and non-blocking sockets that does not depend on whether calls wait.
 *
 * @example
 * ```ts
 * import { ListenerCore, SocketCore } from "sockmodels/core";
 * declare const core: SocketCore;
 * declare const listener: ListenerCore;
 * console.log(core.readiness(), listener.readiness());
 * ```
 *
 * @module
 */

export * from "./socket_core.ts";
export * from "./core_socket.ts";
