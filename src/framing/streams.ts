/**
 * Web Streams wrappers of the codecs.
 *
 * @module
 */

import { show } from "./_internal.ts";
import { FramingError } from "./errors.ts";
import type { FrameCodec } from "./types.ts";

function checkCodec(codec: unknown): FrameCodec {
  const c = codec as Partial<FrameCodec> | null;
  if (
    c === null || typeof c !== "object" || typeof c.decoder !== "function" ||
    typeof c.encodeHeader !== "function" || !(c.trailer instanceof Uint8Array)
  ) {
    throw new TypeError(`Codec must be a FrameCodec, got ${show(codec)}`);
  }
  return c as FrameCodec;
}

/**
 * A `TransformStream` from byte chunks to frames.
 *
 * Frames are enqueued as the decoder returns them (views of the chunks where possible). On bad
 * input the frames that came before the bad bytes are enqueued, then the stream errors with
 * the `FramingError`. When the writable side closes, a trailing partial frame errors the
 * stream with a `MalformedFrameError` (reason `"truncated"`).
 *
 * @example
 * ```ts
 * import { FrameDecoderStream, varint } from "sockmodels/framing";
 * const codec = varint();
 * const wire = ReadableStream.from([
 *   codec.encode(new Uint8Array([1])),
 *   codec.encode(new Uint8Array([2, 3])),
 * ]);
 * for await (const frame of wire.pipeThrough(new FrameDecoderStream(codec))) {
 *   console.log(frame); // Uint8Array [1], then Uint8Array [2, 3]
 * }
 * ```
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the stream around a new decoder of `codec`.
   *
   * @param codec The codec whose frames to decode.
   */
  constructor(codec: FrameCodec) {
    const decoder = checkCodec(codec).decoder();
    super({
      transform(chunk, controller): void {
        let frames: Uint8Array[];
        try {
          frames = decoder.push(chunk);
        } catch (error) {
          if (error instanceof FramingError) {
            for (const frame of error.frames) controller.enqueue(frame);
          }
          throw error;
        }
        for (const frame of frames) controller.enqueue(frame);
      },
      flush(): void {
        decoder.end();
      },
    });
  }
}

/**
 * A `TransformStream` from payloads to their wire bytes.
 *
 * Each payload is enqueued as up to three chunks, the codec's header, the payload itself and
 * the trailer (empty parts are skipped), so the payload is never copied. Do not modify a
 * payload after writing it. A payload the codec cannot carry errors the stream.
 *
 * @example
 * ```ts
 * import { FrameEncoderStream, lengthPrefixed } from "sockmodels/framing";
 * const stream = new FrameEncoderStream(lengthPrefixed({ lengthFieldLength: 2 }));
 * const writer = stream.writable.getWriter();
 * writer.write(new Uint8Array([9, 9]));
 * writer.close();
 * for await (const part of stream.readable) console.log(part); // [0, 2], then [9, 9]
 * ```
 */
export class FrameEncoderStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the stream for `codec`.
   *
   * @param codec The codec whose wire form to produce.
   */
  constructor(codec: FrameCodec) {
    const c = checkCodec(codec);
    super({
      transform(payload, controller): void {
        const header = c.encodeHeader(payload);
        if (header.length > 0) controller.enqueue(header);
        if (payload.length > 0) controller.enqueue(payload);
        if (c.trailer.length > 0) controller.enqueue(new Uint8Array(c.trailer));
      },
    });
  }
}
