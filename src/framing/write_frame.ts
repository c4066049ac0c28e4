/**
 * Writing one frame to an adapter stream without joining its parts.
 *
 * @module
 */

import type { ByteSink, FrameCodec } from "./types.ts";

/**
 * Writes one frame to `sink`, such as an adapter stream: the codec's header, then the
 * payload, then the trailer, as separate `write` calls, so the payload is never copied (the
 * adapter coalesces the small writes of one tick into one OS write). Empty parts are not
 * written.
 *
 * Returns the result of the last `write`: for a stream, false once its queue is above its high
 * water mark (nothing is dropped; wait for `onDrain` before writing more). A payload the
 * codec cannot carry throws before anything is written. Do not modify `payload` afterwards.
 *
 * @example
 * ```ts
 * import { lengthPrefixed, writeFrame } from "sockmodels/framing";
 * import type { Stream } from "sockmodels/runtime";
 * declare const stream: Stream;
 * const codec = lengthPrefixed();
 * if (!writeFrame(stream, codec, new TextEncoder().encode("hello"))) {
 *   // Above the high water mark: wait for onDrain before writing more.
 * }
 * ```
 */
export function writeFrame(
  sink: ByteSink,
  codec: FrameCodec,
  payload: Uint8Array,
): boolean {
  const header = codec.encodeHeader(payload);
  const trailer = codec.trailer;
  let ok = true;
  if (header.length > 0) ok = sink.write(header);
  if (payload.length > 0 || (header.length === 0 && trailer.length === 0)) {
    ok = sink.write(payload);
  }
  if (trailer.length > 0) ok = sink.write(new Uint8Array(trailer));
  return ok;
}
