/**
 * The codec without frames: every chunk a read returns is one message, and a message goes out
 * as it is. This is what a plain TCP echo does, and what the models' `raw` framing means.
 *
 * @module
 */

import type { FrameCodec, FrameDecoder } from "./types.ts";

const EMPTY = new Uint8Array(0);

const RAW_DECODER: FrameDecoder = {
  push: (chunk: Uint8Array) => [chunk],
  end() {},
  buffered: 0,
  error: undefined,
  copiesIncompleteFrames: true,
};

const RAW_CHUNKS: FrameCodec = {
  name: "raw",
  trailer: EMPTY,
  decoder: () => RAW_DECODER,
  encode: (payload: Uint8Array) => payload,
  encodeHeader: () => EMPTY,
  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    if (target.length - offset < payload.length) return -1;
    target.set(payload, offset);
    return payload.length;
  },
};

/**
 * The raw-chunk codec: its decoder returns each chunk pushed as one frame (the same array, not
 * a copy), never buffers and never fails; encoding returns the payload itself. Message
 * boundaries are those of the reads, so use it only where they do not matter, as in an echo
 * or a byte relay.
 *
 * @example
 * ```ts
 * import { rawChunks } from "sockmodels/framing";
 * const codec = rawChunks();
 * console.log(codec.decoder().push(new Uint8Array([1, 2])).length); // 1
 * ```
 */
export function rawChunks(): FrameCodec {
  return RAW_CHUNKS;
}
