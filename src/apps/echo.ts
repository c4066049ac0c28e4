/**
 * The echo: one application, `onFrame: (peer, frame) => peer.send(frame)`, that runs on every
 * host, and the framings it speaks. `startEcho("poll", { framing: "lp4" })` is what
 * `sockmodels serve echo --model poll --framing lp4` runs.
 *
 * @module
 */

import { delimited, lengthPrefixed, varint } from "../framing/mod.ts";
import { rawChunks } from "../framing/raw.ts";
import type { FrameCodec } from "../framing/types.ts";
import { type HostModel, startHost } from "../hosts/mod.ts";
import type { PeerApp, PeerHost } from "../hosts/types.ts";
import type { TlsServerOptions, Transport } from "../runtime/types.ts";

/**
 * The framings of the echo servers: raw bytes (every chunk read is echoed as it is), frames
 * with a 4-byte big-endian length (`lp4`), frames with a LEB128 length (`varint`), or lines
 * ending in `\n` (`lines`).
 *
 * @example
 * ```ts
 * const framing: EchoFraming = "lp4";
 * ```
 */
export type EchoFraming = "raw" | "lp4" | "varint" | "lines";

/**
 * Every echo framing, in the order the command line lists them.
 *
 * @example
 * ```ts
 * console.log(ECHO_FRAMINGS.join("|")); // raw|lp4|varint|lines
 * ```
 */
export const ECHO_FRAMINGS: readonly EchoFraming[] = ["raw", "lp4", "varint", "lines"];

/**
 * Options every echo server takes.
 *
 * @example
 * ```ts
 * const options: EchoServerOptions = { hostname: "127.0.0.1", port: 0, framing: "lp4" };
 * ```
 */
export interface EchoServerOptions {
  /** The transport. Default: the runtime's own. */
  transport?: Transport;
  /** The address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** The port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** Serve TLS: certificate, key, and optionally client certificates and ALPN. */
  tls?: TlsServerOptions;
  /** The framing. Default raw. */
  framing?: EchoFraming;
  /** The select host's FD_SETSIZE (see `SelectHostOptions.setSize`); other models ignore it. */
  setSize?: number;
  /** The engine's concurrent handlers (see `EngineHostOptions.workers`); other models ignore it. */
  workers?: number;
}

/**
 * A running echo server: a host running the echo.
 *
 * @example
 * ```ts
 * const server: EchoServer = await startEcho("engine", { port: 0 });
 * console.log(server.addr.port);
 * await server.close();
 * ```
 */
export type EchoServer = PeerHost;

/**
 * The largest frame the echo servers accept (the conformance suite sends 8 MiB).
 *
 * @example
 * ```ts
 * if (length > MAX_ECHO_FRAME) throw new RangeError(`Frame of ${length} bytes is too large`);
 * ```
 */
export const MAX_ECHO_FRAME: number = 16 * 1024 * 1024;

/**
 * The lp4 codec: a 4-byte big-endian length, then the payload, up to {@linkcode MAX_ECHO_FRAME}.
 *
 * @example
 * ```ts
 * const wire = lp4().encode(new TextEncoder().encode("hi")); // [0, 0, 0, 2, 104, 105]
 * ```
 */
export function lp4(): FrameCodec {
  return lengthPrefixed({ lengthFieldLength: 4, maxFrameLength: MAX_ECHO_FRAME });
}

/**
 * The codec of a framing, or undefined for `raw` (no frames; the echo then uses
 * `rawChunks()`).
 *
 * @example
 * ```ts
 * const codec = echoCodec("lines"); // lines ending in "\n", up to 16 MiB
 * ```
 */
export function echoCodec(framing: EchoFraming | undefined): FrameCodec | undefined {
  switch (framing ?? "raw") {
    case "raw":
      return undefined;
    case "lp4":
      return lp4();
    case "varint":
      return varint({ maxFrameLength: MAX_ECHO_FRAME });
    case "lines":
      return delimited({ delimiter: "\n", maxFrameLength: MAX_ECHO_FRAME });
    default:
      throw new RangeError(`Echo framing must be one of ${ECHO_FRAMINGS.join(", ")}, got ${JSON.stringify(framing)}`);
  }
}

/**
 * The echo application: every frame goes back to its sender.
 *
 * @example
 * ```ts
 * import { startHost } from "sockmodels/hosts";
 * import { lengthPrefixed } from "sockmodels/framing";
 * const host = await startHost("iocp", { port: 0, codec: lengthPrefixed(), app: ECHO_APP });
 * await host.close();
 * ```
 */
export const ECHO_APP: PeerApp = {
  onFrame: (peer, frame) => peer.send(frame),
};

/**
 * Starts the echo on a model's host, or on the bare adapter.
 *
 * @throws {RangeError} For an unknown model or framing.
 *
 * @example
 * ```ts
 * const server = await startEcho("poll", { port: 0, framing: "lp4" });
 * await server.close();
 * ```
 */
export function startEcho(model: HostModel, options: EchoServerOptions = {}): Promise<EchoServer> {
  let codec: FrameCodec;
  try {
    codec = echoCodec(options.framing) ?? rawChunks();
  } catch (error) {
    return Promise.reject(error);
  }
  const { framing: _framing, ...hostOptions } = options;
  return startHost(model, { ...hostOptions, codec, app: ECHO_APP });
}
