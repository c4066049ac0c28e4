/**
 * What every model's echo server shares: its options, the running server it returns, and the
 * framings it speaks.
 *
 * @module
 */

import { delimited, lengthPrefixed, varint } from "../framing/mod.ts";
import type { FrameCodec, FrameDecoder } from "../framing/mod.ts";
import type { Addr, Transport } from "../runtime/types.ts";

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
  /** The framing. Default raw. */
  framing?: EchoFraming;
}

/**
 * A running echo server.
 *
 * @example
 * ```ts
 * import { startEngineEcho } from "./echo_engine.ts";
 * const server: EchoServer = await startEngineEcho({ port: 0 });
 * console.log(server.addr.port);
 * await server.close();
 * ```
 */
export interface EchoServer {
  /** The bound address. */
  readonly addr: Addr;
  /** Stops accepting, closes every connection and resolves once all is closed. */
  close(): Promise<void>;
}

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
 * The codec of a framing, or undefined for `raw` (no frames).
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
 * The wire form of one echoed frame as parts to send in order: the codec's header, the frame
 * itself, and the trailer where the codec has one (a line's `\n`).
 *
 * @example
 * ```ts
 * const parts = framedParts(echoCodec("lines")!, new TextEncoder().encode("hi")); // ["", "hi", "\n"]
 * ```
 */
export function framedParts(codec: FrameCodec, frame: Uint8Array): Uint8Array[] {
  return codec.trailer.byteLength === 0
    ? [codec.encodeHeader(frame), frame]
    : [codec.encodeHeader(frame), frame, codec.trailer];
}

/**
 * The wire form of several frames, joined in one new buffer.
 *
 * @example
 * ```ts
 * const text = new TextEncoder();
 * const wire = framedBytes(echoCodec("lines")!, [text.encode("a"), text.encode("b")]); // "a\nb\n"
 * ```
 */
export function framedBytes(codec: FrameCodec, frames: readonly Uint8Array[]): Uint8Array {
  const parts = frames.flatMap((frame) => framedParts(codec, frame));
  let size = 0;
  for (const part of parts) size += part.byteLength;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * A codec without frames: every chunk read is one message, sent back as it is. The engine
 * and the chat servers use it for `raw`.
 *
 * @example
 * ```ts
 * const codec = rawChunkCodec();
 * console.log(codec.decoder().push(new Uint8Array([1, 2])).length); // 1
 * ```
 */
export function rawChunkCodec(): FrameCodec {
  return RAW_CHUNKS;
}

const EMPTY = new Uint8Array(0);
const RAW_CHUNKS: FrameCodec = {
  name: "raw",
  trailer: EMPTY,
  decoder(): FrameDecoder {
    return {
      push: (chunk: Uint8Array) => [chunk],
      end() {},
      buffered: 0,
      error: undefined,
    };
  },
  encode: (payload: Uint8Array) => payload,
  encodeHeader: () => EMPTY,
  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    if (target.length - offset < payload.length) return -1;
    target.set(payload, offset);
    return payload.length;
  },
};
