/**
 * Length-prefixed frames with Netty's and tokio's parameter set.
 *
 * A frame on the wire is `lengthFieldOffset` bytes, the length field of `lengthFieldLength`
 * bytes, then the rest of the frame. The whole frame is
 * `lengthFieldOffset + lengthFieldLength + value + lengthAdjustment` bytes long (minus the
 * header length when `lengthIncludesHeader`), and the decoder delivers it without its first
 * `initialBytesToStrip` bytes.
 *
 * @module
 */

import {
  boolOption,
  checkOptions,
  checkPayload,
  DecoderBase,
  EMPTY,
  enumOption,
  intOption,
  maxFrameLengthOption,
  stackless,
  view,
} from "./_internal.ts";
import { FrameTooLargeError, type FramingError, MalformedFrameError } from "./errors.ts";
import { allocFrame, type FramePool, poolOption } from "./frame_pool.ts";
import type { FrameCodec, FrameDecoder } from "./types.ts";

/**
 * The sizes a length field may have, in bytes.
 *
 * @example
 * ```ts
 * const size: LengthFieldLength = 2;
 * ```
 */
export type LengthFieldLength = 1 | 2 | 3 | 4 | 8;

/**
 * Byte order of a number on the wire: big endian (network order) or little endian.
 *
 * @example
 * ```ts
 * const order: ByteOrder = "le";
 * ```
 */
export type ByteOrder = "be" | "le";

/**
 * Options of {@linkcode lengthPrefixed}.
 *
 * @example
 * ```ts
 * // The seed's game-server header: u16 size that counts the header, then u16 id.
 * const options: LengthPrefixedOptions = {
 *   lengthFieldLength: 2,
 *   byteOrder: "le",
 *   lengthIncludesHeader: true,
 *   initialBytesToStrip: 0,
 *   maxFrameLength: 65535,
 * };
 * ```
 */
export interface LengthPrefixedOptions {
  /** Size of the length field: 1, 2, 3, 4 or 8 bytes. Default 4. */
  lengthFieldLength?: LengthFieldLength;
  /** Byte order of the length field. Default `"be"`. */
  byteOrder?: ByteOrder;
  /** Bytes before the length field. Default 0. */
  lengthFieldOffset?: number;
  /**
   * Added to the length field value to get the number of bytes after the length field.
   * May be negative. Default 0.
   */
  lengthAdjustment?: number;
  /**
   * Bytes removed from the start of each delivered frame. Default: the header length
   * (`lengthFieldOffset + lengthFieldLength`), so frames are the bytes after the length field.
   */
  initialBytesToStrip?: number;
  /**
   * The length field counts the header (`lengthFieldOffset + lengthFieldLength`) too. It
   * subtracts the header length from `lengthAdjustment`. Default false.
   */
  lengthIncludesHeader?: boolean;
  /**
   * The largest frame, counted on the wire from its first byte (the adjusted total, header
   * included, before stripping). Checked as soon as the length field is read, before anything
   * is allocated for the frame. Default 8 MiB.
   */
  maxFrameLength?: number;
  /**
   * When true (the default), a `FrameTooLargeError` is thrown as soon as the length field
   * shows the frame is too large. When false, the decoder first reads and drops the whole
   * frame (never storing it), then throws. The decoder is poisoned either way.
   */
  failFast?: boolean;
  /**
   * Buffers for frames that span chunks come from this pool, and go back to it when the
   * application releases them (see {@linkcode FramePool}). Default: a new buffer per frame.
   */
  pool?: FramePool;
}

/**
 * A length-prefixed codec, with its resolved options.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "./length_prefixed.ts";
 * const codec = lengthPrefixed();
 * console.log(codec.options.initialBytesToStrip); // 4
 * ```
 */
export interface LengthPrefixedCodec extends FrameCodec {
  /** The options with every default filled in (the pool is {@linkcode LengthPrefixedCodec.pool}). */
  readonly options: Readonly<Required<Omit<LengthPrefixedOptions, "pool">>>;
  /** The pool frames that span chunks are allocated from, if any. */
  readonly pool: FramePool | undefined;
}

const OPTION_KEYS = [
  "lengthFieldLength",
  "byteOrder",
  "lengthFieldOffset",
  "lengthAdjustment",
  "initialBytesToStrip",
  "lengthIncludesHeader",
  "maxFrameLength",
  "failFast",
  "pool",
] as const;

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** The resolved configuration shared by the codec and its decoders. */
interface Config {
  /** Length field size. */
  readonly size: number;
  /** Little endian. */
  readonly le: boolean;
  /** Length field offset. */
  readonly offset: number;
  /** Header length: offset + size. */
  readonly header: number;
  /** Effective adjustment (the header length already subtracted when it is included). */
  readonly adjust: number;
  /** Bytes stripped from each frame. */
  readonly strip: number;
  /** Largest adjusted total. */
  readonly max: number;
  /** Throw before discarding an oversized frame. */
  readonly failFast: boolean;
  /** Largest value the field can hold (2^53 - 1 for 8 bytes). */
  readonly fieldMax: number;
  /** Where frames that span chunks are allocated. */
  readonly pool: FramePool | undefined;
}

/** Reads the length field value at `at`. 8-byte fields are read as a BigInt. */
function readField(c: Config, bytes: Uint8Array, at: number): number {
  switch (c.size) {
    case 1:
      return bytes[at];
    case 2:
      return c.le ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1];
    case 3:
      return c.le
        ? bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)
        : (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
    case 4:
      return c.le
        ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) |
          (bytes[at + 3] << 24)) >>> 0
        : ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
          bytes[at + 3]) >>> 0;
    default: {
      const value = new DataView(bytes.buffer, bytes.byteOffset + at, 8)
        .getBigUint64(0, c.le);
      if (value > MAX_SAFE_BIG) {
        throw stackless(() =>
          new MalformedFrameError("length", `Length field value ${value} exceeds the largest safe length, 2^53 - 1`)
        );
      }
      return Number(value);
    }
  }
}

/** Writes `value` as the length field at `at`. */
function writeField(
  c: Config,
  bytes: Uint8Array,
  at: number,
  value: number,
): void {
  if (c.size === 8) {
    new DataView(bytes.buffer, bytes.byteOffset + at, 8).setBigUint64(
      0,
      BigInt(value),
      c.le,
    );
    return;
  }
  let v = value;
  for (let i = 0; i < c.size; i++) {
    bytes[c.le ? at + i : at + c.size - 1 - i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

/**
 * Checks the adjusted total of a frame whose length field holds `value`, and returns it.
 * Returns the total even when it is above the limit if the codec does not fail fast; the
 * caller then discards the frame.
 */
function frameTotal(c: Config, value: number): number {
  const total = value + c.adjust + c.header;
  if (total < c.header) {
    throw stackless(() =>
      new MalformedFrameError(
        "adjustment",
        `Adjusted frame length ${total} is less than the header length of ${c.header} bytes`,
      )
    );
  }
  if (total > c.max) {
    if (c.failFast) throw stackless(() => new FrameTooLargeError(total, c.max));
  } else if (c.strip > total) {
    throw stackless(() =>
      new MalformedFrameError("adjustment", `Frame length ${total} is less than initialBytesToStrip ${c.strip}`)
    );
  }
  return total;
}

const IDLE = 0;
const HEADER = 1;
const BODY = 2;
const DISCARD = 3;

class LengthPrefixedDecoder extends DecoderBase {
  readonly #c: Config;
  /** IDLE, HEADER (collecting a split header), BODY (filling `#buf`) or DISCARD. */
  #state = IDLE;
  /** Header bytes of a header split across chunks. */
  #scratch: Uint8Array | undefined = undefined;
  /** Header bytes collected in `#scratch`. */
  #headerFill = 0;
  /** The frame buffer, allocated once the length is known. */
  #buf: Uint8Array = EMPTY;
  /** Bytes of the current frame received, counted from its first byte on the wire. */
  #got = 0;
  /** Adjusted total of the current frame. */
  #total = 0;

  constructor(config: Config) {
    super();
    this.#c = config;
  }

  /** Partial frames are copied into a frame buffer of their own. */
  get copiesIncompleteFrames(): boolean {
    return true;
  }

  get buffered(): number {
    switch (this.#state) {
      case HEADER:
        return this.#headerFill;
      case BODY:
        return this.#got;
      default:
        return 0;
    }
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this._check(chunk);
    const out: Uint8Array[] = [];
    try {
      const c = this.#c;
      const end = chunk.length;
      let pos = 0;
      if (this.#state !== IDLE) {
        pos = this.#resume(chunk, out);
        if (pos < 0) return out;
      }
      // The hot loop: whole frames inside the chunk become views. The common field sizes are
      // read inline; anything unusual goes through frameTotal and #start.
      const header = c.header;
      const strip = c.strip;
      const at = c.offset;
      const size = c.size;
      const le = c.le;
      const adjust = c.adjust;
      const max = c.max;
      const buffer = chunk.buffer;
      const base = chunk.byteOffset;
      while (end - pos >= header) {
        const p = pos + at;
        let value: number;
        if (size === 4) {
          value = le
            ? (chunk[p] | (chunk[p + 1] << 8) | (chunk[p + 2] << 16) |
              (chunk[p + 3] << 24)) >>> 0
            : ((chunk[p] << 24) | (chunk[p + 1] << 16) | (chunk[p + 2] << 8) |
              chunk[p + 3]) >>> 0;
        } else if (size === 2) {
          value = le ? chunk[p] | (chunk[p + 1] << 8) : (chunk[p] << 8) | chunk[p + 1];
        } else if (size === 1) {
          value = chunk[p];
        } else {
          value = readField(c, chunk, p);
        }
        const total = value + adjust + header;
        if (
          total < header || total > max || total < strip || end - pos < total
        ) {
          pos = this.#start(chunk, pos, frameTotal(c, value), 0, out);
          if (pos < 0) return out;
          continue;
        }
        out.push(new Uint8Array(buffer, base + pos + strip, total - strip));
        pos += total;
      }
      if (pos < end) {
        const scratch = this.#scratch ??
          (this.#scratch = new Uint8Array(header));
        let fill = 0;
        while (pos < end) scratch[fill++] = chunk[pos++];
        this.#headerFill = fill;
        this.#state = HEADER;
      }
      return out;
    } catch (error) {
      this._fail(error, out);
    }
  }

  /** Continues a frame begun in earlier chunks. Returns the next position, or -1. */
  #resume(chunk: Uint8Array, out: Uint8Array[]): number {
    const c = this.#c;
    const end = chunk.length;
    if (this.#state === HEADER) {
      const scratch = this.#scratch as Uint8Array;
      let fill = this.#headerFill;
      let pos = 0;
      while (fill < c.header && pos < end) scratch[fill++] = chunk[pos++];
      this.#headerFill = fill;
      if (fill < c.header) return -1;
      const total = frameTotal(c, readField(c, scratch, c.offset));
      this.#headerFill = 0;
      this.#state = IDLE;
      return this.#start(chunk, pos, total, c.header, out);
    }
    const take = Math.min(this.#total - this.#got, end);
    if (this.#state === DISCARD) {
      this.#got += take;
      if (this.#got < this.#total) return -1;
      this.#state = IDLE;
      throw stackless(() => new FrameTooLargeError(this.#total, c.max));
    }
    this.#feed(chunk, 0, take);
    if (this.#got < this.#total) return -1;
    out.push(this.#buf);
    this.#buf = EMPTY;
    this.#state = IDLE;
    return take;
  }

  /**
   * Starts a frame of `total` bytes whose first `before` bytes are in the scratch (0 or the
   * header length) and whose next bytes start at `pos` in `chunk`. Returns the position
   * after the frame, or -1 when the chunk ends first.
   */
  #start(
    chunk: Uint8Array,
    pos: number,
    total: number,
    before: number,
    out: Uint8Array[],
  ): number {
    const c = this.#c;
    const strip = c.strip;
    const avail = chunk.length - pos;
    const rest = total - before;
    if (total > c.max) {
      // Too large, and failFast is off: drop the frame's bytes without storing them.
      if (avail >= rest) throw stackless(() => new FrameTooLargeError(total, c.max));
      this.#got = before + avail;
      this.#total = total;
      this.#state = DISCARD;
      return -1;
    }
    // A view when the delivered bytes all lie in this chunk. After a split header, the chunk
    // begins with the header's last `pos` bytes; its first `before - pos` are only in the
    // scratch, and must all be stripped.
    if (avail >= rest && pos + strip >= before) {
      out.push(view(chunk, pos + strip - before, total - strip));
      return pos + rest;
    }
    this.#buf = allocFrame(c.pool, total - strip);
    this.#total = total;
    this.#got = 0;
    if (before > 0) this.#feed(this.#scratch as Uint8Array, 0, before);
    if (avail >= rest) {
      this.#feed(chunk, pos, rest);
      out.push(this.#buf);
      this.#buf = EMPTY;
      return pos + rest;
    }
    this.#feed(chunk, pos, avail);
    this.#state = BODY;
    return -1;
  }

  /** Appends `n` bytes of the current frame, from `src` at `from`, to the frame buffer. */
  #feed(src: Uint8Array, from: number, n: number): void {
    const strip = this.#c.strip;
    const a = this.#got;
    const b = a + n;
    if (a >= strip && from === 0 && n === src.length) {
      // The common case of a large frame: a whole chunk of its body.
      this.#buf.set(src, a - strip);
    } else if (b > strip) {
      const skip = a < strip ? strip - a : 0;
      this.#buf.set(view(src, from + skip, n - skip), a + skip - strip);
    }
    this.#got = b;
  }

  protected _atEnd(): FramingError | undefined {
    switch (this.#state) {
      case HEADER:
        return new MalformedFrameError(
          "truncated",
          `Stream ended inside a frame header: ${this.#headerFill} of ${this.#c.header} bytes received`,
        );
      case BODY:
        return new MalformedFrameError(
          "truncated",
          `Stream ended inside a frame: ${this.#got} of ${this.#total} bytes received`,
        );
      case DISCARD:
        return new FrameTooLargeError(this.#total, this.#c.max);
      default:
        return undefined;
    }
  }
}

class LengthPrefixedCodecImpl implements LengthPrefixedCodec {
  readonly name = "length-prefixed";
  readonly trailer: Uint8Array = EMPTY;
  readonly options: Readonly<Required<Omit<LengthPrefixedOptions, "pool">>>;
  readonly #c: Config;

  constructor(
    options: Readonly<Required<Omit<LengthPrefixedOptions, "pool">>>,
    config: Config,
  ) {
    this.options = options;
    this.#c = config;
  }

  get pool(): FramePool | undefined {
    return this.#c.pool;
  }

  decoder(): FrameDecoder {
    return new LengthPrefixedDecoder(this.#c);
  }

  /** Validates `payload` and returns the length field value and the wire total. */
  #measure(payload: Uint8Array): number {
    checkPayload(payload);
    const c = this.#c;
    const n = payload.length;
    const total = c.strip + n;
    if (c.strip < c.header && n < c.header - c.strip) {
      throw new RangeError(
        `Payload of ${n} bytes is shorter than the ${c.header - c.strip} header bytes it must start with`,
      );
    }
    const value = total - c.header - c.adjust;
    if (value < 0) {
      throw new RangeError(
        `Payload of ${n} bytes would need a negative length field value, ${value}`,
      );
    }
    if (value > c.fieldMax) {
      throw new RangeError(
        `Payload of ${n} bytes needs a length field value of ${value}, above the ${c.size}-byte maximum of ${c.fieldMax}`,
      );
    }
    if (total > c.max) throw new FrameTooLargeError(total, c.max);
    return value;
  }

  encodeHeader(payload: Uint8Array): Uint8Array {
    const value = this.#measure(payload);
    const c = this.#c;
    const header = new Uint8Array(c.strip);
    if (c.strip >= c.header) {
      writeField(c, header, c.offset, value);
      return header;
    }
    // Part of the length field lies in the payload: it must already hold the right value.
    const field = new Uint8Array(c.header);
    writeField(c, field, c.offset, value);
    for (let w = c.offset; w < c.header; w++) {
      if (w < c.strip) header[w] = field[w];
      else if (payload[w - c.strip] !== field[w]) {
        const wire = new Uint8Array(c.header);
        wire.set(header);
        wire.set(payload.subarray(0, c.header - c.strip), c.strip);
        throw new RangeError(
          `Payload length field holds ${
            readFieldForMessage(c, wire)
          }, but the frame needs ${value}; use encode() to fill it in`,
        );
      }
    }
    return header;
  }

  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    const c = this.#c;
    const value = this.#measure(payload);
    const size = c.strip + payload.length;
    if (target.length - offset < size) return -1;
    for (let i = offset; i < offset + c.strip; i++) target[i] = 0;
    // As in encode: the payload first, then the field, which may reach into the payload.
    target.set(payload, offset + c.strip);
    if (c.size === 4 && !c.le) {
      const at = offset + c.offset;
      target[at] = value >>> 24;
      target[at + 1] = (value >>> 16) & 0xff;
      target[at + 2] = (value >>> 8) & 0xff;
      target[at + 3] = value & 0xff;
    } else {
      writeField(c, target, offset + c.offset, value);
    }
    return size;
  }

  encode(payload: Uint8Array): Uint8Array {
    const value = this.#measure(payload);
    const c = this.#c;
    const wire = new Uint8Array(c.strip + payload.length);
    wire.set(payload, c.strip);
    writeField(c, wire, c.offset, value);
    return wire;
  }
}

/** Reads a length field for an error message, never throwing. */
function readFieldForMessage(c: Config, wire: Uint8Array): string {
  if (c.size === 8) {
    return String(
      new DataView(wire.buffer, wire.byteOffset + c.offset, 8).getBigUint64(
        0,
        c.le,
      ),
    );
  }
  return String(readField(c, wire, c.offset));
}

/**
 * Creates a length-prefixed codec (Netty's `LengthFieldBasedFrameDecoder` and
 * `LengthFieldPrepender`, tokio's `LengthDelimitedCodec`).
 *
 * Decoding: the length field is read at `lengthFieldOffset` (8-byte fields as a BigInt,
 * rejected above 2^53 - 1); the frame's total size on the wire is
 * `lengthFieldOffset + lengthFieldLength + value + lengthAdjustment` (minus the header
 * length when `lengthIncludesHeader`). A total below the header length, or below
 * `initialBytesToStrip`, is a `MalformedFrameError`; a total above `maxFrameLength` is a
 * `FrameTooLargeError`, raised before any allocation. The delivered frame is the total
 * without its first `initialBytesToStrip` bytes.
 *
 * Encoding is the exact inverse: `encode(p)` produces bytes that decode to `p`. Bytes the
 * decoder strips and that are not the length field are written as zeros. When fewer bytes
 * are stripped than the header holds, `p` starts with the rest of the header; `encode`
 * writes the length field into its copy, while `encodeHeader` (which cannot touch `p`)
 * requires `p` to hold the right value already. A length the field cannot hold is a
 * `RangeError`; a total above `maxFrameLength` is a `FrameTooLargeError`.
 *
 * Bad options throw a `TypeError` (wrong type or unknown key) or a `RangeError`.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "./length_prefixed.ts";
 * const codec = lengthPrefixed({ lengthFieldLength: 2, byteOrder: "le" });
 * const wire = codec.encode(new Uint8Array([7, 8, 9])); // [3, 0, 7, 8, 9]
 * const d = codec.decoder();
 * for (const frame of d.push(wire)) console.log(frame); // Uint8Array [7, 8, 9]
 * d.end();
 * ```
 */
export function lengthPrefixed(
  options?: LengthPrefixedOptions,
): LengthPrefixedCodec {
  const o = checkOptions("lengthPrefixed", options, OPTION_KEYS);
  const size = o.lengthFieldLength ?? 4;
  if (typeof size !== "number") {
    throw new TypeError(
      `Option lengthFieldLength must be a number, got ${JSON.stringify(size)}`,
    );
  }
  if (size !== 1 && size !== 2 && size !== 3 && size !== 4 && size !== 8) {
    throw new RangeError(
      `Option lengthFieldLength must be 1, 2, 3, 4 or 8, got ${size}`,
    );
  }
  const byteOrder = enumOption<ByteOrder>("byteOrder", o.byteOrder, [
    "be",
    "le",
  ], "be");
  const maxFrameLength = maxFrameLengthOption(o.maxFrameLength);
  const offset = intOption(
    "lengthFieldOffset",
    o.lengthFieldOffset,
    0,
    Number.MAX_SAFE_INTEGER,
    0,
  );
  const header = offset + size;
  if (maxFrameLength < header) {
    throw new RangeError(
      `Option maxFrameLength ${maxFrameLength} is less than the header length ${header} (lengthFieldOffset ${offset} + lengthFieldLength ${size})`,
    );
  }
  const lengthAdjustment = intOption(
    "lengthAdjustment",
    o.lengthAdjustment,
    -Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER,
    0,
  );
  const strip = intOption(
    "initialBytesToStrip",
    o.initialBytesToStrip,
    0,
    maxFrameLength,
    header,
  );
  const includes = boolOption(
    "lengthIncludesHeader",
    o.lengthIncludesHeader,
    false,
  );
  const failFast = boolOption("failFast", o.failFast, true);
  const resolved: Readonly<Required<Omit<LengthPrefixedOptions, "pool">>> = Object.freeze({
    lengthFieldLength: size,
    byteOrder,
    lengthFieldOffset: offset,
    lengthAdjustment,
    initialBytesToStrip: strip,
    lengthIncludesHeader: includes,
    maxFrameLength,
    failFast,
  });
  const config: Config = {
    size,
    le: byteOrder === "le",
    offset,
    header,
    adjust: lengthAdjustment - (includes ? header : 0),
    strip,
    max: maxFrameLength,
    failFast,
    fieldMax: size === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * size) - 1,
    pool: poolOption(o.pool),
  };
  return new LengthPrefixedCodecImpl(resolved, config);
}
