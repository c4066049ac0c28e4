/**
 * N worker processes on one port, kept by a supervisor: {@linkcode startProcessGroup} starts,
 * restarts, drains and replaces them, and {@linkcode groupWorker} tells a worker its number
 * and how to listen. `sockmodels serve … --processes N` is built on it.
 *
 * @example
 * ```ts
 * import { startProcessGroup } from "./mod.ts";
 * const group = await startProcessGroup({
 *   processes: 2,
 *   port: 0,
 *   sharing: "reuse-port",
 *   command: (port) => ({ command: "bun", args: ["server.ts", "--port", String(port)] }),
 * });
 * await group.stop();
 * ```
 *
 * @module
 */

export * from "./process_group.ts";
