/**
 * Hosts: one server loop per I/O model, each running any application through one contract
 * ({@linkcode PeerApp} and {@linkcode Peer}). `startHost(model, options)` starts the loop of
 * a model by name; every model runs every application (echo, chat, omok, or your own).
 *
 * | model          | loop                                                                 |
 * |----------------|----------------------------------------------------------------------|
 * | `adapter`      | the bare runtime adapter's callbacks: the baseline the models are measured against |
 * | `blocking`     | a task per client: recv, then send (seed 003's thread per client)   |
 * | `nonblocking`  | one loop that tries every socket in turn                            |
 * | `select`       | `select` over sets rebuilt each pass, in FD_SETSIZE groups (seed 003) |
 * | `poll`         | one `pollfd` array and a READ → WRITE state machine per client (seed 004) |
 * | `selector`     | an edge-triggered, epoll-like Selector                              |
 * | `event-select` | WSAEventSelect: event objects in wait groups of 64 (seed 001)       |
 * | `async-select` | WSAAsyncSelect: window messages from one message loop (seed 001)    |
 * | `iocp`         | an I/O completion port: per-IO contexts, an AcceptEx pipeline, exit packets (seeds 002, 003) |
 * | `engine`       | the completion engine of sockmodels/engine                          |
 *
 * @example
 * ```ts
 * import { startHost } from "sockmodels/hosts";
 * import { delimited } from "sockmodels/framing";
 * const host = await startHost("poll", {
 *   port: 0,
 *   codec: delimited(),
 *   app: { onFrame: (peer, frame) => peer.send(frame) },
 * });
 * console.log(`echoing lines on ${host.addr.port}`);
 * await host.close();
 * ```
 *
 * @module
 */

import { startAdapterHost } from "./adapter.ts";
import { startAsyncSelectHost } from "./async_select.ts";
import { startBlockingHost } from "./blocking.ts";
import { type EngineHostOptions, startEngineHost } from "./engine.ts";
import { startEventSelectHost } from "./event_select.ts";
import { startIocpHost } from "./iocp.ts";
import { startNonBlockingHost } from "./nonblocking.ts";
import { startPollHost } from "./poll.ts";
import { type SelectHostOptions, startSelectHost } from "./select.ts";
import { startSelectorHost } from "./selector.ts";
import type { PeerHost } from "./types.ts";
import { IdlePeers } from "./_idle_peers.ts";
import { guardConnections } from "../runtime/connection_guard.ts";
import { defaultTransport } from "../runtime/detect.ts";
import { tlsTransport } from "../runtime/tls_transport.ts";
import type { TlsServerOptions } from "../runtime/types.ts";

export type { ClientLimits, Peer, PeerApp, PeerHost, PeerHostOptions } from "./types.ts";
export { type EngineHostOptions, startEngineHost } from "./engine.ts";
export { SELECT_HOST_SET_SIZE, type SelectHostOptions, startSelectHost } from "./select.ts";
export {
  startAdapterHost,
  startAsyncSelectHost,
  startBlockingHost,
  startEventSelectHost,
  startIocpHost,
  startNonBlockingHost,
  startPollHost,
  startSelectorHost,
};

/**
 * The I/O models a host runs on, as the command line spells them, and `adapter`, the bare
 * runtime adapter the models are measured against.
 *
 * @example
 * ```ts
 * import type { HostModel } from "sockmodels/hosts";
 * const model: HostModel = "iocp";
 * ```
 */
export type HostModel =
  | "adapter"
  | "blocking"
  | "nonblocking"
  | "select"
  | "poll"
  | "selector"
  | "event-select"
  | "async-select"
  | "iocp"
  | "engine";

/**
 * Every model, from the simplest to the engine, without the adapter baseline.
 *
 * @example
 * ```ts
 * import { MODELS } from "sockmodels/hosts";
 * console.log(MODELS.length); // 9
 * ```
 */
export const MODELS: readonly Exclude<HostModel, "adapter">[] = [
  "blocking",
  "nonblocking",
  "select",
  "poll",
  "selector",
  "event-select",
  "async-select",
  "iocp",
  "engine",
];

/**
 * Every host: the adapter baseline, then the models.
 *
 * @example
 * ```ts
 * import { HOST_MODELS } from "sockmodels/hosts";
 * console.log(HOST_MODELS.join("|")); // adapter|blocking|nonblocking|select|poll|...
 * ```
 */
export const HOST_MODELS: readonly HostModel[] = ["adapter", ...MODELS];

/**
 * The options of {@linkcode startHost}: those of every host, and those of the one model that
 * takes them (`setSize` is select's, `workers` the engine's); the others ignore them.
 *
 * @example
 * ```ts
 * import type { HostOptions } from "sockmodels/hosts";
 * import { lengthPrefixed } from "sockmodels/framing";
 * const options: HostOptions = { port: 0, codec: lengthPrefixed(), app: { onFrame() {} }, setSize: 64 };
 * declare const cert: string, key: string;
 * const overTls: HostOptions = { ...options, tls: { cert, key } };
 * ```
 */
export type HostOptions = SelectHostOptions & EngineHostOptions & {
  /**
   * Serve TLS on whatever model: each client finishes its handshake before the app sees it,
   * and a handshake that fails or stalls closes that client only. Throws a `NetError`
   * (ENOTSUP) if the transport has no TLS here.
   */
  tls?: TlsServerOptions;
};

const STARTERS: Record<HostModel, (options: HostOptions) => Promise<PeerHost>> = {
  "adapter": startAdapterHost,
  "blocking": startBlockingHost,
  "nonblocking": startNonBlockingHost,
  "select": startSelectHost,
  "poll": startPollHost,
  "selector": startSelectorHost,
  "event-select": startEventSelectHost,
  "async-select": startAsyncSelectHost,
  "iocp": startIocpHost,
  "engine": startEngineHost,
};

/**
 * Starts the host of a model, with TLS, the connection limit and the idle timeout of
 * `options` applied the same way on every model.
 *
 * @throws {RangeError} For a model that is not one of {@linkcode HOST_MODELS}, or a
 * `highWaterMark` that is not a positive number.
 *
 * @example
 * ```ts
 * import { startHost } from "sockmodels/hosts";
 * import { delimited } from "sockmodels/framing";
 * const host = await startHost("event-select", { port: 0, codec: delimited(), app: { onFrame() {} } });
 * await host.close();
 * ```
 */
export async function startHost(model: HostModel, options: HostOptions): Promise<PeerHost> {
  const start = Object.hasOwn(STARTERS, model) ? STARTERS[model] : undefined;
  if (start === undefined) {
    throw new RangeError(`Host model must be one of ${HOST_MODELS.join(", ")}, got ${JSON.stringify(model)}`);
  }
  const { maxConnections, idleTimeoutMs, onRefused, highWaterMark } = options;
  if (highWaterMark !== undefined && !(typeof highWaterMark === "number" && highWaterMark > 0)) {
    throw new RangeError(`High water mark must be a positive number of bytes, got ${highWaterMark}`);
  }
  let transport = options.transport;
  if (options.tls) transport = tlsTransport(transport ?? await defaultTransport(), { server: options.tls });
  if (maxConnections !== undefined) {
    transport = guardConnections(transport ?? await defaultTransport(), {
      maxConnections,
      onRefused: onRefused && ((_stream, open) => onRefused(open)),
    });
  }
  const idle = idleTimeoutMs === undefined ? undefined : new IdlePeers(options.app, idleTimeoutMs);
  let host: PeerHost;
  try {
    host = await start({ ...options, transport, app: idle ?? options.app });
  } catch (error) {
    idle?.stop();
    throw error;
  }
  if (!idle) return host;
  return {
    addr: host.addr,
    async close() {
      idle.stop();
      await host.close();
    },
  };
}
