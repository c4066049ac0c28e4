/**
 * Writing one frame to an adapter stream without joining its parts.
 *
 * @module
 */

import type { Stream } from "../runtime/types.ts";
import type { FrameCodec } from "./types.ts";

/**
 * Writes one frame to `stream`: the codec's header, then the payload, then the trailer, as
 * separate `write` calls, so the payload is never copied (the adapter coalesces the small
 * writes of one tick into one OS write). Empty parts are not written.
 *
 * Returns the result of the last `write`: false once the stream's queue is above its high
 * water mark (nothing is dropped; wait for `onDrain` before writing more). A payload the
 * codec cannot carry throws before anything is written. Do not modify `payload` afterwards.
 *
 * @example
 * ```ts
 * import { lengthPrefixed, writeFrame } from "./mod.ts";
 * import type { Stream } from "../runtime/types.ts";
 * declare const stream: Stream;
 * const codec = lengthPrefixed();
 * if (!writeFrame(stream, codec, new TextEncoder().encode("hello"))) {
 *   // Above the high water mark: wait for onDrain before writing more.
 * }
 * ```
 */
export function writeFrame(
  stream: Pick<Stream, "write">,
  codec: FrameCodec,
  payload: Uint8Array,
): boolean {
  const header = codec.encodeHeader(payload);
  const trailer = codec.trailer;
  let ok = true;
  if (header.length > 0) ok = stream.write(header);
  if (payload.length > 0 || (header.length === 0 && trailer.length === 0)) {
    ok = stream.write(payload);
  }
  if (trailer.length > 0) ok = stream.write(new Uint8Array(trailer));
  return ok;
}
