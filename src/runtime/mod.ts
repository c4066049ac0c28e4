/**
 * The runtime adapter: one socket contract on Deno, Bun, Node and in memory.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "sockmodels/runtime";
 * const transport = await defaultTransport();
 * const listener = await transport.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onAccept(stream) {
 *     stream.setHandlers({ onData: (chunk) => stream.write(chunk) });
 *   },
 * });
 * console.log(`listening on ${listener.addr.hostname}:${listener.addr.port}`);
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export * from "./detect.ts";
export { createMemoryTransport, MemoryStream, MemoryTransport, memoryTransport } from "./memory.ts";
export type { MemoryFaults, MemoryListenOptions } from "./memory.ts";
export { DEFAULT_HIGH_WATER_MARK, DEFAULT_LINGER_MS, type TlsRole } from "./stream_base.ts";
export { type ConnectionGuardOptions, guardConnections } from "./connection_guard.ts";
export { DelegatingStream } from "./delegating_stream.ts";
export { tlsTransport, type TlsTransportOptions } from "./tls_transport.ts";
export { ProxiedStream, proxyProtocol, type ProxyProtocolOptions } from "./proxy_protocol.ts";
export {
  crc32c,
  parseProxyHeader,
  PROXY_V1_MAX_LENGTH,
  type ProxyHeader,
  type ProxySsl,
  type ProxyTlv,
  type ProxyVersion,
} from "./proxy_header.ts";
