import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { delimited, fixedSize, type FrameCodec, FramePool, lengthPrefixed, varint } from "../../src/framing/mod.ts";
import { concat, cut, randomBytes, rng } from "./_helpers.ts";

/** The codecs that take a pool, each with a payload maker that suits it. */
function codecsWith(pool: FramePool): { name: string; codec: FrameCodec; size?: number }[] {
  return [
    { name: "lengthPrefixed", codec: lengthPrefixed({ lengthFieldLength: 4, pool }) },
    { name: "lengthPrefixed, 2-byte le", codec: lengthPrefixed({ lengthFieldLength: 2, byteOrder: "le", pool }) },
    { name: "varint", codec: varint({ pool }) },
    { name: "delimited", codec: delimited({ delimiter: "\r\n", pool }) },
    { name: "fixedSize", codec: fixedSize(3000, { pool }), size: 3000 },
  ];
}

/** Payloads without "\r" so the delimited codec sees no delimiter inside them. */
function payload(random: () => number, n: number): Uint8Array {
  const p = randomBytes(random, n);
  for (let i = 0; i < n; i++) if (p[i] === 13) p[i] = 14;
  return p;
}

describe("FramePool", () => {
  test("codecs allocate frames that span chunks from the pool and reuse released buffers", () => {
    const random = rng(11);
    for (const { name, codec, size } of codecsWith(new FramePool())) {
      const pool = (codec as { pool?: FramePool }).pool!;
      assert.ok(pool instanceof FramePool, name);
      const payloads = Array.from({ length: 20 }, () => payload(random, size ?? 1024 + Math.floor(random() * 4000)));
      const wire = concat(payloads.map((p) => codec.encode(p)));
      const d = codec.decoder();
      let i = 0;
      for (
        const chunk of cut(
          wire,
          Array.from({ length: Math.floor((wire.length - 1) / 700) }, (_, k) => (k + 1) * 700),
        )
      ) {
        for (const frame of d.push(chunk)) {
          assert.deepEqual(frame, payloads[i++], `${name}: frame ${i}`);
          pool.release(frame);
        }
      }
      d.end();
      assert.equal(i, payloads.length, name);
      assert.ok(pool.stats.reused > 0, `${name}: released buffers were reused (${JSON.stringify(pool.stats)})`);
      // Three size classes (2, 4 and 8 KiB), and at most two buffers of a class at a time:
      // the next frame may start in the chunk that completes the one being read.
      assert.ok(pool.stats.allocated <= 6, `${name}: few fresh buffers (${JSON.stringify(pool.stats)})`);
    }
  });

  test("a released frame's buffer holds the next frame of its size class", () => {
    const pool = new FramePool();
    const a = pool.alloc(5000);
    assert.equal(a.byteLength, 5000);
    assert.equal(a.buffer.byteLength, 8192);
    const buffer = a.buffer;
    pool.release(a);
    assert.equal(pool.retainedBytes, 8192);
    const b = pool.alloc(6000);
    assert.equal(b.buffer, buffer);
    assert.equal(b.byteLength, 6000);
    assert.equal(pool.retainedBytes, 0);
    assert.notEqual(pool.alloc(6000).buffer, buffer, "a buffer is handed out once at a time");
  });

  test("frames it did not allocate, and small frames, are ignored by release", () => {
    const pool = new FramePool({ minFrameLength: 100 });
    const small = pool.alloc(99);
    pool.release(small);
    pool.release(new Uint8Array(4096));
    const big = pool.alloc(4096);
    // A view inside a pooled frame (a frame decoded from a frame) does not give its buffer away.
    pool.release(big.subarray(0, 10));
    pool.release(big.subarray(1));
    assert.equal(pool.retainedBytes, 0);
    pool.release(big);
    assert.equal(pool.retainedBytes, 4096);
  });

  test("releasing a frame twice, or something that is not a frame, throws a TypeError", () => {
    const pool = new FramePool();
    const frame = pool.alloc(2048);
    pool.release(frame);
    assert.throws(() => pool.release(frame), {
      name: "TypeError",
      message: "Frame of 2048 bytes was already released to the pool",
    });
    assert.throws(() => pool.release("x" as unknown as Uint8Array), {
      name: "TypeError",
      message: 'Only a frame (a Uint8Array) can be released, got "x"',
    });
  });

  test("it keeps at most maxRetainedBytes; clear() drops them", () => {
    const pool = new FramePool({ maxRetainedBytes: 10_000 });
    const frames = Array.from({ length: 5 }, () => pool.alloc(4096));
    for (const f of frames) pool.release(f);
    assert.equal(pool.retainedBytes, 8192);
    pool.clear();
    assert.equal(pool.retainedBytes, 0);
    assert.notEqual(pool.alloc(4096).buffer, frames[0].buffer);
  });

  test("bad options and a pool that is not a FramePool are refused with clear errors", () => {
    assert.throws(() => new FramePool({ minFrameLength: 0 }), {
      name: "RangeError",
      message: "Option minFrameLength must be a positive integer, got 0",
    });
    assert.throws(() => new FramePool({ maxRetainedBytes: -1 }), {
      name: "RangeError",
      message: "Option maxRetainedBytes must be a non-negative integer, got -1",
    });
    for (
      const make of [
        (pool: unknown) => lengthPrefixed({ pool: pool as FramePool }),
        (pool: unknown) => varint({ pool: pool as FramePool }),
        (pool: unknown) => delimited({ pool: pool as FramePool }),
        (pool: unknown) => fixedSize(4, { pool: pool as FramePool }),
      ]
    ) {
      assert.throws(() => make({}), {
        name: "TypeError",
        message: "Option pool must be a FramePool, got a value of type object",
      });
    }
  });

  test("property: with every frame released as soon as it is read, no frame is ever corrupted", () => {
    const pool = new FramePool({ minFrameLength: 1, maxRetainedBytes: 64 * 1024 });
    const codecs = codecsWith(pool).filter((c) => c.size === undefined);
    fc.assert(
      fc.property(
        fc.constantFrom(...codecs.keys()),
        fc.array(fc.nat(3000), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        (which, sizes, cuts, seed) => {
          const { codec } = codecs[which];
          const random = rng(seed);
          const payloads = sizes.map((n) => payload(random, n));
          const wire = concat(payloads.map((p) => codec.encode(p)));
          const d = codec.decoder();
          let at = 0;
          let k = 0;
          let i = 0;
          while (at < wire.length) {
            const n = cuts[k++ % cuts.length];
            // A copy, as a socket hands out: chunks are never pooled memory.
            for (const frame of d.push(wire.slice(at, at + n))) {
              assert.deepEqual(frame, payloads[i++]);
              pool.release(frame);
            }
            at += n;
          }
          d.end();
          assert.equal(i, payloads.length);
        },
      ),
      { numRuns: 2000, seed: 7 },
    );
    assert.ok(pool.stats.reused > 1000, JSON.stringify(pool.stats));
  });
});
