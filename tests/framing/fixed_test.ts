import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fixedSize, MalformedFrameError } from "../../src/framing/mod.ts";
import { bytes, chunkings, concat, countSetBytes, decodeAll, randomBytes, rng } from "./_helpers.ts";

describe("fixedSize", () => {
  test("round trip for several sizes, at every chunk boundary", () => {
    const random = rng(5);
    for (const size of [1, 2, 3, 7, 16]) {
      const codec = fixedSize(size);
      assert.equal(codec.size, size);
      const payloads = Array.from(
        { length: 4 },
        () => randomBytes(random, size),
      );
      const wire = concat(payloads.map((p) => codec.encode(p)));
      assert.deepEqual(wire, concat(payloads));
      assert.deepEqual(codec.encodeHeader(payloads[0]), bytes());
      for (const chunks of chunkings(wire)) {
        const outcome = decodeAll(codec, chunks);
        assert.equal(outcome.error, undefined);
        assert.deepEqual(outcome.frames, payloads);
      }
    }
  });

  test("views inside a chunk, one copy across chunks", () => {
    const codec = fixedSize(4);
    const chunk = bytes(1, 2, 3, 4, 5, 6);
    const d = codec.decoder();
    let first: Uint8Array[] = [];
    let frames: Uint8Array[] = [];
    const copied = countSetBytes(() => {
      first = d.push(chunk);
      frames = d.push(bytes(7, 8));
    });
    assert.equal(first[0].buffer, chunk.buffer);
    assert.equal(copied, 4);
    assert.deepEqual(frames, [bytes(5, 6, 7, 8)]);
    assert.equal(frames[0].buffer.byteLength, 4);
    const encoded = codec.encode(chunk.subarray(0, 4));
    assert.notEqual(
      encoded.buffer,
      chunk.buffer,
      "encode returns a new buffer",
    );
  });

  test("a trailing partial frame is an error", () => {
    const d = fixedSize(4).decoder();
    assert.deepEqual(d.push(bytes(1, 2, 3, 4, 5)), [bytes(1, 2, 3, 4)]);
    assert.equal(d.buffered, 1);
    assert.throws(
      () => d.end(),
      (e) =>
        e instanceof MalformedFrameError && e.reason === "truncated" &&
        e.message.includes("1 of 4 bytes"),
    );
    assert.throws(() => d.push(bytes(6, 7, 8)), (e) => e === d.error);
  });

  test("encode checks the payload size", () => {
    assert.throws(
      () => fixedSize(4).encode(bytes(1, 2, 3)),
      (e) =>
        e instanceof RangeError && e.message.includes("3") &&
        e.message.includes("4"),
    );
    assert.throws(
      () => fixedSize(4).encodeHeader(bytes(1, 2, 3, 4, 5)),
      RangeError,
    );
  });

  test("bad sizes throw with the bad value in the message", () => {
    for (const size of [0, -1, 1.5, 2 ** 31, Number.NaN]) {
      assert.throws(
        () => fixedSize(size),
        (e) => e instanceof RangeError && e.message.includes(String(size)),
      );
    }
    assert.throws(
      () => fixedSize("4" as unknown as number),
      (e) => e instanceof TypeError && e.message.includes('"4"'),
    );
  });
});
