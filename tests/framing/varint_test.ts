import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeVarint,
  encodeVarint,
  FrameTooLargeError,
  MalformedFrameError,
  varint,
  varintLength,
  type VarintOptions,
} from "../../src/framing/mod.ts";
import { bytes, chunkings, concat, countSetBytes, decodeAll, randomBytes, rng } from "./_helpers.ts";

/** LEB128 of `n`, written independently of the codec (through BigInt). */
function leb128(n: number): Uint8Array {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return new Uint8Array(out);
}

describe("varint", () => {
  test("encodes lengths as minimal LEB128", () => {
    for (
      const n of [
        0,
        1,
        127,
        128,
        255,
        300,
        16383,
        16384,
        2 ** 21,
        2 ** 28 + 5,
        2 ** 35,
        2 ** 49,
        2 ** 53 - 1,
      ]
    ) {
      assert.deepEqual(
        bytes(...leb128(n)).length,
        varintLength(n),
        `length of ${n}`,
      );
      const target = new Uint8Array(10);
      const written = encodeVarint(n, target, 1);
      assert.deepEqual(target.subarray(1, 1 + written), leb128(n));
      assert.deepEqual(decodeVarint(target, 1), { value: n, length: written });
    }
    assert.throws(() => encodeVarint(-1, new Uint8Array(10)), RangeError);
    assert.throws(() => encodeVarint(2 ** 53, new Uint8Array(10)), RangeError);
    assert.equal(decodeVarint(bytes(0x80, 0x80)), undefined);
  });

  test("round trip at every chunk boundary", () => {
    const random = rng(3);
    for (const maxFrameLength of [undefined, 300, 20000]) {
      const codec = varint({ maxFrameLength });
      const sizes = [0, 1, 127, 128, 129, 0, 300, 5];
      const payloads = sizes.filter((n) => n <= (maxFrameLength ?? Infinity))
        .map((n) => randomBytes(random, n));
      const wire = concat(payloads.map((p) => codec.encode(p)));
      assert.deepEqual(
        wire,
        concat(payloads.flatMap((p) => [leb128(p.length), p])),
      );
      assert.deepEqual(
        wire,
        concat(payloads.flatMap((p) => [codec.encodeHeader(p), p])),
      );
      for (const chunks of chunkings(wire)) {
        const outcome = decodeAll(codec, chunks);
        assert.equal(outcome.error, undefined);
        assert.deepEqual(outcome.frames, payloads);
      }
    }
  });

  test("a large frame across small chunks is copied once into its own buffer", () => {
    const codec = varint();
    const payload = randomBytes(rng(4), 70000);
    const wire = codec.encode(payload);
    const d = codec.decoder();
    const frames: Uint8Array[] = [];
    const copied = countSetBytes(() => {
      for (let at = 0; at < wire.length; at += 1500) {
        frames.push(...d.push(wire.slice(at, at + 1500)));
      }
    });
    d.end();
    assert.equal(copied, 70000);
    assert.equal(frames.length, 1);
    assert.equal(frames[0].buffer.byteLength, 70000);
    assert.deepEqual(frames[0], payload);
    const chunk = concat([codec.encode(bytes(1)), codec.encode(bytes(2, 3))]);
    const views = codec.decoder().push(chunk);
    assert.ok(views.every((f) => f.buffer === chunk.buffer));
  });

  test("a varint split across chunks is resumed, never decoded early", () => {
    const codec = varint();
    const payload = new Uint8Array(300); // prefix 0xac 0x02
    const d = codec.decoder();
    assert.deepEqual(d.push(bytes(0xac)), []);
    assert.equal(d.buffered, 1);
    assert.deepEqual(d.push(bytes(0x02)), []);
    assert.deepEqual(d.push(payload.subarray(0, 299)), []);
    assert.deepEqual(d.push(payload.subarray(299)), [payload]);
    d.end();
  });

  test("rejects overlong varints: more than 8 bytes, or bits at 2^53 and above", () => {
    const bad = [
      bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), // 11 bytes
      bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), // 2^64 - 1, 10 bytes
      bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10), // 2^53
      bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), // 9 bytes
    ];
    for (const wire of bad) {
      for (const chunks of chunkings(wire)) {
        const outcome = decodeAll(
          varint({ maxFrameLength: Number.MAX_SAFE_INTEGER }),
          chunks,
        );
        assert.ok(
          outcome.error instanceof MalformedFrameError,
          `${wire} must be rejected`,
        );
        assert.equal(outcome.error.reason, "varint");
        assert.equal(outcome.error.code, "EMALFORMED");
      }
    }
    // The largest value, 2^53 - 1, is accepted as a length (and then too large).
    const d = varint({ maxFrameLength: Number.MAX_SAFE_INTEGER - 1 }).decoder();
    assert.throws(
      () => d.push(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f)),
      (e) => e instanceof FrameTooLargeError && e.size === Number.MAX_SAFE_INTEGER,
    );
    // An 8-byte varint with a continuation bit fails at once, without waiting for more bytes.
    const early = varint().decoder();
    assert.throws(
      () => early.push(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80)),
      MalformedFrameError,
    );
  });

  test("rejects non-minimal varints", () => {
    for (
      const wire of [
        bytes(0x80, 0x00),
        bytes(0x81, 0x00, 1),
        bytes(0x80, 0x80, 0x00),
        bytes(0xff, 0x80, 0x00),
      ]
    ) {
      for (const chunks of chunkings(wire)) {
        const outcome = decodeAll(varint(), chunks);
        assert.ok(
          outcome.error instanceof MalformedFrameError &&
            outcome.error.reason === "varint" &&
            outcome.error.message.includes("not minimal"),
          `${wire} must be rejected as non-minimal`,
        );
      }
    }
  });

  test("a truncated varint or frame at the end of the stream is an error", () => {
    for (const wire of [bytes(0x80), bytes(0xac, 0x82), bytes(3, 1, 2)]) {
      for (const chunks of chunkings(wire)) {
        const outcome = decodeAll(varint(), chunks);
        assert.ok(
          outcome.error instanceof MalformedFrameError &&
            outcome.error.reason === "truncated",
        );
      }
    }
    const d = varint().decoder();
    d.push(bytes(0x80, 0x80));
    assert.throws(() => d.end(), /inside a varint after 2 bytes/);
  });

  test("a length above maxFrameLength fails before any allocation", () => {
    const codec = varint({ maxFrameLength: 100 });
    const d = codec.decoder();
    let error: unknown;
    const wire = concat([codec.encode(bytes(5)), bytes(0x65)]);
    const copied = countSetBytes(() => {
      try {
        d.push(wire);
      } catch (e) {
        error = e;
      }
    });
    assert.equal(copied, 0);
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.size, 101);
    assert.equal(error.limit, 100);
    assert.deepEqual(error.frames, [bytes(5)]);
    assert.throws(() => d.push(bytes(0)), (e) => e === error);
    assert.throws(() => codec.encode(new Uint8Array(101)), FrameTooLargeError);
    assert.throws(
      () => codec.encodeHeader(new Uint8Array(101)),
      FrameTooLargeError,
    );
  });

  test("frames of length 0 are delivered", () => {
    assert.deepEqual(varint().decoder().push(bytes(0, 0, 1, 9, 0)), [
      bytes(),
      bytes(),
      bytes(9),
      bytes(),
    ]);
  });

  test("bad options throw with the bad value in the message", () => {
    const cases: [unknown, typeof RangeError | typeof TypeError, string][] = [
      [{ maxFrameLength: -1 }, RangeError, "-1"],
      [{ maxFrameLength: 2 ** 53 }, RangeError, "9007199254740992"],
      [{ maxFrameLength: "8" }, TypeError, '"8"'],
      [{ limit: 3 }, TypeError, "limit"],
      ["big", TypeError, '"big"'],
    ];
    for (const [options, type, text] of cases) {
      assert.throws(
        () => varint(options as VarintOptions),
        (e) => e instanceof type && (e as Error).message.includes(text),
      );
    }
  });
});
