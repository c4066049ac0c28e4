/**
 * The interfaces every codec of the framer implements.
 *
 * @module
 */

import type { FramingError } from "./errors.ts";

/**
 * An incremental, synchronous frame decoder: the state of one byte stream.
 *
 * Ownership and lifetime:
 * - `push` returns a new array on every call. The decoder never touches it again, so the
 *   caller may keep, sort or modify it.
 * - A frame that lies inside one chunk is a view of that chunk (no copy). The decoder keeps
 *   no reference to the chunk once its frames are out, but the views do: do not modify a
 *   chunk after pushing it if you keep its frames. A frame that spans chunks is copied
 *   exactly once, into a buffer of its own.
 * - Frames of length 0 are delivered (as empty views).
 *
 * Errors: on bad input `push` throws a {@linkcode FramingError}; its `frames` holds the
 * frames that the same call had decoded before the bad bytes. From then on the decoder is
 * poisoned, and every `push` and `end` throws that same error object.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "./mod.ts";
 * const codec = lengthPrefixed({ lengthFieldLength: 2 });
 * const d = codec.decoder();
 * const wire = codec.encode(new TextEncoder().encode("hi"));
 * for (const frame of d.push(wire.subarray(0, 3))) console.log(frame); // nothing yet
 * for (const frame of d.push(wire.subarray(3))) console.log(frame); // Uint8Array [104, 105]
 * d.end();
 * ```
 */
export interface FrameDecoder {
  /**
   * Feeds the next chunk of the stream and returns the frames it completes, in order.
   * Throws a {@linkcode FramingError} on bad input, and the same error again once poisoned.
   */
  push(chunk: Uint8Array): Uint8Array[];
  /**
   * Declares the end of the stream. Throws a `MalformedFrameError` (reason `"truncated"`)
   * when a partial frame is left, or the poisoning error. Afterwards `push` throws a
   * `TypeError`.
   */
  end(): void;
  /** Bytes of the current, incomplete frame that the decoder holds (0 at a frame boundary). */
  readonly buffered: number;
  /** The error that poisoned the decoder, if any. */
  readonly error: FramingError | undefined;
  /**
   * True when the decoder keeps no view of a chunk once `push` returns: it copies the bytes of
   * an incomplete frame. Such a decoder may be fed a buffer that its owner fills again after
   * `push` returns (the frames `push` returned are still views of it). Decoders without this
   * flag may keep views, and must be given chunks nobody writes into again.
   */
  readonly copiesIncompleteFrames?: boolean;
}

/**
 * A framing codec: it makes decoders and encodes frames.
 *
 * The wire form of a payload is `encodeHeader(payload)`, then the payload itself, then
 * `trailer`; `encode(payload)` returns those parts joined in one new buffer. Writing the
 * parts one after the other ({@linkcode writeFrame}) avoids copying the payload.
 *
 * @example
 * ```ts
 * import { varint, type FrameCodec } from "./mod.ts";
 * const codec: FrameCodec = varint();
 * const payload = new Uint8Array([1, 2, 3]);
 * console.log(codec.encodeHeader(payload)); // Uint8Array [3]
 * console.log(codec.encode(payload)); // Uint8Array [3, 1, 2, 3]
 * ```
 */
export interface FrameCodec {
  /** A short name of the codec, such as `"length-prefixed"`. */
  readonly name: string;
  /** Bytes written after every payload (a delimiter), or an empty array. Do not modify. */
  readonly trailer: Uint8Array;
  /** Creates a decoder for one stream. */
  decoder(): FrameDecoder;
  /** Returns the whole wire form of `payload` in a new buffer. */
  encode(payload: Uint8Array): Uint8Array;
  /**
   * Returns the bytes to write before `payload` (a new buffer, possibly empty). Throws when
   * the codec cannot carry `payload` (see each codec).
   */
  encodeHeader(payload: Uint8Array): Uint8Array;
  /**
   * Writes the whole wire form of `payload` (header, payload, trailer) into `target` at
   * `offset`, allocating nothing, and returns the number of bytes written; returns -1 and
   * writes nothing when `target` has too little room from `offset`. Throws as `encode` does.
   * Optional: every codec of this module has it, and batching writers (the engine) fall back
   * to `encodeHeader` without it.
   */
  encodeInto?(payload: Uint8Array, target: Uint8Array, offset: number): number;
}

/**
 * Where encoded frames are written: anything whose `write` takes bytes and returns false when
 * the writer should wait before writing more. An adapter `Stream` is one.
 *
 * @example
 * ```ts
 * import type { ByteSink } from "sockmodels/framing";
 * const parts: Uint8Array[] = [];
 * const sink: ByteSink = { write: (bytes) => parts.push(bytes) < 64 };
 * ```
 */
export interface ByteSink {
  /** Takes `bytes`, which the caller does not modify afterwards; false asks it to wait. */
  write(bytes: Uint8Array): boolean;
}
