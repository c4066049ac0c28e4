/**
 * Property-based fuzzing of the decoders with fast-check, shared by the test suite
 * (`fuzz_test.ts`, 100,000 inputs per codec) and the soak script
 * (`scripts/bench/framing_soak.ts`, 1,000,000 per codec).
 *
 * Every input is random bytes or a valid stream with random mutations (flipped, replaced,
 * inserted or deleted bytes, truncation), with a random codec configuration and a random
 * chunking. For each input:
 * - decoding must throw nothing but `FramingError`s, and poison the decoder after one;
 * - the decoder must never hold more bytes than the configured limit allows;
 * - the frames and the error must be the same for the random chunking, for one chunk, and
 *   for an independent, deliberately naive model of the codec's rules.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type BareLf,
  defineStruct,
  delimited,
  fixedSize,
  type FrameCodec,
  FrameTooLargeError,
  FramingError,
  type LengthFieldLength,
  lengthPrefixed,
  MalformedFrameError,
  packetHeader,
  varint,
} from "../../src/framing/mod.ts";
import { concat, cut, decodeAll, type Outcome } from "./_helpers.ts";

/** The codecs the fuzzer covers. */
export const FUZZ_CODECS = [
  "lengthPrefixed",
  "varint",
  "delimited",
  "fixedSize",
  "packet",
] as const;

/** One of {@linkcode FUZZ_CODECS}. */
export type FuzzCodec = typeof FUZZ_CODECS[number];

/** What a model predicts: frames and an error kind. */
interface Expected {
  frames: Uint8Array[];
  error: string;
}

/** The comparable kind of an error: code and reason, and the size for a frame too large. */
function kind(error: FramingError | undefined): string {
  if (error === undefined) return "none";
  if (error instanceof FrameTooLargeError) return `${error.code}:${error.size}`;
  if (error instanceof MalformedFrameError) {
    return `${error.code}/${error.reason}`;
  }
  return `unexpected ${error.name}`;
}

const TRUNCATED = "EMALFORMED/truncated";

// ---------------------------------------------------------------------------------------
// Models: straightforward, whole-input restatements of each codec's rules.

interface LpConfig {
  lengthFieldLength: LengthFieldLength;
  byteOrder: "be" | "le";
  lengthFieldOffset: number;
  lengthAdjustment: number;
  lengthIncludesHeader: boolean;
  initialBytesToStrip: number;
  maxFrameLength: number;
  failFast: boolean;
}

function modelLengthPrefixed(wire: Uint8Array, c: LpConfig): Expected {
  const size = c.lengthFieldLength;
  const header = c.lengthFieldOffset + size;
  const adjust = c.lengthAdjustment - (c.lengthIncludesHeader ? header : 0);
  const frames: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    if (pos === wire.length) return { frames, error: "none" };
    if (wire.length - pos < header) return { frames, error: TRUNCATED };
    let value = 0n;
    for (let i = 0; i < size; i++) {
      const byte = wire[
        pos + c.lengthFieldOffset + (c.byteOrder === "le" ? i : size - 1 - i)
      ];
      value |= BigInt(byte) << BigInt(8 * i);
    }
    if (value >= 2n ** 53n) return { frames, error: "EMALFORMED/length" };
    const total = Number(value) + adjust + header;
    if (total < header) return { frames, error: "EMALFORMED/adjustment" };
    if (total > c.maxFrameLength) {
      return { frames, error: `EFRAMETOOLARGE:${total}` };
    }
    if (c.initialBytesToStrip > total) {
      return { frames, error: "EMALFORMED/adjustment" };
    }
    if (wire.length - pos < total) return { frames, error: TRUNCATED };
    frames.push(wire.subarray(pos + c.initialBytesToStrip, pos + total));
    pos += total;
  }
}

function modelVarint(wire: Uint8Array, max: number): Expected {
  const frames: Uint8Array[] = [];
  let pos = 0;
  while (pos < wire.length) {
    let value = 0n;
    let count = 0;
    for (;;) {
      if (pos + count >= wire.length) return { frames, error: TRUNCATED };
      const b = wire[pos + count];
      value += BigInt(b & 0x7f) << BigInt(7 * count);
      count++;
      if (b & 0x80) {
        // A 9th byte would put bits at 2^56 or above (or end in a zero byte): never valid.
        if (count === 8) return { frames, error: "EMALFORMED/varint" };
        continue;
      }
      if (b === 0 && count > 1) return { frames, error: "EMALFORMED/varint" };
      if (value >= 2n ** 53n) return { frames, error: "EMALFORMED/varint" };
      break;
    }
    const n = Number(value);
    if (n > max) return { frames, error: `EFRAMETOOLARGE:${n}` };
    if (wire.length - pos - count < n) return { frames, error: TRUNCATED };
    frames.push(wire.subarray(pos + count, pos + count + n));
    pos += count + n;
  }
  return { frames, error: "none" };
}

interface DelimConfig {
  delimiter: Uint8Array[];
  bareLf: BareLf | undefined;
  stripDelimiter: boolean;
  maxFrameLength: number;
}

function modelDelimited(wire: Uint8Array, c: DelimConfig): Expected {
  const patterns = c.delimiter.map((bytes) => ({ bytes, bare: false }));
  if (c.bareLf === "delimiter") {
    patterns.push({ bytes: new Uint8Array([10]), bare: false });
  }
  if (c.bareLf === "error") {
    patterns.push({ bytes: new Uint8Array([10]), bare: true });
  }
  const endsWith = (end: number, p: Uint8Array, start: number): boolean => {
    const from = end - p.length + 1;
    if (from < start) return false;
    for (let j = 0; j < p.length; j++) {
      if (wire[from + j] !== p[j]) return false;
    }
    return true;
  };
  const frames: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < wire.length; i++) {
    let best: { bytes: Uint8Array; bare: boolean } | undefined;
    for (const p of patterns) {
      if (
        endsWith(i, p.bytes, start) &&
        (best === undefined || p.bytes.length > best.bytes.length)
      ) best = p;
    }
    if (best === undefined) continue;
    const content = i + 1 - best.bytes.length - start;
    if (content > c.maxFrameLength) {
      return { frames, error: "EMALFORMED/delimiter" };
    }
    if (best.bare) return { frames, error: "EMALFORMED/bare-lf" };
    frames.push(
      wire.subarray(start, c.stripDelimiter ? start + content : i + 1),
    );
    start = i + 1;
  }
  if (start === wire.length) return { frames, error: "none" };
  // Bytes at the end that could still begin a delimiter do not count against the limit.
  const pending = wire.length - start;
  let partial = 0;
  for (let k = pending; k > 0 && partial === 0; k--) {
    for (const p of patterns) {
      if (p.bytes.length <= k) continue;
      let prefix = true;
      for (let j = 0; j < k; j++) {
        if (wire[wire.length - k + j] !== p.bytes[j]) prefix = false;
      }
      if (prefix) {
        partial = k;
        break;
      }
    }
  }
  return {
    frames,
    error: pending - partial > c.maxFrameLength ? "EMALFORMED/delimiter" : TRUNCATED,
  };
}

function modelFixed(wire: Uint8Array, size: number): Expected {
  const frames: Uint8Array[] = [];
  let pos = 0;
  for (; wire.length - pos >= size; pos += size) {
    frames.push(wire.subarray(pos, pos + size));
  }
  return { frames, error: pos === wire.length ? "none" : TRUNCATED };
}

// ---------------------------------------------------------------------------------------
// Inputs.

type Mutation = [op: number, at: number, value: number];

/** Applies mutations to a valid stream. */
function mutate(wire: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Array.from(wire);
  for (const [op, at, value] of mutations) {
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    switch (op) {
      case 0:
        if (bytes.length > 0) bytes[i] ^= value | 1;
        break;
      case 1:
        if (bytes.length > 0) bytes[i] = value;
        break;
      case 2:
        bytes.splice(at % (bytes.length + 1), 0, value);
        break;
      case 3:
        bytes.splice(i, 1);
        break;
      default:
        bytes = bytes.slice(0, i);
    }
  }
  return new Uint8Array(bytes);
}

/** Encodes the payloads the codec accepts, one after the other. */
function validStream(
  codec: FrameCodec,
  payloads: readonly Uint8Array[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const p of payloads) {
    try {
      parts.push(codec.encode(p));
    } catch (error) {
      if (!(error instanceof RangeError || error instanceof FramingError)) {
        throw error;
      }
    }
  }
  return concat(parts);
}

const arbMutations = fc.array(
  fc.tuple(
    fc.integer({ min: 0, max: 4 }),
    fc.nat(255),
    fc.integer({ min: 0, max: 255 }),
  ),
  { maxLength: 3 },
);

const arbCuts = fc.array(fc.nat(64), { maxLength: 5 });

/** Random bytes, or a valid stream of these payloads, mutated; and where to cut it. */
function arbInput(payload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Input> {
  return fc.oneof(
    fc.record({ bytes: fc.uint8Array({ maxLength: 40 }), cuts: arbCuts }).map((
      r,
    ): Input => ({
      random: true,
      bytes: r.bytes,
      payloads: [],
      mutations: [],
      cuts: r.cuts,
    })),
    fc.record({
      payloads: fc.array(payload, { maxLength: 4 }),
      mutations: arbMutations,
      cuts: arbCuts,
    }).map(
      (r): Input => ({ random: false, bytes: new Uint8Array(0), ...r }),
    ),
  );
}

type Input = {
  random: boolean;
  bytes: Uint8Array;
  payloads: Uint8Array[];
  mutations: Mutation[];
  cuts: number[];
};

/** Runs one input through the decoder three ways and compares with the model. */
function check(
  codec: FrameCodec,
  input: Input,
  model: (wire: Uint8Array) => Expected,
  bound: number,
): void {
  const wire = input.random ? input.bytes : mutate(validStream(codec, input.payloads), input.mutations);
  const positions = [...new Set(input.cuts.map((c) => c % (wire.length + 1)))]
    .sort((a, b) => a - b);
  const expected = model(wire);
  const chunked: Outcome = decodeAll(codec, cut(wire, positions), bound);
  const whole: Outcome = decodeAll(codec, [wire], bound);
  for (
    const [what, outcome] of [["chunked", chunked], ["whole", whole]] as const
  ) {
    assert.equal(kind(outcome.error), expected.error, `${what}: error`);
    // A quick comparison first; assert.deepEqual (slow) only to report a difference.
    if (!sameFrames(outcome.frames, expected.frames)) {
      assert.deepEqual(outcome.frames, expected.frames, `${what}: frames`);
    }
  }
}

function sameFrames(
  a: readonly Uint8Array[],
  b: readonly Uint8Array[],
): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.length !== y.length || !(x instanceof Uint8Array)) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Properties, one per codec.

const lengthFieldLengths: LengthFieldLength[] = [1, 2, 3, 4, 8];

const arbLpConfig = fc.record({
  size: fc.constantFrom(...lengthFieldLengths),
  le: fc.boolean(),
  offset: fc.nat(3),
  adjust: fc.integer({ min: -6, max: 6 }),
  includes: fc.boolean(),
  strip: fc.nat(12),
  max: fc.nat(60),
  failFast: fc.boolean(),
}).map((r): LpConfig => {
  const header = r.offset + r.size;
  const maxFrameLength = header + r.max;
  return {
    lengthFieldLength: r.size,
    byteOrder: r.le ? "le" : "be",
    lengthFieldOffset: r.offset,
    lengthAdjustment: r.adjust,
    lengthIncludesHeader: r.includes,
    initialBytesToStrip: Math.min(r.strip % (header + 4), maxFrameLength),
    maxFrameLength,
    failFast: r.failFast,
  };
});

const delimiterPool = ["\n", "\r\n", "\0", "END", "aab", "||", ";"];

const arbDelimConfig = fc.record({
  picks: fc.uniqueArray(fc.constantFrom(...delimiterPool), {
    minLength: 1,
    maxLength: 3,
  }),
  bareLf: fc.constantFrom<BareLf | undefined>(
    undefined,
    "data",
    "delimiter",
    "error",
  ),
  strip: fc.boolean(),
  max: fc.nat(24),
});

/** Payload bytes drawn mostly from the delimiters' own characters. */
const arbDelimPayload = fc.array(
  fc.constantFrom(...Array.from("\r\n\0ENDab|;x", (ch) => ch.charCodeAt(0))),
  {
    maxLength: 10,
  },
).map((a) => new Uint8Array(a));

const arbSmallPayload = fc.uint8Array({ maxLength: 12 });

/** A struct with every field type, decoded from each packet frame. */
const Everything = defineStruct({
  size: "u16",
  id: "u16",
  a: "i8",
  b: "u32be",
  c: "i64",
  d: "f32",
  e: "bool",
  f: "char[3]",
  g: "bytes[2]",
});

/**
 * Checks the property of one codec with fast-check.
 */
function assertProperty(
  codec: FuzzCodec,
  parameters: fc.Parameters<unknown>,
): void {
  const encoder = new TextEncoder();
  const run = <T extends unknown[]>(p: fc.IPropertyWithHooks<T>): void => fc.assert(p, parameters as fc.Parameters<T>);
  switch (codec) {
    case "lengthPrefixed":
      return run(
        fc.property(arbLpConfig, arbInput(arbSmallPayload), (config, input) => {
          check(
            lengthPrefixed(config),
            input,
            (w) => modelLengthPrefixed(w, config),
            config.maxFrameLength,
          );
        }),
      );
    case "varint":
      return run(
        fc.property(fc.nat(40), arbInput(arbSmallPayload), (max, input) => {
          check(
            varint({ maxFrameLength: max }),
            input,
            (w) => modelVarint(w, max),
            max + 8,
          );
        }),
      );
    case "delimited":
      return run(
        fc.property(arbDelimConfig, arbInput(arbDelimPayload), (r, input) => {
          const crlfOnly = r.picks.includes("\r\n") && !r.picks.includes("\n");
          const config: DelimConfig = {
            delimiter: r.picks.map((d) => encoder.encode(d)),
            bareLf: crlfOnly ? r.bareLf : undefined,
            stripDelimiter: r.strip,
            maxFrameLength: r.max,
          };
          let codec: FrameCodec;
          try {
            codec = delimited({ ...config, delimiter: r.picks });
          } catch (error) {
            // Sets where one delimiter sits inside another are refused; nothing to decode.
            assert.ok(
              error instanceof RangeError &&
                /occurs inside/.test(error.message),
              String(error),
            );
            return;
          }
          check(codec, input, (w) => modelDelimited(w, config), r.max + 4);
        }),
      );
    case "fixedSize":
      return run(
        fc.property(
          fc.integer({ min: 1, max: 9 }),
          arbInput(arbSmallPayload),
          (size, input) => {
            check(fixedSize(size), input, (w) => modelFixed(w, size), size);
          },
        ),
      );
    case "packet":
      return run(
        fc.property(
          fc.boolean(),
          fc.integer({ min: 4, max: 40 }),
          arbInput(arbSmallPayload),
          (le, max, input) => {
            const header = packetHeader({
              endian: le ? "le" : "be",
              maxFrameLength: max,
            });
            const model = (w: Uint8Array): Expected => {
              const base = modelLengthPrefixed(
                w,
                { ...header.lengthOptions } as LpConfig,
              );
              const short = base.frames.findIndex((f) => f.length < 4);
              return short < 0 ? base : {
                frames: base.frames.slice(0, short),
                error: "EMALFORMED/adjustment",
              };
            };
            const payloads = input.payloads.filter((p) => p.length + 4 <= max)
              .map((p) => header.encode(p.length % 7, p));
            check(header.codec, { ...input, payloads }, model, max);
            // Every packet frame either decodes as the struct or is too short for it.
            const wire = input.random ? input.bytes : mutate(concat(payloads), input.mutations);
            const { frames } = decodeAll(header.codec, [wire]);
            for (const frame of frames) {
              try {
                Everything.decode(frame);
              } catch (error) {
                assert.ok(
                  error instanceof MalformedFrameError &&
                    error.reason === "short",
                  String(error),
                );
              }
            }
          },
        ),
      );
  }
}

/**
 * Fuzzes one codec with `runs` inputs. Throws (through fast-check, with the seed and the
 * shrunk counterexample) when a property fails.
 *
 * @example
 * ```ts
 * import { fuzz } from "./_fuzz.ts";
 * fuzz("varint", 1000);
 * ```
 */
export function fuzz(codec: FuzzCodec, runs: number, seed?: number): void {
  assertProperty(codec, { numRuns: runs, seed, endOnFailure: true });
}
