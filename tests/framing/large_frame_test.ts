/**
 * Large frames that arrive in many chunks, without a pool and with one: the frame buffer is
 * allocated once, when the length prefix is complete, at exactly the frame's size; every byte
 * is copied into it once, each chunk of the body with one `set` of the chunk itself; the
 * buffer is handed over as it is, and the decoder never touches it again.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type FrameCodec,
  FramePool,
  FrameTooLargeError,
  lengthPrefixed,
  MalformedFrameError,
  varint,
} from "../../src/framing/mod.ts";
import { bytes, concat, countSetBytes, cut, randomBytes, rng } from "./_helpers.ts";

/** A pool that records every buffer it hands out, and the push during which it did. */
class SpyPool extends FramePool {
  readonly allocs: { length: number; push: number; frame: Uint8Array }[] = [];
  push = -1;

  constructor() {
    super({ minFrameLength: 1 });
  }

  override alloc(length: number): Uint8Array {
    const frame = super.alloc(length);
    this.allocs.push({ length, push: this.push, frame });
    return frame;
  }
}

interface Layout {
  name: string;
  make(pool?: FramePool): FrameCodec;
  /** Header length on the wire of a frame with an `n`-byte payload. */
  header(n: number): number;
  /** Bytes the decoder strips from the start of each frame on the wire. */
  strip(n: number): number;
}

const LAYOUTS: Layout[] = [
  {
    name: "lengthPrefixed, 4-byte big endian",
    make: (pool) => lengthPrefixed({ lengthFieldLength: 4, pool }),
    header: () => 4,
    strip: () => 4,
  },
  {
    name: "lengthPrefixed, 8-byte little endian, header kept",
    make: (pool) => lengthPrefixed({ lengthFieldLength: 8, byteOrder: "le", initialBytesToStrip: 0, pool }),
    header: () => 8,
    strip: () => 0,
  },
  {
    name: "lengthPrefixed, 3-byte field at offset 2, stripped to its middle",
    make: (pool) => lengthPrefixed({ lengthFieldLength: 3, lengthFieldOffset: 2, initialBytesToStrip: 3, pool }),
    header: () => 5,
    strip: () => 3,
  },
  {
    name: "varint",
    make: (pool) => varint({ pool }),
    header: (n) => n < 0x80 ? 1 : n < 0x4000 ? 2 : 3,
    strip: (n) => n < 0x80 ? 1 : n < 0x4000 ? 2 : 3,
  },
];

/** Small frames around two large ones: the second starts in the chunk that ends the first. */
const SIZES = [9, 70_000, 8, 10, 12, 65_553, 11];
const LARGE = [1, 5];

interface Frame {
  /** Wire offsets of the frame and of the delivered bytes. */
  start: number;
  from: number;
  end: number;
  header: number;
}

function stream(layout: Layout): { wire: Uint8Array; frames: Frame[] } {
  const random = rng(31);
  const codec = layout.make();
  const parts: Uint8Array[] = [];
  const frames: Frame[] = [];
  let at = 0;
  for (const n of SIZES) {
    const part = codec.encode(randomBytes(random, n));
    frames.push({ start: at, from: at + layout.strip(n), end: at + part.length, header: layout.header(n) });
    parts.push(part);
    at += part.length;
  }
  return { wire: concat(parts), frames };
}

/** The cut positions of every chunking tried, each sorted and inside the wire. */
function cutSets(wire: Uint8Array, frames: Frame[]): { name: string; cuts: number[] }[] {
  const sets: { name: string; cuts: number[] }[] = [];
  const [a, b] = LARGE.map((i) => frames[i]);
  for (const f of [a, b]) {
    for (let k = 1; k < f.header; k++) {
      sets.push({ name: `prefix split after ${k} bytes`, cuts: [f.start + k] });
      sets.push({ name: `prefix split after ${k} bytes, body split`, cuts: [f.start + k, f.start + 1000] });
      sets.push({
        name: `prefix byte by byte from ${k}`,
        cuts: Array.from({ length: f.header - k + 1 }, (_, i) => f.start + k + i),
      });
    }
    sets.push({ name: "chunk ends with the prefix", cuts: [f.start + f.header] });
    sets.push({ name: "prefix and one body byte", cuts: [f.start, f.start + f.header + 1] });
    sets.push({ name: "prefix and a partial body in one chunk", cuts: [f.start, f.start + f.header + 100] });
    sets.push({ name: "chunk ends with the frame", cuts: [f.start + 3, f.end] });
  }
  sets.push({
    name: "one chunk ends the first large frame, holds three frames and starts the next large one",
    cuts: [a.start + a.header + 10, a.end - 5, b.start + b.header + 7],
  });
  sets.push({ name: "one byte of the first large frame, then every other frame", cuts: [a.end - 1] });
  sets.push({ name: "the last byte of a large frame alone", cuts: [a.end - 1, a.end] });
  for (const size of [1, 1500, 4096]) {
    sets.push({
      name: `${size}-byte chunks`,
      cuts: Array.from({ length: Math.ceil(wire.length / size) - 1 }, (_, i) => (i + 1) * size),
    });
  }
  const random = rng(32);
  for (let s = 0; s < 20; s++) {
    const cuts = new Set<number>();
    const n = 1 + Math.floor(random() * 60);
    while (cuts.size < n) cuts.add(1 + Math.floor(random() * (wire.length - 1)));
    sets.push({ name: `random cuts ${s}`, cuts: [...cuts].sort((x, y) => x - y) });
  }
  return sets.map(({ name, cuts }) => ({
    name,
    cuts: [...new Set(cuts)].filter((p) => p > 0 && p < wire.length).sort((x, y) => x - y),
  }));
}

/**
 * True when the frame cannot be a view: its delivered bytes do not all lie in the chunk that
 * completes its prefix. The decoder then allocates the frame's buffer in that chunk's push.
 */
function spans(f: Frame, cuts: readonly number[]): boolean {
  const last = f.start + f.header - 1;
  let chunkStart = 0;
  let chunkEnd = Infinity;
  for (const p of cuts) {
    if (p <= last) chunkStart = p;
    else if (p < chunkEnd) chunkEnd = p;
  }
  return f.from < chunkStart || f.end > chunkEnd;
}

interface SetCall {
  push: number;
  source: ArrayLike<number>;
  target: Uint8Array;
}

/** Pushes `chunks` one by one, recording every `Uint8Array#set` and the push it ran in. */
function decodeRecording(
  codec: FrameCodec,
  chunks: readonly Uint8Array[],
  pool?: SpyPool,
): { frames: { frame: Uint8Array; push: number }[]; sets: SetCall[] } {
  const original = Uint8Array.prototype.set;
  const sets: SetCall[] = [];
  let push = 0;
  Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
    sets.push({ push, source, target: this });
    return original.call(this, source, offset);
  } as typeof original;
  const frames: { frame: Uint8Array; push: number }[] = [];
  const d = codec.decoder();
  try {
    for (; push < chunks.length; push++) {
      if (pool) pool.push = push;
      for (const frame of d.push(chunks[push])) frames.push({ frame, push });
    }
  } finally {
    Uint8Array.prototype.set = original;
  }
  d.end();
  return { frames, sets };
}

describe("large frames across chunks", () => {
  for (const layout of LAYOUTS) {
    test(`${layout.name}: every awkward boundary gives the same frames, each byte copied once into a buffer of its own`, () => {
      const { wire, frames } = stream(layout);
      const expected = frames.map((f) => wire.slice(f.from, f.end));
      for (const { name, cuts } of cutSets(wire, frames)) {
        const what = `${layout.name}, ${name}`;
        const chunks = cut(wire, cuts);
        const got = decodeRecording(layout.make(), chunks);
        assert.equal(got.frames.length, expected.length, `${what}: frame count`);
        let copies = 0;
        for (let i = 0; i < frames.length; i++) {
          const f = frames[i];
          const frame = got.frames[i].frame;
          assert.ok(equalBytes(frame, expected[i]), `${what}: frame ${i}`);
          if (spans(f, cuts)) {
            copies += f.end - f.from;
            assert.equal(frame.byteOffset, 0, `${what}: frame ${i} starts its buffer`);
            assert.equal(frame.buffer.byteLength, f.end - f.from, `${what}: frame ${i} buffer has its exact size`);
            assert.ok(chunks.every((c) => c.buffer !== frame.buffer), `${what}: frame ${i} is not in a chunk`);
          } else {
            assert.ok(frame.buffer === wire.buffer, `${what}: frame ${i} inside a chunk is a view`);
          }
        }
        const copied = got.sets.reduce((n, s) => n + s.source.length, 0);
        assert.equal(copied, copies, `${what}: bytes copied`);
        // A chunk wholly inside a large frame's body, after its prefix, is copied by one `set`
        // of the chunk itself: no view of it, no growth copy.
        const setsByPush = new Map<number, typeof got.sets>();
        for (const s of got.sets) {
          const list = setsByPush.get(s.push);
          if (list) list.push(s);
          else setsByPush.set(s.push, [s]);
        }
        let at = 0;
        for (let c = 0; c < chunks.length; c++) {
          const chunkStart = at;
          at += chunks[c].length;
          if (!LARGE.some((i) => frames[i].start + frames[i].header <= chunkStart && at <= frames[i].end)) continue;
          const calls = setsByPush.get(c) ?? [];
          assert.equal(calls.length, 1, `${what}: one copy for chunk ${c}`);
          assert.ok(calls[0].source === chunks[c], `${what}: chunk ${c} copied without a view`);
        }
      }
    });

    test(`${layout.name}: the buffer comes from one allocation of the exact size, made when the prefix is complete, and is handed over as it is`, () => {
      const { wire, frames } = stream(layout);
      for (const { name, cuts } of cutSets(wire, frames)) {
        if (name.startsWith("random") || name === "1-byte chunks") continue;
        const what = `${layout.name}, ${name}`;
        const chunks = cut(wire, cuts);
        const pool = new SpyPool();
        const got = decodeRecording(layout.make(pool), chunks, pool);
        const spanning = frames.map((f, i) => ({ f, i })).filter(({ f }) => spans(f, cuts));
        assert.equal(pool.allocs.length, spanning.length, `${what}: one allocation per spanning frame`);
        spanning.forEach(({ f, i }, k) => {
          const alloc = pool.allocs[k];
          assert.equal(alloc.length, f.end - f.from, `${what}: frame ${i} allocation size`);
          assert.ok(got.frames[i].frame === alloc.frame, `${what}: frame ${i} is the allocated buffer`);
          assert.equal(
            alloc.push,
            chunkAt(chunks, f.start + f.header - 1),
            `${what}: frame ${i} allocated with its prefix`,
          );
        });
      }
    });
  }

  test("a large frame delivered is not touched by later input, even when the chunks share one reused buffer", () => {
    for (const layout of LAYOUTS) {
      const { wire, frames } = stream(layout);
      // A socket read buffer: every chunk is read into the same memory.
      const readBuffer = new Uint8Array(1500);
      const d = layout.make().decoder();
      const kept: { frame: Uint8Array; copy: Uint8Array }[] = [];
      for (let at = 0; at < wire.length; at += readBuffer.length) {
        const n = Math.min(readBuffer.length, wire.length - at);
        readBuffer.set(wire.subarray(at, at + n));
        for (const frame of d.push(readBuffer.subarray(0, n))) {
          // Frames inside the chunk are views of it, by contract; the large ones are owned.
          if (frame.length > readBuffer.length) kept.push({ frame, copy: frame.slice() });
        }
      }
      d.end();
      readBuffer.fill(0xee);
      assert.equal(kept.length, 2, layout.name);
      for (const [k, { frame, copy }] of kept.entries()) {
        const f = frames[LARGE[k]];
        assert.ok(frame.buffer !== readBuffer.buffer, layout.name);
        assert.ok(equalBytes(frame, copy), `${layout.name}: frame ${k} changed after later pushes`);
        assert.ok(equalBytes(frame, wire.subarray(f.from, f.end)), `${layout.name}: frame ${k}`);
      }
      assert.ok(kept[0].frame.buffer !== kept[1].frame.buffer, `${layout.name}: two frames, two buffers`);
    }
  });

  test("a prefix above the limit is a FrameTooLargeError before any buffer or copy, whole or byte by byte", () => {
    const cases: { name: string; make(pool?: FramePool): FrameCodec; prefix: Uint8Array; size: number }[] = [
      {
        name: "lengthPrefixed, 4-byte",
        make: (pool) => lengthPrefixed({ maxFrameLength: 1 << 20, pool }),
        prefix: bytes(0xff, 0xff, 0xff, 0xff),
        size: 0xffffffff + 4,
      },
      {
        name: "lengthPrefixed, 8-byte",
        make: (pool) => lengthPrefixed({ lengthFieldLength: 8, maxFrameLength: 1 << 20, pool }),
        prefix: bytes(0, 0, 1, 0, 0, 0, 0, 0),
        size: 2 ** 40 + 8,
      },
      {
        name: "lengthPrefixed, one byte over",
        make: (pool) => lengthPrefixed({ maxFrameLength: 70_004, pool }),
        prefix: bytes(0, 1, 0x11, 0x71), // 70,001
        size: 70_005,
      },
      {
        name: "varint",
        make: (pool) => varint({ maxFrameLength: 1 << 20, pool }),
        prefix: bytes(0xff, 0xff, 0xff, 0xff, 0x0f),
        size: 0xffffffff,
      },
      {
        name: "varint, one byte over",
        make: (pool) => varint({ maxFrameLength: 70_000, pool }),
        prefix: bytes(0xf1, 0xa2, 0x04), // 70,001
        size: 70_001,
      },
    ];
    for (const c of cases) {
      for (const chunks of [[c.prefix], Array.from(c.prefix, (b) => bytes(b))]) {
        const what = `${c.name}, ${chunks.length} chunk(s)`;
        const pool = new SpyPool();
        for (const codec of [c.make(pool), c.make()]) {
          const d = codec.decoder();
          let error: unknown;
          const copied = countSetBytes(() => {
            try {
              for (const chunk of chunks) {
                d.push(chunk);
                assert.ok(d.buffered < c.prefix.length, `${what}: only prefix bytes are held`);
              }
            } catch (e) {
              error = e;
            }
          });
          assert.ok(error instanceof FrameTooLargeError, `${what}: ${error}`);
          assert.equal(error.size, c.size, what);
          assert.match(error.message, new RegExp(`^Frame length ${c.size} exceeds the limit of \\d+ bytes$`));
          assert.equal(copied, 0, `${what}: nothing copied`);
          assert.throws(() => d.end(), (e) => e === error);
        }
        assert.equal(pool.allocs.length, 0, `${what}: nothing allocated`);
      }
    }
    // At the limit the frame is accepted, with a single buffer of its size.
    const pool = new SpyPool();
    const codec = varint({ maxFrameLength: 70_000, pool });
    const wire = codec.encode(new Uint8Array(70_000).fill(7));
    const d = codec.decoder();
    const frames = cut(wire, [3, 1500, 40_000]).flatMap((chunk) => d.push(chunk));
    d.end();
    assert.deepEqual(pool.allocs.map((a) => a.length), [70_000]);
    assert.ok(frames[0] === pool.allocs[0].frame);
  });

  test("end() inside a large frame reports the truncation with the byte counts", () => {
    for (const layout of LAYOUTS) {
      const { wire, frames } = stream(layout);
      const f = frames[1];
      const total = f.end - f.start;
      for (const stop of [f.start + 1, f.start + f.header, f.start + f.header + 1500, f.end - 1]) {
        const d = layout.make().decoder();
        for (const chunk of cut(wire.subarray(0, stop), [f.start, f.start + 1, f.start + f.header + 700])) {
          d.push(chunk);
        }
        const error = (() => {
          try {
            d.end();
          } catch (e) {
            return e;
          }
        })();
        assert.ok(error instanceof MalformedFrameError, `${layout.name}, ending at ${stop}: ${error}`);
        assert.equal(error.reason, "truncated");
        const got = stop - f.start;
        const message = got < f.header
          ? layout.name === "varint"
            ? `Stream ended inside a varint after ${got} bytes`
            : `Stream ended inside a frame header: ${got} of ${f.header} bytes received`
          : layout.name === "varint"
          ? `Stream ended inside a frame: ${got - f.header} of ${total - f.header} bytes received`
          : `Stream ended inside a frame: ${got} of ${total} bytes received`;
        assert.equal(error.message, message, `${layout.name}, ending at ${stop}`);
      }
    }
  });
});

/** Index of the chunk that holds wire byte `at`. */
function chunkAt(chunks: readonly Uint8Array[], at: number): number {
  let end = 0;
  for (let c = 0; c < chunks.length; c++) {
    end += chunks[c].length;
    if (at < end) return c;
  }
  return -1;
}

/** Byte equality without deepEqual's per-element cost on 64 KiB arrays. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
