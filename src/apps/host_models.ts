/**
 * Every peer host by the name of its model, for the chat and omok servers.
 *
 * @module
 */

import { startAsyncSelectHost } from "./host_async_select.ts";
import { startBlockingHost } from "./host_blocking.ts";
import { startEngineHost } from "./host_engine.ts";
import { startEventSelectHost } from "./host_event_select.ts";
import { startIocpHost } from "./host_iocp.ts";
import { startSelectHost } from "./host_select.ts";
import type { PeerHost, PeerHostOptions } from "./peer_host.ts";
import { IdlePeers } from "./idle_peers.ts";
import { guardConnections } from "../runtime/connection_guard.ts";
import { defaultTransport } from "../runtime/detect.ts";

/**
 * The models a peer host runs on, as the command line spells them.
 *
 * @example
 * ```ts
 * const model: HostModel = "iocp";
 * ```
 */
export type HostModel = "engine" | "iocp" | "select" | "blocking" | "event-select" | "async-select";

/**
 * Every host model; the engine first, as the default.
 *
 * @example
 * ```ts
 * console.log(HOST_MODELS.join("|")); // engine|iocp|select|blocking|event-select|async-select
 * ```
 */
export const HOST_MODELS: readonly HostModel[] = [
  "engine",
  "iocp",
  "select",
  "blocking",
  "event-select",
  "async-select",
];

const STARTERS: Record<HostModel, (options: PeerHostOptions) => Promise<PeerHost>> = {
  "engine": startEngineHost,
  "iocp": startIocpHost,
  "select": startSelectHost,
  "blocking": startBlockingHost,
  "event-select": startEventSelectHost,
  "async-select": startAsyncSelectHost,
};

/**
 * Starts the peer host of a model, with the connection limit and idle timeout of `options`
 * applied the same way on every model.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startPeerHost("event-select", { port: 0, codec: delimited(), app: { onFrame() {} } });
 * await host.close();
 * ```
 */
export async function startPeerHost(model: HostModel, options: PeerHostOptions): Promise<PeerHost> {
  const start = Object.hasOwn(STARTERS, model) ? STARTERS[model] : undefined;
  if (start === undefined) {
    throw new RangeError(`Host model must be one of ${HOST_MODELS.join(", ")}, got ${JSON.stringify(model)}`);
  }
  const { maxConnections, idleTimeoutMs, onRefused } = options;
  let transport = options.transport;
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
  return {
    addr: host.addr,
    async close() {
      idle?.stop();
      await host.close();
    },
  };
}
