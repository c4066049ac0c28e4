/**
 * Ending a decoder without a throw.
 *
 * @module
 */

import { DecoderBase } from "./_internal.ts";
import type { FrameDecoder } from "./types.ts";

/**
 * Declares the end of the stream to `decoder`, and returns the error that its `end()` throws
 * instead of throwing it: a `MalformedFrameError` (reason `"truncated"`) when a partial frame is
 * left, or the error that poisoned it. Returns undefined at a frame boundary.
 *
 * A peer that leaves in the middle of a frame is routine for a server, and a thrown error costs
 * far more than a returned one; the codecs of this module return it without a throw.
 *
 * @example
 * ```ts
 * import { endDecoder, lengthPrefixed } from "./mod.ts";
 * const decoder = lengthPrefixed({ lengthFieldLength: 4 }).decoder();
 * decoder.push(new Uint8Array([0, 0]));
 * console.log(endDecoder(decoder)?.message); // "Stream ended inside a frame header: 2 of 4 bytes received"
 * ```
 */
export function endDecoder(decoder: FrameDecoder): Error | undefined {
  if (decoder instanceof DecoderBase) return decoder.finish();
  try {
    decoder.end();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(`Decoder end() threw a non-error: ${String(error)}`);
  }
}
