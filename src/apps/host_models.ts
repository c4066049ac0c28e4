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
export const HOST_MODELS: readonly HostModel[] = ["engine", "iocp", "select", "blocking", "event-select", "async-select"];

const STARTERS: Record<HostModel, (options: PeerHostOptions) => Promise<PeerHost>> = {
  "engine": startEngineHost,
  "iocp": startIocpHost,
  "select": startSelectHost,
  "blocking": startBlockingHost,
  "event-select": startEventSelectHost,
  "async-select": startAsyncSelectHost,
};

/**
 * Starts the peer host of a model.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * const host = await startPeerHost("event-select", { port: 0, codec: delimited(), app: { onFrame() {} } });
 * await host.close();
 * ```
 */
export function startPeerHost(model: HostModel, options: PeerHostOptions): Promise<PeerHost> {
  const start = Object.hasOwn(STARTERS, model) ? STARTERS[model] : undefined;
  if (start === undefined) {
    return Promise.reject(
      new RangeError(`Host model must be one of ${HOST_MODELS.join(", ")}, got ${JSON.stringify(model)}`),
    );
  }
  return start(options);
}
