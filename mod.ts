/**
 * sockmodels: the socket I/O models of Windows network programming on Deno, Bun and Node.
 *
 * The root exports the runtime adapter (`defaultTransport`, `Transport`, `Stream`), its
 * errors (`NetError`) and the framer (codecs such as `lengthPrefixed`, `writeFrame`). The
 * rest is in subpaths, one per folder of the source tree:
 *
 * | subpath                                  | what                                                         |
 * | ---------------------------------------- | ------------------------------------------------------------ |
 * | `sockmodels/runtime`, `…/deno`, `…/bun`, `…/node`, `…/memory` | the adapter and one transport each            |
 * | `sockmodels/errors`                      | `NetError` and its helpers                                   |
 * | `sockmodels/framing`                     | the codecs                                                   |
 * | `sockmodels/core`                        | `SocketCore`, the state every model is a view of             |
 * | `sockmodels/models`                      | every I/O model; each is also at a subpath of its own:       |
 * | `sockmodels/blocking`, `…/nonblocking`, `…/select`, `…/event-select`, `…/async-select`, `…/iocp` | one I/O model each |
 * | `sockmodels/hosts`                       | one server loop per model, running any application           |
 * | `sockmodels/engine`                      | `serve()`, the completion engine, and the thread pool        |
 * | `sockmodels/resilience`                  | timeouts, backoff, retry, reconnects, Happy Eyeballs         |
 *
 * @example
 * ```ts
 * import { defaultTransport, NetError } from "sockmodels";
 * const transport = await defaultTransport();
 * try {
 *   await transport.connect({ hostname: "127.0.0.1", port: 1, timeoutMs: 1000 });
 * } catch (e) {
 *   if (e instanceof NetError) console.log(e.code, e.winsockName); // ECONNREFUSED WSAECONNREFUSED
 * }
 * ```
 *
 * @module
 */

export * from "./src/runtime/mod.ts";
export * from "./src/framing/mod.ts";
