/**
 * The framer: it turns a byte stream into frames and frames into bytes.
 *
 * Codecs: {@linkcode lengthPrefixed} (Netty's and tokio's parameter set), {@linkcode varint}
 * (LEB128 length prefix), {@linkcode delimited} (lines or any delimiters) and
 * {@linkcode fixedSize}, and {@linkcode rawChunks} (every read is a message); packed structs with {@linkcode defineStruct}, and the game-server
 * packet header (u16 size, u16 id) with {@linkcode packetHeader}.
 *
 * Every codec has a synchronous, incremental decoder (`push(chunk)` returns the frames it
 * completes; `end()` reports a trailing partial frame) and an encoder (`encode`, or
 * `encodeHeader` plus `trailer` for writes without copies, see {@linkcode writeFrame}; {@linkcode encodeFrames} joins several).
 * {@linkcode FrameDecoderStream} and {@linkcode FrameEncoderStream} wrap them as Web Streams.
 * Bad input raises a {@linkcode FramingError}: {@linkcode FrameTooLargeError} or
 * {@linkcode MalformedFrameError}.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "sockmodels/framing";
 * const codec = lengthPrefixed({ lengthFieldLength: 4, maxFrameLength: 1 << 20 });
 * const d = codec.decoder();
 * const wire = codec.encode(new TextEncoder().encode("hello"));
 * for (const frame of d.push(wire)) console.log(new TextDecoder().decode(frame)); // "hello"
 * d.end();
 * ```
 *
 * @module
 */

export type { ByteSink, FrameCodec, FrameDecoder } from "./types.ts";
export { endDecoder } from "./end_decoder.ts";
export {
  FrameTooLargeError,
  FramingError,
  type FramingErrorCode,
  MalformedFrameError,
  type MalformedReason,
} from "./errors.ts";
export {
  type ByteOrder,
  type LengthFieldLength,
  lengthPrefixed,
  type LengthPrefixedCodec,
  type LengthPrefixedOptions,
} from "./length_prefixed.ts";
export { decodeVarint, encodeVarint, varint, type VarintCodec, varintLength, type VarintOptions } from "./varint.ts";
export { type BareLf, delimited, type DelimitedCodec, type DelimitedOptions, type Delimiter } from "./delimited.ts";
export { FramePool, type FramePoolOptions } from "./frame_pool.ts";
export { fixedSize, type FixedSizeCodec, type FixedSizeOptions } from "./fixed.ts";
export {
  defineStruct,
  type Endian,
  type FieldLayout,
  type FieldType,
  type FieldValue,
  type MultiByteType,
  type Struct,
  type StructFields,
  type StructInput,
  type StructOptions,
  type StructValue,
} from "./struct.ts";
export {
  type PacketFields,
  type PacketHeader,
  packetHeader,
  type PacketHeaderFields,
  type PacketHeaderOptions,
  type PacketStruct,
} from "./packet.ts";
export { FrameDecoderStream, FrameEncoderStream } from "./streams.ts";
export { encodeFrames, writeFrame } from "./write_frame.ts";
export { rawChunks } from "./raw.ts";
