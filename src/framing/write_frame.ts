/**
 * Writing frames: one to a stream without joining its parts, or several joined in one buffer.
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

/**
 * The wire form of several frames, joined in one new buffer: each frame's header, payload and
 * trailer, in order. For a reply that should leave in one send.
 *
 * @example
 * ```ts
 * import { delimited, encodeFrames } from "sockmodels/framing";
 * const text = new TextEncoder();
 * const wire = encodeFrames(delimited(), [text.encode("a"), text.encode("b")]); // "a\nb\n"
 * ```
 */
export function encodeFrames(codec: FrameCodec, frames: readonly Uint8Array[]): Uint8Array {
  const trailer = codec.trailer;
  const headers = frames.map((frame) => codec.encodeHeader(frame));
  let size = 0;
  for (let i = 0; i < frames.length; i++) size += headers[i].byteLength + frames[i].byteLength + trailer.byteLength;
  const out = new Uint8Array(size);
  let offset = 0;
  for (let i = 0; i < frames.length; i++) {
    out.set(headers[i], offset);
    offset += headers[i].byteLength;
    out.set(frames[i], offset);
    offset += frames[i].byteLength;
    out.set(trailer, offset);
    offset += trailer.byteLength;
  }
  return out;
}
