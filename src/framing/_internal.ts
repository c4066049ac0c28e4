/**
 * Helpers shared by the codecs: option checks, the poisoning base decoder and views.
 * Not part of the public API.
 *
 * @module
 */

import { FramingError } from "./errors.ts";
import type { FrameDecoder } from "./types.ts";

/** The default `maxFrameLength` of every codec: 8 MiB. */
export const DEFAULT_MAX_FRAME_LENGTH: number = 8 * 1024 * 1024;

// `Error.stackTraceLimit` is V8's and JavaScriptCore's; a frozen `Error` keeps its stacks.
const stackLimitWritable = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit")?.writable === true;

/**
 * Returns what `make` returns; an error it builds has no stack trace. A decoder's error is about
 * the bytes a peer sent: its stack would show only the decoder, and capturing it costs several
 * microseconds, more than the rest of the handling of a connection that sends half a frame and
 * resets. Under a churn of such connections that cost decides how fast a server drains its
 * accept queue.
 */
export function stackless<T>(make: () => T): T {
  if (!stackLimitWritable) return make();
  const errorClass = Error as unknown as { stackTraceLimit: number };
  const limit = errorClass.stackTraceLimit;
  errorClass.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    errorClass.stackTraceLimit = limit;
  }
}

/** An empty byte array; codecs return it as a header or trailer that has no bytes. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** Renders a bad option value for an error message. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (
    typeof value === "number" || typeof value === "boolean" || value == null
  ) {
    return String(value);
  }
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) {
    return `a Uint8Array of ${value.length} bytes`;
  }
  return `a value of type ${typeof value}`;
}

/**
 * Checks that `options` is a plain options object (or undefined) without unknown keys.
 * Returns it, or an empty object.
 */
export function checkOptions<T extends object>(
  fn: string,
  options: T | undefined,
  allowed: readonly string[],
): Partial<T> {
  if (options === undefined) return {};
  if (
    options === null || typeof options !== "object" || Array.isArray(options)
  ) {
    throw new TypeError(
      `Options of ${fn}() must be an object, got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `Unknown option ${JSON.stringify(key)} for ${fn}(); expected one of ${allowed.join(", ")}`,
      );
    }
  }
  return options;
}

/** Reads an integer option in `[min, max]`, with a default. */
export function intOption(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Option ${name} must be a number, got ${show(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Option ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/** Reads a boolean option, with a default. */
export function boolOption(
  name: string,
  value: unknown,
  fallback: boolean,
): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`Option ${name} must be a boolean, got ${show(value)}`);
  }
  return value;
}

/** Reads an option that must be one of a few strings, with a default. */
export function enumOption<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (
    typeof value !== "string" || !(choices as readonly string[]).includes(value)
  ) {
    const list = choices.map((c) => JSON.stringify(c)).join(" or ");
    throw new RangeError(`Option ${name} must be ${list}, got ${show(value)}`);
  }
  return value as T;
}

/** Reads `maxFrameLength`: an integer from `min` to 2^53 - 1, default 8 MiB. */
export function maxFrameLengthOption(value: unknown, min = 0): number {
  return intOption(
    "maxFrameLength",
    value,
    min,
    Number.MAX_SAFE_INTEGER,
    DEFAULT_MAX_FRAME_LENGTH,
  );
}

/** Throws unless `payload` is a Uint8Array. */
export function checkPayload(payload: unknown): void {
  if (!(payload instanceof Uint8Array)) {
    throw new TypeError(`Payload must be a Uint8Array, got ${show(payload)}`);
  }
}

/**
 * A view of `length` bytes of `chunk` from `start`. It is a plain `Uint8Array` even when the
 * chunk is a subclass (such as Node's `Buffer`), and on V8 it is cheaper than `subarray`,
 * which looks up the species constructor.
 */
export function view(
  chunk: Uint8Array,
  start: number,
  length: number,
): Uint8Array {
  return new Uint8Array(chunk.buffer, chunk.byteOffset + start, length);
}

/**
 * The state every decoder shares: the poisoning error and the end flag, in one field, so that a
 * decoder of each connection is as small as it can be.
 */
export abstract class DecoderBase implements FrameDecoder {
  /** Undefined while open; the error that poisoned the decoder; or `true` after a clean end. */
  #outcome: FramingError | true | undefined = undefined;

  /** The error that poisoned the decoder, if any. */
  get error(): FramingError | undefined {
    const outcome = this.#outcome;
    return outcome === true ? undefined : outcome;
  }

  /** Bytes of the current, incomplete frame that the decoder holds. */
  abstract get buffered(): number;

  /** Feeds a chunk and returns the frames it completes. */
  abstract push(chunk: Uint8Array): Uint8Array[];

  /** Declares the end of the stream; throws on a trailing partial frame. */
  end(): void {
    const error = this.finish();
    if (error !== undefined) throw error;
  }

  /** Declares the end of the stream, and returns the error that `end` throws, if any. */
  finish(): FramingError | undefined {
    if (this.#outcome !== undefined) return this.error;
    const error = stackless(() => this._atEnd());
    this.#outcome = error ?? true;
    return error;
  }

  /** Returns the error to raise at the end of the stream, if the state is not a boundary. */
  protected abstract _atEnd(): FramingError | undefined;

  /** Throws when the decoder is poisoned or ended, or when `chunk` is not bytes. */
  protected _check(chunk: unknown): void {
    const outcome = this.#outcome;
    if (outcome !== undefined) {
      throw outcome === true ? new TypeError("Cannot push to a decoder after end()") : outcome;
    }
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`Chunk must be a Uint8Array, got ${show(chunk)}`);
    }
  }

  /** Poisons the decoder with `error` (if it is a framing error) and rethrows it. */
  protected _fail(error: unknown, frames: Uint8Array[]): never {
    if (error instanceof FramingError) {
      error.frames = frames;
      this.#outcome = error;
    }
    throw error;
  }
}
