/**
 * Frames that end with a delimiter: lines ending in `"\n"` or `"\r\n"`, or any byte
 * sequences, one or several.
 *
 * @module
 */

import {
  boolOption,
  checkOptions,
  checkPayload,
  DecoderBase,
  enumOption,
  maxFrameLengthOption,
  show,
  stackless,
  view,
} from "./_internal.ts";
import { FrameTooLargeError, type FramingError, MalformedFrameError } from "./errors.ts";
import { allocFrame, type FramePool, poolOption } from "./frame_pool.ts";
import type { FrameCodec, FrameDecoder } from "./types.ts";

/**
 * A delimiter: a string (encoded as UTF-8) or bytes.
 *
 * @example
 * ```ts
 * const crlf: Delimiter = "\r\n";
 * const nul: Delimiter = new Uint8Array([0]);
 * ```
 */
export type Delimiter = string | Uint8Array;

/**
 * What a lone `"\n"` means when `"\r\n"` is the delimiter.
 *
 * - `"data"` (the default): it is an ordinary byte of the frame.
 * - `"delimiter"`: it ends the frame too (lenient line endings).
 * - `"error"`: it is a `MalformedFrameError` (reason `"bare-lf"`), as strict protocols want.
 *
 * @example
 * ```ts
 * const lenient: BareLf = "delimiter";
 * ```
 */
export type BareLf = "data" | "delimiter" | "error";

/**
 * Options of {@linkcode delimited}.
 *
 * @example
 * ```ts
 * const options: DelimitedOptions = { delimiter: "\r\n", maxFrameLength: 8192, bareLf: "error" };
 * ```
 */
export interface DelimitedOptions {
  /** The delimiter, or several. Default `"\n"`. */
  delimiter?: Delimiter | readonly Delimiter[];
  /**
   * The largest frame, in bytes, not counting the delimiter. A stream that goes on for more
   * bytes without a delimiter is a `MalformedFrameError` (reason `"delimiter"`), raised as
   * soon as the bytes prove it. Default 8 MiB.
   */
  maxFrameLength?: number;
  /** Deliver frames without their delimiter. Default true. */
  stripDelimiter?: boolean;
  /** What a lone `"\n"` means when `"\r\n"` is a delimiter and `"\n"` is not. Default `"data"`. */
  bareLf?: BareLf;
  /** Buffers for frames that span chunks come from this pool (see {@linkcode FramePool}). */
  pool?: FramePool;
}

/**
 * A delimited codec, with its resolved options.
 *
 * @example
 * ```ts
 * import { delimited } from "./delimited.ts";
 * const codec = delimited({ delimiter: ["\r\n", "\0"] });
 * console.log(codec.delimiters.length); // 2
 * ```
 */
export interface DelimitedCodec extends FrameCodec {
  /** The delimiters, as bytes, in the order given. The encoder appends the first. */
  readonly delimiters: readonly Uint8Array[];
  /** The largest frame, not counting the delimiter. */
  readonly maxFrameLength: number;
  /** Frames are delivered without their delimiter. */
  readonly stripDelimiter: boolean;
  /** What a lone `"\n"` means (always `"data"` unless `"\r\n"` is a delimiter). */
  readonly bareLf: BareLf;
  /** The pool frames that span chunks are allocated from, if any. */
  readonly pool: FramePool | undefined;
}

const encoder = new TextEncoder();

/** A match kind: a delimiter, or a bare line feed that is an error. */
const KIND_DELIMITER = 1;
const KIND_BARE_LF = 2;

/**
 * An Aho-Corasick automaton over bytes, as a dense transition table. Each state records the
 * longest delimiter that ends there (0 if none) and its kind, and its depth (the length of
 * the longest delimiter prefix that ends at the current byte).
 */
class Automaton {
  readonly delta: Int32Array;
  readonly matchLength: Int32Array;
  readonly matchKind: Uint8Array;
  readonly depth: Int32Array;

  constructor(patterns: readonly { bytes: Uint8Array; kind: number }[]) {
    const children: Map<number, number>[] = [new Map()];
    const depth: number[] = [0];
    const ownLength: number[] = [0];
    const ownKind: number[] = [0];
    for (const { bytes, kind } of patterns) {
      let s = 0;
      for (const b of bytes) {
        let next = children[s].get(b);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          depth.push(depth[s] + 1);
          ownLength.push(0);
          ownKind.push(0);
          children[s].set(b, next);
        }
        s = next;
      }
      ownLength[s] = bytes.length;
      ownKind[s] = kind;
    }
    const n = children.length;
    const delta = new Int32Array(n * 256);
    const fail = new Int32Array(n);
    const matchLength = new Int32Array(n);
    const matchKind = new Uint8Array(n);
    // Breadth-first: a state's failure state is finished before the state itself.
    const queue: number[] = [0];
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q];
      if (ownLength[s] > 0) {
        matchLength[s] = ownLength[s];
        matchKind[s] = ownKind[s];
      } else {
        matchLength[s] = matchLength[fail[s]];
        matchKind[s] = matchKind[fail[s]];
      }
      for (let b = 0; b < 256; b++) {
        const child = children[s].get(b);
        if (child !== undefined) {
          fail[child] = s === 0 ? 0 : delta[fail[s] * 256 + b];
          delta[s * 256 + b] = child;
          queue.push(child);
        } else {
          delta[s * 256 + b] = s === 0 ? 0 : delta[fail[s] * 256 + b];
        }
      }
    }
    this.delta = delta;
    this.matchLength = matchLength;
    this.matchKind = matchKind;
    this.depth = Int32Array.from(depth);
  }
}

/** How the decoder searches: one byte with `indexOf`, `"\r\n"` with `indexOf`, or automaton. */
const MODE_BYTE = 0;
const MODE_CRLF = 1;
const MODE_AUTOMATON = 2;

interface Config {
  readonly mode: number;
  /** The delimiter byte in MODE_BYTE. */
  readonly byte: number;
  readonly bareLf: BareLf;
  readonly automaton: Automaton;
  readonly max: number;
  readonly strip: boolean;
  readonly pool: FramePool | undefined;
}

function missingDelimiter(max: number, seen: number): MalformedFrameError {
  return stackless(() =>
    new MalformedFrameError(
      "delimiter",
      `No delimiter found within the limit of ${max} bytes (${seen} bytes without one)`,
    )
  );
}

function bareLfError(offset: number): MalformedFrameError {
  return stackless(() =>
    new MalformedFrameError("bare-lf", `Line feed without a carriage return at byte ${offset} of the frame`)
  );
}

class DelimitedDecoder extends DecoderBase {
  readonly #c: Config;
  /** Views of the current frame's bytes from earlier chunks (never copied until the end). */
  #pieces: Uint8Array[] = [];
  /** Total length of `#pieces`. */
  #pending = 0;
  /** Automaton state (MODE_AUTOMATON). */
  #s = 0;
  /** The last pending byte is "\r" (MODE_CRLF). */
  #cr = false;

  constructor(config: Config) {
    super();
    this.#c = config;
  }

  get buffered(): number {
    return this.#pending;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this._check(chunk);
    const out: Uint8Array[] = [];
    try {
      const c = this.#c;
      const end = chunk.length;
      let start = 0; // where the current frame's bytes begin in this chunk
      let from = 0; // where the search resumes
      for (;;) {
        // Find the last byte `e` of the next delimiter and its length `m`, or e = -1.
        let e = -1;
        let m = 0;
        if (c.mode === MODE_BYTE) {
          e = chunk.indexOf(c.byte, from);
          m = 1;
        } else if (c.mode === MODE_CRLF) {
          while (from < end) {
            const lf = chunk.indexOf(10, from);
            if (lf < 0) break;
            const cr = lf > start ? chunk[lf - 1] === 13 : this.#pending > 0 && this.#cr;
            if (cr) {
              e = lf;
              m = 2;
              break;
            }
            if (c.bareLf === "delimiter") {
              e = lf;
              m = 1;
              break;
            }
            if (c.bareLf === "error") {
              const at = this.#pending + lf - start;
              if (at > c.max) throw missingDelimiter(c.max, at);
              throw bareLfError(at);
            }
            from = lf + 1;
          }
          if (e < 0 && end > start) this.#cr = chunk[end - 1] === 13;
        } else {
          const a = c.automaton;
          const delta = a.delta;
          const matchLength = a.matchLength;
          let s = this.#s;
          for (let i = from; i < end; i++) {
            s = delta[(s << 8) | chunk[i]];
            if (matchLength[s] !== 0) {
              e = i;
              m = matchLength[s];
              if (a.matchKind[s] === KIND_BARE_LF) {
                const at = this.#pending + i - start;
                if (at > c.max) throw missingDelimiter(c.max, at);
                throw bareLfError(at);
              }
              break;
            }
          }
          this.#s = e < 0 ? s : 0;
        }

        if (e < 0) {
          // No delimiter in the rest of the chunk: keep a view of it for the frame.
          const partial = c.mode === MODE_BYTE
            ? 0
            : c.mode === MODE_CRLF
            ? (this.#cr ? 1 : 0)
            : c.automaton.depth[this.#s];
          const seen = this.#pending + (end - start);
          if (seen - partial > c.max) {
            throw missingDelimiter(c.max, seen - partial);
          }
          if (end > start) {
            this.#pieces.push(view(chunk, start, end - start));
            this.#pending = seen;
          }
          return out;
        }

        const wire = this.#pending + (e + 1 - start);
        const content = wire - m;
        if (content > c.max) throw missingDelimiter(c.max, content);
        out.push(this.#take(chunk, start, c.strip ? content : wire));
        start = from = e + 1;
        if (start === end) return out;
      }
    } catch (error) {
      this._fail(error, out);
    }
  }

  /**
   * Returns the current frame's first `length` bytes: the pending pieces, then the chunk's
   * bytes from `start`. A frame that lies in one piece or in the chunk is a view; otherwise it
   * is copied once, into its own buffer. Resets the pending state.
   */
  #take(chunk: Uint8Array, start: number, length: number): Uint8Array {
    const pieces = this.#pieces;
    if (this.#pending === 0) return view(chunk, start, length);
    this.#pieces = [];
    this.#pending = 0;
    this.#cr = false;
    if (length <= pieces[0].length) return view(pieces[0], 0, length);
    const frame = allocFrame(this.#c.pool, length);
    let at = 0;
    for (const piece of pieces) {
      const n = Math.min(piece.length, length - at);
      frame.set(n === piece.length ? piece : view(piece, 0, n), at);
      at += n;
      if (at === length) return frame;
    }
    frame.set(view(chunk, start, length - at), at);
    return frame;
  }

  protected _atEnd(): FramingError | undefined {
    if (this.#pending === 0) return undefined;
    return new MalformedFrameError(
      "truncated",
      `Stream ended inside a frame: ${this.#pending} bytes without a delimiter`,
    );
  }
}

class DelimitedCodecImpl implements DelimitedCodec {
  readonly name = "delimited";
  readonly trailer: Uint8Array;
  readonly delimiters: readonly Uint8Array[];
  readonly maxFrameLength: number;
  readonly stripDelimiter: boolean;
  readonly bareLf: BareLf;
  readonly pool: FramePool | undefined;
  readonly #c: Config;

  constructor(delimiters: Uint8Array[], config: Config) {
    this.delimiters = Object.freeze(delimiters);
    this.trailer = delimiters[0];
    this.maxFrameLength = config.max;
    this.stripDelimiter = config.strip;
    this.bareLf = config.bareLf;
    this.pool = config.pool;
    this.#c = config;
  }

  decoder(): FrameDecoder {
    return new DelimitedDecoder(this.#c);
  }

  /** Throws unless `payload` followed by the trailer decodes back to exactly `payload`. */
  #check(payload: Uint8Array): void {
    checkPayload(payload);
    const c = this.#c;
    if (payload.length > c.max) {
      throw new FrameTooLargeError(payload.length, c.max);
    }
    const { delta, matchLength } = c.automaton;
    const trailer = this.trailer;
    const n = payload.length;
    let s = 0;
    for (let i = 0; i < n + trailer.length; i++) {
      s = delta[(s << 8) | (i < n ? payload[i] : trailer[i - n])];
      if (matchLength[s] !== 0) {
        if (i === n + trailer.length - 1 && matchLength[s] === trailer.length) {
          return;
        }
        const at = i - matchLength[s] + 1;
        const what = c.automaton.matchKind[s] === KIND_BARE_LF
          ? "a line feed without a carriage return"
          : "a delimiter";
        throw new RangeError(
          `Payload contains ${what} at byte ${at}${
            at + matchLength[s] > n ? " (with the start of the trailer)" : ""
          }, so it cannot be sent as one frame`,
        );
      }
    }
  }

  encodeHeader(payload: Uint8Array): Uint8Array {
    this.#check(payload);
    return new Uint8Array(0);
  }

  encodeInto(payload: Uint8Array, target: Uint8Array, offset: number): number {
    this.#check(payload);
    const size = payload.length + this.trailer.length;
    if (target.length - offset < size) return -1;
    target.set(payload, offset);
    target.set(this.trailer, offset + payload.length);
    return size;
  }

  encode(payload: Uint8Array): Uint8Array {
    this.#check(payload);
    const wire = new Uint8Array(payload.length + this.trailer.length);
    wire.set(payload);
    wire.set(this.trailer, payload.length);
    return wire;
  }
}

function toBytes(delimiter: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof delimiter === "string") bytes = encoder.encode(delimiter);
  else if (delimiter instanceof Uint8Array) bytes = Uint8Array.from(delimiter);
  else {
    throw new TypeError(
      `Option delimiter must be a string or a Uint8Array, got ${show(delimiter)}`,
    );
  }
  if (bytes.length === 0) {
    throw new RangeError(
      `Option delimiter must not be empty, got ${show(delimiter)}`,
    );
  }
  return bytes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Index of `needle` in `hay` at or after `from`, or -1. */
function indexOfBytes(
  hay: Uint8Array,
  needle: Uint8Array,
  from: number,
): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function label(bytes: Uint8Array): string {
  return JSON.stringify(new TextDecoder().decode(bytes));
}

/**
 * Creates a codec whose frames end with a delimiter (Netty's `DelimiterBasedFrameDecoder` and
 * `LineBasedFrameDecoder`).
 *
 * Search: the decoder scans every byte once, resuming where the previous chunk ended, so a
 * delimiter split across chunks is found and no byte is searched twice. A single-byte
 * delimiter and `"\r\n"` use the native `indexOf`; other sets use an Aho-Corasick automaton.
 * A frame ends at the first byte that completes a delimiter; if several delimiters end there,
 * the longest one is taken (so `"\r\n"` wins over `"\n"`). A delimiter that contains another
 * one other than at its end could never match, so such a set is a `RangeError`.
 *
 * Buffers: a frame that lies in one chunk is a view. The bytes of a frame that spans chunks
 * are kept as views of those chunks until its delimiter arrives, then copied once into the
 * frame's own buffer.
 *
 * Limits: a frame longer than `maxFrameLength` (not counting the delimiter) is a
 * `MalformedFrameError` with reason `"delimiter"`, raised as soon as that many bytes have
 * arrived without a delimiter. At the end of the stream, bytes without a delimiter are a
 * `MalformedFrameError` with reason `"truncated"`.
 *
 * Encoding appends the first delimiter. A payload that contains a delimiter (or that would
 * form one with the start of the appended delimiter) is a `RangeError`, and one longer than
 * `maxFrameLength` a `FrameTooLargeError`. Decoded frames are the payloads, or the payloads
 * with their delimiter when `stripDelimiter` is false.
 *
 * @example
 * ```ts
 * import { delimited } from "./delimited.ts";
 * const codec = delimited({ delimiter: "\r\n", maxFrameLength: 1024 });
 * const d = codec.decoder();
 * const text = new TextEncoder();
 * console.log(d.push(text.encode("HELO a\r")).length); // 0
 * console.log(d.push(text.encode("\nQUIT\r\n")).length); // 2: "HELO a", "QUIT"
 * d.end();
 * ```
 */
export function delimited(options?: DelimitedOptions): DelimitedCodec {
  const o = checkOptions("delimited", options, [
    "delimiter",
    "maxFrameLength",
    "stripDelimiter",
    "bareLf",
    "pool",
  ]);
  const given = o.delimiter === undefined
    ? ["\n"]
    : Array.isArray(o.delimiter)
    ? (o.delimiter as readonly Delimiter[])
    : [o.delimiter as Delimiter];
  if (given.length === 0) {
    throw new RangeError("Option delimiter must not be an empty array");
  }
  const delimiters: Uint8Array[] = [];
  for (const d of given) {
    const bytes = toBytes(d);
    if (!delimiters.some((x) => sameBytes(x, bytes))) delimiters.push(bytes);
  }
  const max = maxFrameLengthOption(o.maxFrameLength);
  const strip = boolOption("stripDelimiter", o.stripDelimiter, true);
  const hasCrlf = delimiters.some((d) => d.length === 2 && d[0] === 13 && d[1] === 10);
  const hasLf = delimiters.some((d) => d.length === 1 && d[0] === 10);
  if (o.bareLf !== undefined && (!hasCrlf || hasLf)) {
    throw new RangeError(
      `Option bareLf applies only when "\\r\\n" is a delimiter and "\\n" is not, got ${show(o.bareLf)}`,
    );
  }
  const bareLf = enumOption<BareLf>("bareLf", o.bareLf, [
    "data",
    "delimiter",
    "error",
  ], "data");
  const patterns = delimiters.map((bytes) => ({ bytes, kind: KIND_DELIMITER }));
  if (bareLf !== "data") {
    patterns.push({
      bytes: new Uint8Array([10]),
      kind: bareLf === "error" ? KIND_BARE_LF : KIND_DELIMITER,
    });
  }
  // A pattern found inside another one, anywhere but at its end, would always win over it.
  for (const a of patterns) {
    for (const b of patterns) {
      if (a === b || a.bytes.length >= b.bytes.length) continue;
      const at = indexOfBytes(b.bytes, a.bytes, 0);
      if (at >= 0 && at + a.bytes.length < b.bytes.length) {
        throw new RangeError(
          `Delimiter ${label(a.bytes)} occurs inside delimiter ${label(b.bytes)}, which could then never match`,
        );
      }
    }
  }
  const single = delimiters.length === 1 ? delimiters[0] : undefined;
  const mode = single !== undefined && single.length === 1
    ? MODE_BYTE
    : single !== undefined && hasCrlf
    ? MODE_CRLF
    : MODE_AUTOMATON;
  const config: Config = {
    mode,
    byte: single !== undefined ? single[0] : 0,
    bareLf,
    automaton: new Automaton(patterns),
    max,
    strip,
    pool: poolOption(o.pool),
  };
  return new DelimitedCodecImpl(delimiters, config);
}
