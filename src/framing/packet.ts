/**
 * The game-server packet convention: every packet starts with a packed header of a `u16`
 * size, which counts the header itself, and a `u16` packet id; the receiver reads the size,
 * waits for the whole packet, then casts it to the struct the id names.
 *
 * @module
 */

import { checkOptions, checkPayload, DecoderBase, intOption, show, stackless } from "./_internal.ts";
import { FramingError, MalformedFrameError } from "./errors.ts";
import type { FramePool } from "./frame_pool.ts";
import type { FrameDecoder } from "./types.ts";
import { lengthPrefixed, type LengthPrefixedCodec, type LengthPrefixedOptions } from "./length_prefixed.ts";
import {
  defineStruct,
  type Endian,
  type FieldLayout,
  type FieldValue,
  type Struct,
  type StructFields,
  type StructInput,
  type StructValue,
} from "./struct.ts";

/**
 * The header fields: `size` (the whole packet, header included) then `id`.
 *
 * @example
 * ```ts
 * const fields: PacketHeaderFields = { size: "u16", id: "u16" };
 * ```
 */
export type PacketHeaderFields = { readonly size: "u16"; readonly id: "u16" };

/**
 * The fields of a packet struct: the header's, then the packet's own.
 *
 * @example
 * ```ts
 * type Move = PacketFields<{ x: "f32"; y: "f32" }>; // size, id, x, y
 * ```
 */
export type PacketFields<F extends StructFields> = PacketHeaderFields & F;

/**
 * Options of {@linkcode packetHeader}.
 *
 * @example
 * ```ts
 * const options: PacketHeaderOptions = { endian: "le", maxFrameLength: 4096 };
 * ```
 */
export interface PacketHeaderOptions {
  /** Byte order of the header and of the packets defined with it. Default `"le"`. */
  endian?: Endian;
  /** The largest packet, header included: 4 to 65535. Default 65535. */
  maxFrameLength?: number;
}

/**
 * A fixed-layout packet struct with its id: `encode` fills in `size` and `id`.
 *
 * @example
 * ```ts
 * import { packetHeader } from "./packet.ts";
 * const Chat = packetHeader().definePacket(2, { text: "char[64]" });
 * const bytes = Chat.encode({ text: "hello" });
 * console.log(Chat.id, Chat.sizeof, Chat.is(bytes)); // 2 68 true
 * ```
 */
export interface PacketStruct<F extends StructFields> extends Struct<PacketFields<F>> {
  /** The packet id written in every packet of this type. */
  readonly id: number;
  /** True when `frame` is a packet of this type (its id matches). */
  is(frame: Uint8Array): boolean;
}

/**
 * The packet header helper: its struct, the matching `lengthPrefixed` codec, and functions to
 * read headers and build packets.
 *
 * @example
 * ```ts
 * import { packetHeader } from "./packet.ts";
 * const header = packetHeader({ endian: "le" });
 * const d = header.codec.decoder();
 * for (const frame of d.push(header.encode(7, new Uint8Array([1, 2])))) {
 *   console.log(header.id(frame), header.body(frame)); // 7 Uint8Array [1, 2]
 * }
 * ```
 */
export interface PacketHeader {
  /** The header struct: `{ size: "u16", id: "u16" }`. */
  readonly struct: Struct<PacketHeaderFields>;
  /** The header size: 4 bytes. */
  readonly sizeof: number;
  /**
   * The `lengthPrefixed` options of the convention: a 2-byte length at offset 0 that counts
   * the header, nothing stripped (frames are whole packets, header included).
   */
  readonly lengthOptions: Readonly<LengthPrefixedOptions>;
  /**
   * `lengthPrefixed(lengthOptions)`, which also rejects a packet whose size cannot hold the
   * 4-byte header (a `MalformedFrameError` with reason `"adjustment"`).
   */
  readonly codec: LengthPrefixedCodec;
  /** The id of a packet (a frame from `codec`). */
  id(frame: Uint8Array): number;
  /** The size field of a packet. */
  size(frame: Uint8Array): number;
  /** The bytes after the header (a view). */
  body(frame: Uint8Array): Uint8Array;
  /** A whole packet: the header for `id`, then a copy of `body`. */
  encode(id: number, body?: Uint8Array): Uint8Array;
  /** Just the 4 header bytes for a packet `id` with a body of `bodyLength` bytes. */
  encodeHeader(id: number, bodyLength: number): Uint8Array;
  /** Defines a fixed-layout packet type with this header and the given id. */
  definePacket<const F extends StructFields>(
    id: number,
    fields: F,
  ): PacketStruct<F>;
}

class PacketStructImpl<F extends StructFields> implements PacketStruct<F> {
  readonly id: number;
  readonly sizeof: number;
  readonly endian: Endian;
  readonly layout: readonly FieldLayout[];
  readonly #s: Struct<PacketFields<F>>;
  readonly #header: PacketHeader;

  constructor(id: number, s: Struct<PacketFields<F>>, header: PacketHeader) {
    this.id = id;
    this.#s = s;
    this.#header = header;
    this.sizeof = s.sizeof;
    this.endian = s.endian;
    this.layout = s.layout;
  }

  is(frame: Uint8Array): boolean {
    return frame.length >= 4 && this.#header.id(frame) === this.id;
  }

  offsetOf(name: keyof PacketFields<F> & string): number {
    return this.#s.offsetOf(name);
  }

  decode(bytes: Uint8Array, offset?: number): StructValue<PacketFields<F>> {
    return this.#s.decode(bytes, offset);
  }

  encode(value: StructInput<PacketFields<F>>): Uint8Array {
    const bytes = new Uint8Array(this.sizeof);
    this.encodeInto(value, bytes, 0);
    return bytes;
  }

  encodeInto(
    value: StructInput<PacketFields<F>>,
    target: Uint8Array,
    offset?: number,
  ): void {
    if (value === null || typeof value !== "object") {
      throw new TypeError(`Packet value must be an object, got ${show(value)}`);
    }
    const given = value as { size?: unknown; id?: unknown };
    if (given.size !== undefined && given.size !== this.sizeof) {
      throw new RangeError(
        `Packet size must be ${this.sizeof}, got ${show(given.size)}`,
      );
    }
    if (given.id !== undefined && given.id !== this.id) {
      throw new RangeError(
        `Packet id must be ${this.id}, got ${show(given.id)}`,
      );
    }
    const full = { ...value, size: this.sizeof, id: this.id } as StructInput<
      PacketFields<F>
    >;
    this.#s.encodeInto(full, target, offset);
  }

  get<K extends keyof PacketFields<F> & string>(
    bytes: Uint8Array,
    name: K,
    offset?: number,
  ): FieldValue<PacketFields<F>[K]> {
    return this.#s.get(bytes, name, offset);
  }

  set<K extends keyof PacketFields<F> & string>(
    bytes: Uint8Array,
    name: K,
    value: FieldValue<PacketFields<F>[K]>,
    offset?: number,
  ): void {
    this.#s.set(bytes, name, value, offset);
  }
}

/** The length-prefixed decoder, plus the packet rule that a size holds at least the header. */
class PacketDecoder extends DecoderBase {
  readonly #inner: FrameDecoder;

  constructor(inner: FrameDecoder) {
    super();
    this.#inner = inner;
  }

  get buffered(): number {
    return this.#inner.buffered;
  }

  get copiesIncompleteFrames(): boolean {
    return this.#inner.copiesIncompleteFrames === true;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this._check(chunk);
    let frames: Uint8Array[];
    let failure: FramingError | undefined;
    try {
      frames = this.#inner.push(chunk);
    } catch (error) {
      if (!(error instanceof FramingError)) throw error;
      failure = error;
      frames = [...error.frames];
    }
    for (let i = 0; i < frames.length; i++) {
      if (frames[i].length < 4) {
        this._fail(
          stackless(() =>
            new MalformedFrameError(
              "adjustment",
              `Packet size ${frames[i].length} is less than the packet header of 4 bytes`,
            )
          ),
          frames.slice(0, i),
        );
      }
    }
    if (failure !== undefined) this._fail(failure, frames);
    return frames;
  }

  protected _atEnd(): FramingError | undefined {
    try {
      this.#inner.end();
      return undefined;
    } catch (error) {
      return error as FramingError;
    }
  }
}

/** The `lengthPrefixed` codec of the packet convention, with packets checked for a header. */
class PacketCodec implements LengthPrefixedCodec {
  readonly name = "packet";
  readonly trailer: Uint8Array;
  readonly options: Readonly<Required<Omit<LengthPrefixedOptions, "pool">>>;
  readonly pool: FramePool | undefined;
  readonly #inner: LengthPrefixedCodec;

  constructor(inner: LengthPrefixedCodec) {
    this.#inner = inner;
    this.trailer = inner.trailer;
    this.options = inner.options;
    this.pool = inner.pool;
  }

  decoder(): FrameDecoder {
    return new PacketDecoder(this.#inner.decoder());
  }

  encode(payload: Uint8Array): Uint8Array {
    this.#check(payload);
    return this.#inner.encode(payload);
  }

  encodeHeader(payload: Uint8Array): Uint8Array {
    this.#check(payload);
    return this.#inner.encodeHeader(payload);
  }

  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    this.#check(payload);
    return this.#inner.encodeInto!(payload, target, offset);
  }

  #check(payload: Uint8Array): void {
    checkPayload(payload);
    if (payload.length < 4) {
      throw new RangeError(
        `Packet of ${payload.length} bytes is shorter than its 4-byte header`,
      );
    }
  }
}

function checkId(id: unknown): number {
  if (
    typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffff
  ) {
    throw new RangeError(
      `Packet id must be an integer from 0 to 65535, got ${show(id)}`,
    );
  }
  return id;
}

class PacketHeaderImpl implements PacketHeader {
  readonly struct: Struct<PacketHeaderFields>;
  readonly sizeof = 4;
  readonly lengthOptions: Readonly<LengthPrefixedOptions>;
  readonly codec: LengthPrefixedCodec;
  readonly #le: boolean;
  readonly #max: number;

  constructor(endian: Endian, max: number) {
    this.#le = endian === "le";
    this.#max = max;
    this.struct = defineStruct({ size: "u16", id: "u16" }, { endian });
    this.lengthOptions = Object.freeze(
      {
        lengthFieldLength: 2,
        byteOrder: endian,
        lengthFieldOffset: 0,
        lengthAdjustment: 0,
        lengthIncludesHeader: true,
        initialBytesToStrip: 0,
        maxFrameLength: max,
        failFast: true,
      } as const,
    );
    this.codec = new PacketCodec(lengthPrefixed(this.lengthOptions));
  }

  #u16(frame: Uint8Array, at: number): number {
    checkPayload(frame);
    if (frame.length < 4) {
      // The struct reports the short packet with a MalformedFrameError.
      return this.struct.get(frame, at === 0 ? "size" : "id");
    }
    return this.#le ? frame[at] | (frame[at + 1] << 8) : (frame[at] << 8) | frame[at + 1];
  }

  id(frame: Uint8Array): number {
    return this.#u16(frame, 2);
  }

  size(frame: Uint8Array): number {
    return this.#u16(frame, 0);
  }

  body(frame: Uint8Array): Uint8Array {
    this.#u16(frame, 0);
    return frame.subarray(4);
  }

  encodeHeader(id: number, bodyLength: number): Uint8Array {
    checkId(id);
    const size = 4 + bodyLength;
    if (!Number.isInteger(bodyLength) || bodyLength < 0 || size > this.#max) {
      throw new RangeError(
        `Packet body of ${bodyLength} bytes does not fit a packet of at most ${this.#max} bytes`,
      );
    }
    return this.struct.encode({ size, id });
  }

  encode(id: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
    checkPayload(body);
    const header = this.encodeHeader(id, body.length);
    const packet = new Uint8Array(4 + body.length);
    packet.set(header);
    packet.set(body, 4);
    return packet;
  }

  definePacket<const F extends StructFields>(
    id: number,
    fields: F,
  ): PacketStruct<F> {
    checkId(id);
    if (fields === null || typeof fields !== "object") {
      throw new TypeError(
        `Packet fields must be an object, got ${show(fields)}`,
      );
    }
    for (const name of ["size", "id"]) {
      if (Object.hasOwn(fields, name)) {
        throw new TypeError(
          `Packet fields must not include ${JSON.stringify(name)}; the header has it`,
        );
      }
    }
    const s = defineStruct(
      { size: "u16", id: "u16", ...fields } as PacketFields<F>,
      {
        endian: this.struct.endian,
      },
    );
    if (s.sizeof > this.#max) {
      throw new RangeError(
        `Packet of ${s.sizeof} bytes exceeds the limit of ${this.#max} bytes`,
      );
    }
    return new PacketStructImpl<F>(id, s, this);
  }
}

/**
 * Creates the packet header helper for the game-server convention of the seeds: a packed
 * header of `u16 size` (the whole packet, header included) and `u16 id`, little endian by
 * default (the in-memory layout of the C struct on x86).
 *
 * It plugs into {@linkcode lengthPrefixed}: `lengthPrefixed(lengthOptions)` splits the
 * stream into whole packets, header included; `codec` does the same and also rejects a size
 * below the 4-byte header. A size above `maxFrameLength` is a `FrameTooLargeError`. Packet types made with `definePacket` fill in `size` and `id` when they
 * encode.
 *
 * @example
 * ```ts
 * import { packetHeader } from "./packet.ts";
 * const header = packetHeader();
 * const Move = header.definePacket(1, { x: "f32", y: "f32" });
 * const d = header.codec.decoder();
 * for (const frame of d.push(Move.encode({ x: 3, y: 4 }))) {
 *   if (Move.is(frame)) console.log(Move.decode(frame)); // { size: 12, id: 1, x: 3, y: 4 }
 * }
 * ```
 */
export function packetHeader(options?: PacketHeaderOptions): PacketHeader {
  const o = checkOptions("packetHeader", options, ["endian", "maxFrameLength"]);
  const endian = o.endian ?? "le";
  if (endian !== "le" && endian !== "be") {
    throw new RangeError(
      `Option endian must be "le" or "be", got ${show(endian)}`,
    );
  }
  const max = intOption("maxFrameLength", o.maxFrameLength, 4, 0xffff, 0xffff);
  return new PacketHeaderImpl(endian, max);
}
