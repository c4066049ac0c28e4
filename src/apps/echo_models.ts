/**
 * Every model's echo server by name, for the command line and the benchmark.
 *
 * @module
 */

import { startAdapterEcho } from "./echo_adapter.ts";
import { startAsyncSelectEcho } from "./echo_async_select.ts";
import { startBlockingEcho } from "./echo_blocking.ts";
import { startEngineEcho } from "./echo_engine.ts";
import { startEventSelectEcho } from "./echo_event_select.ts";
import type { EchoServer, EchoServerOptions } from "./echo_framing.ts";
import { startIocpEcho } from "./echo_iocp.ts";
import { startNonBlockingEcho } from "./echo_nonblocking.ts";
import { startPollEcho } from "./echo_poll.ts";
import { startSelectEcho } from "./echo_select.ts";
import { startSelectorEcho } from "./echo_selector.ts";

/**
 * The names of the echo servers' models, as the command line spells them.
 *
 * @example
 * ```ts
 * const model: EchoModel = "event-select";
 * ```
 */
export type EchoModel =
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
 * An echo server's name: a model, or `"adapter"`, the bare runtime adapter the models are
 * measured against.
 *
 * @example
 * ```ts
 * const server: EchoServerName = "adapter";
 * ```
 */
export type EchoServerName = EchoModel | "adapter";

/**
 * Every echo model, from the simplest to the engine.
 *
 * @example
 * ```ts
 * console.log(ECHO_MODELS.length); // 9
 * ```
 */
export const ECHO_MODELS: readonly EchoModel[] = [
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
 * Every echo server: the adapter baseline, then the models.
 *
 * @example
 * ```ts
 * console.log(ECHO_SERVERS[0]); // "adapter"
 * ```
 */
export const ECHO_SERVERS: readonly EchoServerName[] = ["adapter", ...ECHO_MODELS];

const STARTERS: Record<EchoServerName, (options: EchoServerOptions) => Promise<EchoServer>> = {
  "adapter": startAdapterEcho,
  "blocking": startBlockingEcho,
  "nonblocking": startNonBlockingEcho,
  "select": startSelectEcho,
  "poll": startPollEcho,
  "selector": startSelectorEcho,
  "event-select": startEventSelectEcho,
  "async-select": startAsyncSelectEcho,
  "iocp": startIocpEcho,
  "engine": startEngineEcho,
};

/**
 * Starts the echo server of a model, or the adapter baseline.
 *
 * @example
 * ```ts
 * const server = await startModelEcho("poll", { port: 0, framing: "lp4" });
 * await server.close();
 * ```
 */
export function startModelEcho(model: EchoServerName, options: EchoServerOptions = {}): Promise<EchoServer> {
  const start = Object.hasOwn(STARTERS, model) ? STARTERS[model] : undefined;
  if (start === undefined) {
    return Promise.reject(
      new RangeError(`Echo model must be one of ${ECHO_SERVERS.join(", ")}, got ${JSON.stringify(model)}`),
    );
  }
  return start(options);
}
