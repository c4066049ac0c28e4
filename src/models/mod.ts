/**
 * The socket I/O models, each also at a subpath of its own:
 *
 * | subpath                    | model                                                        |
 * |----------------------------|--------------------------------------------------------------|
 * | `sockmodels/blocking`      | blocking sockets: `accept`, `recv` and `send` that wait      |
 * | `sockmodels/nonblocking`   | non-blocking sockets: every call returns at once, or `WOULD_BLOCK` |
 * | `sockmodels/select`        | `select` with `FdSet`, `poll`, and an epoll-like `Selector`  |
 * | `sockmodels/event-select`  | WSAEventSelect: event objects and `waitForMultipleEvents`    |
 * | `sockmodels/async-select`  | WSAAsyncSelect and CAsyncSocket: window messages from a message loop |
 * | `sockmodels/iocp`          | Overlapped I/O and I/O completion ports                      |
 *
 * @example
 * ```ts
 * import { FdSet, NonBlockingListener, select } from "sockmodels/models";
 * const listener = await NonBlockingListener.listen({ hostname: "127.0.0.1", port: 0 });
 * const readSet = new FdSet<NonBlockingListener>();
 * readSet.add(listener);
 * const ready = await select(readSet, null, null, { timeoutMs: 10 });
 * console.log(ready); // 0: nobody connected
 * await listener.close();
 * ```
 *
 * @module
 */

export * from "./blocking.ts";
export * from "./nonblocking.ts";
export * from "./select.ts";
export * from "./event_select.ts";
export * from "./async_select.ts";
export * from "./iocp.ts";
