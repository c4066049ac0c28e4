/**
 * Typed errors of the framer.
 *
 * Every error a decoder raises on bad input is a {@linkcode FramingError}: either a
 * {@linkcode FrameTooLargeError} (a frame declares more bytes than the configured limit) or a
 * {@linkcode MalformedFrameError} (the bytes cannot be a valid frame). Both carry a stable
 * `code` string. Bad options are reported with the standard `RangeError` and `TypeError`.
 *
 * @module
 */

/**
 * The stable codes of framing errors.
 *
 * @example
 * ```ts
 * import { FramingError, type FramingErrorCode } from "./errors.ts";
 * function describe(error: FramingError): FramingErrorCode {
 *   return error.code;
 * }
 * ```
 */
export type FramingErrorCode = "EFRAMETOOLARGE" | "EMALFORMED";

/**
 * Why a frame is malformed.
 *
 * - `"varint"`: a bad varint (overlong, non-minimal, or above 2^53 - 1).
 * - `"length"`: a length field that is negative or overflows (above 2^53 - 1).
 * - `"adjustment"`: the adjusted frame length is below the header length, or below
 *   `initialBytesToStrip`.
 * - `"delimiter"`: no delimiter within `maxFrameLength` bytes.
 * - `"bare-lf"`: a lone `"\n"` where `"\r\n"` is required and bare line feeds are errors.
 * - `"truncated"`: the stream ended inside a frame (a trailing partial frame or varint).
 * - `"short"`: a packet is shorter than its struct.
 *
 * @example
 * ```ts
 * import { MalformedFrameError } from "./errors.ts";
 * const error = new MalformedFrameError("truncated", "Stream ended inside a frame");
 * console.log(error.reason); // "truncated"
 * ```
 */
export type MalformedReason =
  | "varint"
  | "length"
  | "adjustment"
  | "delimiter"
  | "bare-lf"
  | "truncated"
  | "short";

/**
 * The base class of every error the framer raises on bad input.
 *
 * A decoder that raised a `FramingError` is poisoned: every later `push` or `end` throws the
 * same error object again. `frames` holds the complete frames that the failing `push` had
 * decoded before it reached the bad bytes, in order, so that nothing valid is lost.
 *
 * @example
 * ```ts
 * import { FramingError, lengthPrefixed } from "./mod.ts";
 * const d = lengthPrefixed({ maxFrameLength: 4 }).decoder();
 * try {
 *   d.push(new Uint8Array([0, 0, 0, 9]));
 * } catch (error) {
 *   if (error instanceof FramingError) console.log(error.code); // "EFRAMETOOLARGE"
 * }
 * ```
 */
export class FramingError extends Error {
  /** A stable code: `"EFRAMETOOLARGE"` or `"EMALFORMED"`. */
  readonly code: FramingErrorCode;
  /**
   * Complete frames that the failing `push` decoded before it reached the bad bytes. Empty
   * when the error was raised by `end`, by an encoder, or outside a decoder.
   */
  frames: readonly Uint8Array[] = [];

  /**
   * Creates a framing error.
   *
   * @param code The stable code.
   * @param message A sentence that states the bad value.
   */
  constructor(code: FramingErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A frame declares more bytes than the configured `maxFrameLength`. Decoders raise it as soon
 * as the declared length is known, before allocating anything for the frame.
 *
 * @example
 * ```ts
 * import { FrameTooLargeError } from "./errors.ts";
 * const error = new FrameTooLargeError(9_000_000, 8_388_608);
 * console.log(error.message); // "Frame length 9000000 exceeds the limit of 8388608 bytes"
 * console.log(error.size, error.limit, error.code); // 9000000 8388608 "EFRAMETOOLARGE"
 * ```
 */
export class FrameTooLargeError extends FramingError {
  /** The declared frame length, as the codec defines it (see each codec's `maxFrameLength`). */
  readonly size: number;
  /** The configured limit. */
  readonly limit: number;

  /**
   * Creates the error for a frame of `size` bytes against a limit of `limit` bytes.
   *
   * @param size The declared frame length.
   * @param limit The limit it exceeds.
   */
  constructor(size: number, limit: number) {
    super(
      "EFRAMETOOLARGE",
      `Frame length ${size} exceeds the limit of ${limit} bytes`,
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * The bytes cannot be a valid frame: a bad varint, a negative or overflowing length, an
 * adjusted length below the header, a missing delimiter past the cap, or a trailing partial
 * frame when the stream ends. `reason` tells which.
 *
 * @example
 * ```ts
 * import { MalformedFrameError, varint } from "./mod.ts";
 * const d = varint().decoder();
 * d.push(new Uint8Array([0x80]));
 * try {
 *   d.end();
 * } catch (error) {
 *   if (error instanceof MalformedFrameError) console.log(error.reason); // "truncated"
 * }
 * ```
 */
export class MalformedFrameError extends FramingError {
  /** Which rule the bytes broke. */
  readonly reason: MalformedReason;

  /**
   * Creates the error.
   *
   * @param reason Which rule the bytes broke.
   * @param message A sentence that states the bad value.
   */
  constructor(reason: MalformedReason, message: string) {
    super("EMALFORMED", message);
    this.reason = reason;
  }
}
