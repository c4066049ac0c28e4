/**
 * Frames prefixed with their length as an unsigned LEB128 varint (the Protocol Buffers and
 * libp2p convention).
 *
 * @module
 */

import { checkOptions, checkPayload, DecoderBase, EMPTY, maxFrameLengthOption, stackless, view } from "./_internal.ts";
import { FrameTooLargeError, type FramingError, MalformedFrameError } from "./errors.ts";
import { allocFrame, type FramePool, poolOption } from "./frame_pool.ts";
import type { FrameCodec, FrameDecoder } from "./types.ts";

/**
 * Options of {@linkcode varint}.
 *
 * @example
 * ```ts
 * const options: VarintOptions = { maxFrameLength: 1024 * 1024 };
 * ```
 */
export interface VarintOptions {
  /** The largest payload, in bytes (the prefix is not counted). Default 8 MiB. */
  maxFrameLength?: number;
  /** Buffers for frames that span chunks come from this pool (see {@linkcode FramePool}). */
  pool?: FramePool;
}

/**
 * A varint-prefixed codec, with its resolved options.
 *
 * @example
 * ```ts
 * import { varint } from "./varint.ts";
 * console.log(varint().options.maxFrameLength); // 8388608
 * ```
 */
export interface VarintCodec extends FrameCodec {
  /** The options with every default filled in. */
  readonly options: Readonly<Required<Omit<VarintOptions, "pool">>>;
  /** The pool frames that span chunks are allocated from, if any. */
  readonly pool: FramePool | undefined;
}

function badVarint(message: string): MalformedFrameError {
  return stackless(() => new MalformedFrameError("varint", message));
}

/**
 * Checks byte `b` at index `i` (0-based) of a varint whose value so far is `value`, and
 * returns the new value. Throws on an encoding above 2^53 - 1 or a non-minimal one.
 */
function varintStep(b: number, i: number, value: number): number {
  if (i === 7 && b > 0x0f) {
    // 7 bytes carry 49 bits; an 8th byte above 0x0f (or with its continuation bit) sets
    // bit 53 or higher, or announces a 9th or 10th byte.
    throw badVarint(
      `Varint is longer than 8 bytes or exceeds 2^53 - 1 (byte 8 is 0x${b.toString(16)})`,
    );
  }
  if (b === 0 && i > 0) {
    throw badVarint(
      `Varint is not minimal: it ends with a zero byte after ${i} bytes`,
    );
  }
  return value + (b & 0x7f) * 2 ** (7 * i);
}

const IDLE = 0;
const PREFIX = 1;
const BODY = 2;

class VarintDecoder extends DecoderBase {
  readonly #max: number;
  readonly #pool: FramePool | undefined;
  #state = IDLE;
  /** Value of the varint read so far. */
  #value = 0;
  /** Bytes of the varint read so far. */
  #count = 0;
  /** The frame buffer, allocated once the length is known. */
  #buf: Uint8Array = EMPTY;
  /** Payload bytes received. */
  #fill = 0;

  constructor(max: number, pool: FramePool | undefined) {
    super();
    this.#max = max;
    this.#pool = pool;
  }

  /** Partial frames are copied into a frame buffer of their own. */
  get copiesIncompleteFrames(): boolean {
    return true;
  }

  get buffered(): number {
    return this.#state === PREFIX ? this.#count : this.#state === BODY ? this.#fill : 0;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this._check(chunk);
    const out: Uint8Array[] = [];
    try {
      const end = chunk.length;
      const max = this.#max;
      let pos = 0;
      if (this.#state === BODY) {
        const take = Math.min(this.#buf.length - this.#fill, end);
        this.#buf.set(take === end ? chunk : view(chunk, 0, take), this.#fill);
        this.#fill += take;
        if (this.#fill < this.#buf.length) return out;
        out.push(this.#buf);
        this.#buf = EMPTY;
        this.#state = IDLE;
        pos = take;
      }
      // Read after the body path: `buffer` is a getter, too costly for chunks that only fill
      // a large frame.
      const buffer = chunk.buffer;
      const base = chunk.byteOffset;
      while (pos < end) {
        let n: number;
        const b0 = chunk[pos];
        if (b0 < 0x80 && this.#state === IDLE) {
          n = b0;
          pos++;
        } else {
          // A multi-byte varint, or the rest of one split across chunks.
          let value = this.#value;
          let i = this.#count;
          for (;;) {
            if (pos === end) {
              this.#value = value;
              this.#count = i;
              this.#state = PREFIX;
              return out;
            }
            const b = chunk[pos++];
            value = varintStep(b, i, value);
            i++;
            if (b < 0x80) break;
          }
          this.#value = 0;
          this.#count = 0;
          this.#state = IDLE;
          n = value;
        }
        if (n > max) throw stackless(() => new FrameTooLargeError(n, max));
        if (end - pos >= n) {
          out.push(new Uint8Array(buffer, base + pos, n));
          pos += n;
        } else {
          const buf = allocFrame(this.#pool, n);
          buf.set(view(chunk, pos, end - pos));
          this.#fill = end - pos;
          this.#buf = buf;
          this.#state = BODY;
          return out;
        }
      }
      return out;
    } catch (error) {
      this._fail(error, out);
    }
  }

  protected _atEnd(): FramingError | undefined {
    if (this.#state === PREFIX) {
      return new MalformedFrameError(
        "truncated",
        `Stream ended inside a varint after ${this.#count} bytes`,
      );
    }
    if (this.#state === BODY) {
      return new MalformedFrameError(
        "truncated",
        `Stream ended inside a frame: ${this.#fill} of ${this.#buf.length} bytes received`,
      );
    }
    return undefined;
  }
}

/**
 * Returns the number of bytes of the LEB128 encoding of `n` (a safe, non-negative integer).
 *
 * @example
 * ```ts
 * import { varintLength } from "./varint.ts";
 * console.log(varintLength(127), varintLength(128)); // 1 2
 * ```
 */
export function varintLength(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * Writes the LEB128 encoding of `n` into `target` at `offset` and returns the number of bytes
 * written. `n` must be a safe, non-negative integer.
 *
 * @example
 * ```ts
 * import { encodeVarint } from "./varint.ts";
 * const bytes = new Uint8Array(3);
 * console.log(encodeVarint(300, bytes, 0), bytes); // 2 Uint8Array [172, 2, 0]
 * ```
 */
export function encodeVarint(
  n: number,
  target: Uint8Array,
  offset = 0,
): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(
      `Varint value must be a safe non-negative integer, got ${n}`,
    );
  }
  let at = offset;
  while (n >= 0x80) {
    target[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  target[at++] = n;
  return at - offset;
}

/**
 * Decodes one LEB128 varint from `bytes` at `offset`, with the decoder's rules: at most 8
 * bytes, a value of at most 2^53 - 1, minimal encoding. Returns the value and the number of
 * bytes read, or `undefined` when `bytes` ends first.
 *
 * @example
 * ```ts
 * import { decodeVarint } from "./varint.ts";
 * console.log(decodeVarint(new Uint8Array([172, 2]))); // { value: 300, length: 2 }
 * console.log(decodeVarint(new Uint8Array([172]))); // undefined
 * ```
 */
export function decodeVarint(
  bytes: Uint8Array,
  offset = 0,
): { value: number; length: number } | undefined {
  let value = 0;
  for (let i = 0; offset + i < bytes.length; i++) {
    const b = bytes[offset + i];
    value = varintStep(b, i, value);
    if (b < 0x80) return { value, length: i + 1 };
  }
  return undefined;
}

class VarintCodecImpl implements VarintCodec {
  readonly name = "varint";
  readonly trailer: Uint8Array = EMPTY;
  readonly options: Readonly<Required<Omit<VarintOptions, "pool">>>;
  readonly pool: FramePool | undefined;

  constructor(max: number, pool: FramePool | undefined) {
    this.options = Object.freeze({ maxFrameLength: max });
    this.pool = pool;
  }

  decoder(): FrameDecoder {
    return new VarintDecoder(this.options.maxFrameLength, this.pool);
  }

  encodeHeader(payload: Uint8Array): Uint8Array {
    checkPayload(payload);
    const n = payload.length;
    if (n > this.options.maxFrameLength) {
      throw new FrameTooLargeError(n, this.options.maxFrameLength);
    }
    const header = new Uint8Array(varintLength(n));
    encodeVarint(n, header, 0);
    return header;
  }

  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    checkPayload(payload);
    const n = payload.length;
    if (n > this.options.maxFrameLength) {
      throw new FrameTooLargeError(n, this.options.maxFrameLength);
    }
    const size = varintLength(n);
    if (target.length - offset < size + n) return -1;
    encodeVarint(n, target, offset);
    target.set(payload, offset + size);
    return size + n;
  }

  encode(payload: Uint8Array): Uint8Array {
    checkPayload(payload);
    const n = payload.length;
    if (n > this.options.maxFrameLength) {
      throw new FrameTooLargeError(n, this.options.maxFrameLength);
    }
    const size = varintLength(n);
    const wire = new Uint8Array(size + n);
    encodeVarint(n, wire, 0);
    wire.set(payload, size);
    return wire;
  }
}

/**
 * Creates a codec whose frames are prefixed with their length as an unsigned LEB128 varint.
 *
 * The decoder rejects, with a `MalformedFrameError` (reason `"varint"`), a varint longer
 * than 8 bytes or above 2^53 - 1 (so never more than 10 bytes), and a non-minimal one (a
 * final zero byte after the first). It never treats a partial varint as complete: a varint
 * split across chunks is resumed, and one cut off by the end of the stream makes `end()`
 * throw (reason `"truncated"`). A length above `maxFrameLength` is a `FrameTooLargeError`,
 * raised before any allocation.
 *
 * @example
 * ```ts
 * import { varint } from "./varint.ts";
 * const codec = varint({ maxFrameLength: 1 << 20 });
 * const wire = codec.encode(new Uint8Array(300)); // [0xac, 0x02, ...300 zeros]
 * const d = codec.decoder();
 * console.log(d.push(wire)[0].length); // 300
 * d.end();
 * ```
 */
export function varint(options?: VarintOptions): VarintCodec {
  const o = checkOptions("varint", options, ["maxFrameLength", "pool"]);
  return new VarintCodecImpl(maxFrameLengthOption(o.maxFrameLength), poolOption(o.pool));
}
