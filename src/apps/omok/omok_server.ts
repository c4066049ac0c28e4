/**
 * The omok server: {@linkcode OmokTable} on the peer host of a chosen model (the engine by
 * default), speaking lines.
 *
 * @module
 */

import { delimited } from "../../framing/mod.ts";
import type { Addr, TlsServerOptions, Transport } from "../../runtime/types.ts";
import { type HostModel, startHost } from "../../hosts/mod.ts";
import { MAX_OMOK_LINE, OmokTable, type OmokTableOptions } from "./omok_table.ts";
import type { ClientLimits } from "../../hosts/types.ts";

export { MAX_OMOK_LINE };

/**
 * Options of {@linkcode startOmokServer}.
 *
 * @example
 * ```ts
 * const options: OmokServerOptions = { port: 9001, graceMs: 30_000 };
 * ```
 */
export interface OmokServerOptions extends OmokTableOptions, ClientLimits {
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /** The address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** The port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** Serve TLS: certificate, key, and optionally client certificates and ALPN. */
  tls?: TlsServerOptions;
  /** The I/O model. Default engine. */
  model?: HostModel;
}

/**
 * A running omok server.
 *
 * @example
 * ```ts
 * const server: OmokServer = await startOmokServer({ port: 0 });
 * console.log(server.addr.port, server.table.playing);
 * await server.close();
 * ```
 */
export interface OmokServer {
  /** The bound address. */
  readonly addr: Addr;
  /** The table: seats, spectators and the game. */
  readonly table: OmokTable;
  /** Stops accepting, closes every client and resolves once done. */
  close(): Promise<void>;
}

/**
 * Starts the omok server.
 *
 * @example
 * ```ts
 * const server = await startOmokServer({ port: 9001 });
 * // then: sockmodels client omok --port 9001, twice
 * await server.close();
 * ```
 */
export async function startOmokServer(options: OmokServerOptions = {}): Promise<OmokServer> {
  const table = new OmokTable(options);
  const host = await startHost(options.model ?? "engine", {
    transport: options.transport,
    hostname: options.hostname,
    port: options.port,
    tls: options.tls,
    codec: delimited({ delimiter: "\n", maxFrameLength: MAX_OMOK_LINE }),
    // The table decides what a slow client costs.
    highWaterMark: Infinity,
    app: table,
    maxConnections: options.maxConnections,
    idleTimeoutMs: options.idleTimeoutMs,
    onRefused: options.onRefused,
  });
  let closing: Promise<void> | undefined;
  return {
    addr: host.addr,
    table,
    close() {
      return closing ??= (async () => {
        table.close();
        await host.close();
      })();
    },
  };
}
