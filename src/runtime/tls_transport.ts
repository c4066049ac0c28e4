/**
 * TLS for everything built on a transport: a wrapper that adds TLS options to every listen
 * and connect, so that every model, host, engine and app gets TLS without knowing of it.
 *
 * @module
 */

import { NetError } from "./errors.ts";
import type {
  ConnectOptions,
  ListenOptions,
  TlsClientOptions,
  TlsServerOptions,
  Transport,
  TransportCapabilities,
  TransportName,
} from "./types.ts";

/**
 * What {@linkcode tlsTransport} adds: `server` to every listen, `client` to every connect.
 *
 * @example
 * ```ts
 * declare const cert: string, key: string, ca: string;
 * const options: TlsTransportOptions = { server: { cert, key }, client: { ca } };
 * ```
 */
export interface TlsTransportOptions {
  /** Added to every `listen` that has no `tls` of its own. */
  server?: TlsServerOptions;
  /** Added to every `connect` that has no `tls` of its own. */
  client?: TlsClientOptions;
}

/**
 * Wraps `inner` so that its listeners serve TLS and its connections speak it. A listen or
 * connect that brings its own `tls` keeps it. Throws a `NetError` (ENOTSUP) at once if `inner`
 * has no TLS here (`capabilities.tls`).
 *
 * @example
 * ```ts
 * import { defaultTransport, tlsTransport } from "sockmodels/runtime";
 * import { startHost } from "sockmodels/hosts";
 * import { delimited } from "sockmodels/framing";
 * declare const cert: string, key: string;
 * const transport = tlsTransport(await defaultTransport(), { server: { cert, key } });
 * const host = await startHost("iocp", {
 *   transport,
 *   port: 0,
 *   codec: delimited(),
 *   app: { onFrame: (peer, frame) => peer.send(frame) },
 * });
 * await host.close();
 * ```
 */
export function tlsTransport(inner: Transport, options: TlsTransportOptions): Transport {
  if (!inner.capabilities.tls) {
    throw new NetError("ENOTSUP", `The ${inner.name} transport has no TLS on this runtime`);
  }
  const { server, client } = options;
  return {
    get name(): TransportName {
      return inner.name;
    },
    get capabilities(): TransportCapabilities {
      return inner.capabilities;
    },
    listen: (listen: ListenOptions) => inner.listen(server && !listen.tls ? { ...listen, tls: server } : listen),
    connect: (connect: ConnectOptions) => inner.connect(client && !connect.tls ? { ...connect, tls: client } : connect),
    bindDatagram: (datagram) => inner.bindDatagram(datagram),
  };
}
