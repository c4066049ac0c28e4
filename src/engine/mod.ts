/**
 * The engine: `serve()`, the completion-queue server people deploy.
 *
 * @example
 * ```ts
 * import { serve } from "sockmodels/engine";
 * import { lengthPrefixed } from "sockmodels/framing";
 * const server = await serve({
 *   port: 9000,
 *   framer: lengthPrefixed({ lengthFieldLength: 4 }),
 *   onMessage: (conn, frame) => void conn.send(frame),
 * });
 * ```
 *
 * @module
 */

export * from "./server.ts";
export * from "./thread_pool.ts";
