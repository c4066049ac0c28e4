/**
 * Shared helpers of the framing tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type FrameCodec, type FrameDecoder, FramingError } from "../../src/framing/mod.ts";

/** Joins byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bytes from numbers. */
export function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

/** UTF-8 bytes of a string. */
export function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Cuts `wire` at the given sorted positions (each chunk a view). */
export function cut(
  wire: Uint8Array,
  positions: readonly number[],
): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...positions, wire.length]) {
    chunks.push(wire.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

/**
 * Every chunking the tests try: the whole wire, every split into two at each byte boundary,
 * and one byte per chunk.
 */
export function chunkings(wire: Uint8Array): Uint8Array[][] {
  const all: Uint8Array[][] = [[wire]];
  for (let i = 0; i <= wire.length; i++) all.push(cut(wire, [i]));
  all.push(Array.from(wire, (_, i) => wire.subarray(i, i + 1)));
  return all;
}

/** What decoding a stream gave: the frames and the error, if any. */
export interface Outcome {
  frames: Uint8Array[];
  error: FramingError | undefined;
}

/**
 * Pushes every chunk, then ends. Collects frames, including those an error carries, and the
 * error. Any error that is not a FramingError is rethrown. Checks poisoning and `buffered`.
 */
export function decodeAll(
  codec: FrameCodec,
  chunks: readonly Uint8Array[],
  bufferedLimit = Infinity,
): Outcome {
  const d: FrameDecoder = codec.decoder();
  const frames: Uint8Array[] = [];
  try {
    for (const chunk of chunks) {
      for (const f of d.push(chunk)) frames.push(f);
      if (d.buffered > bufferedLimit) {
        throw new Error(
          `Decoder holds ${d.buffered} bytes, above ${bufferedLimit}`,
        );
      }
    }
    d.end();
    return { frames, error: undefined };
  } catch (error) {
    if (!(error instanceof FramingError)) throw error;
    for (const f of error.frames) frames.push(f);
    assert.equal(d.error, error, "the decoder keeps its poisoning error");
    assertRethrows(() => d.push(new Uint8Array(1)), error);
    assertRethrows(() => d.end(), error);
    return { frames, error };
  }
}

/** Asserts that `fn` throws exactly `error` (a poisoned decoder). Cheaper than assert.throws. */
function assertRethrows(fn: () => unknown, error: unknown): void {
  try {
    fn();
  } catch (e) {
    if (e === error) return;
    throw new assert.AssertionError({
      message: "A poisoned decoder threw another error",
      actual: e,
      expected: error,
    });
  }
  throw new assert.AssertionError({
    message: "A poisoned decoder did not throw",
    expected: error,
  });
}

/** Asserts two outcomes are the same frames and the same kind of error. */
export function assertSameOutcome(
  actual: Outcome,
  expected: Outcome,
  what: string,
): void {
  assert.deepEqual(actual.frames, expected.frames, `${what}: frames`);
  assert.equal(
    errorKind(actual.error),
    errorKind(expected.error),
    `${what}: error`,
  );
}

/** The code and reason of an error, or "none". */
export function errorKind(error: FramingError | undefined): string {
  if (error === undefined) return "none";
  const reason = (error as FramingError & { reason?: string }).reason;
  return reason === undefined ? error.code : `${error.code}/${reason}`;
}

/**
 * Counts the bytes copied with `Uint8Array.prototype.set` while `fn` runs. The decoders copy
 * frame bytes only with `set`, so this counts how often each byte was copied.
 */
export function countSetBytes(fn: () => void): number {
  const original = Uint8Array.prototype.set;
  let copied = 0;
  Uint8Array.prototype.set = function (
    this: Uint8Array,
    source: ArrayLike<number>,
    offset?: number,
  ) {
    copied += source.length;
    return original.call(this, source, offset);
  } as typeof original;
  try {
    fn();
  } finally {
    Uint8Array.prototype.set = original;
  }
  return copied;
}

/** A deterministic pseudo-random generator (mulberry32) for the parameter grids. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` bytes from `random`. */
export function randomBytes(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}
