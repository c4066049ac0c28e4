/**
 * sockmodels: the socket I/O models of Windows network programming on Deno, Bun and Node.
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
