/**
 * Frames of one fixed size, such as packed structs sent back to back.
 *
 * @module
 */

import { checkOptions, checkPayload, DecoderBase, EMPTY, show, view } from "./_internal.ts";
import { type FramingError, MalformedFrameError } from "./errors.ts";
import { allocFrame, type FramePool, poolOption } from "./frame_pool.ts";
import type { FrameCodec, FrameDecoder } from "./types.ts";

/**
 * A fixed-size codec.
 *
 * @example
 * ```ts
 * import { fixedSize } from "./fixed.ts";
 * console.log(fixedSize(16).size); // 16
 * ```
 */
export interface FixedSizeCodec extends FrameCodec {
  /** The size of every frame, in bytes. */
  readonly size: number;
  /** The pool frames that span chunks are allocated from, if any. */
  readonly pool: FramePool | undefined;
}

/**
 * Options of {@linkcode fixedSize}.
 *
 * @example
 * ```ts
 * import { FramePool } from "./frame_pool.ts";
 * const options: FixedSizeOptions = { pool: new FramePool() };
 * ```
 */
export interface FixedSizeOptions {
  /** Buffers for frames that span chunks come from this pool (see {@linkcode FramePool}). */
  pool?: FramePool;
}

/** The largest fixed frame size: 2^31 - 1 bytes, which every runtime can allocate. */
const MAX_FIXED_SIZE = 0x7fffffff;

class FixedDecoder extends DecoderBase {
  readonly #size: number;
  readonly #pool: FramePool | undefined;
  /** The frame buffer of a frame split across chunks, or EMPTY. */
  #buf: Uint8Array = EMPTY;
  #fill = 0;

  constructor(size: number, pool: FramePool | undefined) {
    super();
    this.#size = size;
    this.#pool = pool;
  }

  /** Partial frames are copied into a frame buffer of their own. */
  get copiesIncompleteFrames(): boolean {
    return true;
  }

  get buffered(): number {
    return this.#fill;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this._check(chunk);
    const out: Uint8Array[] = [];
    const size = this.#size;
    const end = chunk.length;
    let pos = 0;
    if (this.#fill > 0) {
      const take = Math.min(size - this.#fill, end);
      this.#buf.set(take === end ? chunk : view(chunk, 0, take), this.#fill);
      this.#fill += take;
      if (this.#fill < size) return out;
      out.push(this.#buf);
      this.#buf = EMPTY;
      this.#fill = 0;
      pos = take;
    }
    while (end - pos >= size) {
      out.push(view(chunk, pos, size));
      pos += size;
    }
    if (pos < end) {
      this.#buf = allocFrame(this.#pool, size);
      this.#buf.set(view(chunk, pos, end - pos));
      this.#fill = end - pos;
    }
    return out;
  }

  protected _atEnd(): FramingError | undefined {
    if (this.#fill === 0) return undefined;
    return new MalformedFrameError(
      "truncated",
      `Stream ended inside a frame: ${this.#fill} of ${this.#size} bytes received`,
    );
  }
}

class FixedSizeCodecImpl implements FixedSizeCodec {
  readonly name = "fixed-size";
  readonly trailer: Uint8Array = EMPTY;
  readonly size: number;
  readonly pool: FramePool | undefined;

  constructor(size: number, pool: FramePool | undefined) {
    this.size = size;
    this.pool = pool;
  }

  decoder(): FrameDecoder {
    return new FixedDecoder(this.size, this.pool);
  }

  #check(payload: Uint8Array): void {
    checkPayload(payload);
    if (payload.length !== this.size) {
      throw new RangeError(
        `Payload of ${payload.length} bytes does not match the fixed frame size of ${this.size} bytes`,
      );
    }
  }

  encodeHeader(payload: Uint8Array): Uint8Array {
    this.#check(payload);
    return new Uint8Array(0);
  }

  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    this.#check(payload);
    if (target.length - offset < payload.length) return -1;
    target.set(payload, offset);
    return payload.length;
  }

  encode(payload: Uint8Array): Uint8Array {
    this.#check(payload);
    return new Uint8Array(payload);
  }
}

/**
 * Creates a codec whose frames all have `size` bytes and no header: the decoder cuts the
 * stream every `size` bytes. The encoder checks the payload's size and adds nothing.
 * At the end of the stream, a partial frame is a `MalformedFrameError` (reason
 * `"truncated"`). `size` must be an integer from 1 to 2^31 - 1 (a `RangeError` otherwise).
 *
 * @example
 * ```ts
 * import { fixedSize } from "./fixed.ts";
 * const d = fixedSize(2).decoder();
 * console.log(d.push(new Uint8Array([1, 2, 3])).length); // 1
 * console.log(d.push(new Uint8Array([4]))); // [Uint8Array [3, 4]]
 * d.end();
 * ```
 */
export function fixedSize(size: number, options?: FixedSizeOptions): FixedSizeCodec {
  const o = checkOptions("fixedSize", options, ["pool"]);
  if (typeof size !== "number") {
    throw new TypeError(`Fixed frame size must be a number, got ${show(size)}`);
  }
  if (!Number.isInteger(size) || size < 1 || size > MAX_FIXED_SIZE) {
    throw new RangeError(
      `Fixed frame size must be an integer from 1 to ${MAX_FIXED_SIZE}, got ${size}`,
    );
  }
  return new FixedSizeCodecImpl(size, poolOption(o.pool));
}
