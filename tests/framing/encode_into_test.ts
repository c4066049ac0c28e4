import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  delimited,
  fixedSize,
  type FrameCodec,
  FrameTooLargeError,
  lengthPrefixed,
  packetHeader,
  varint,
} from "../../src/framing/mod.ts";
import { randomBytes, rng } from "./_helpers.ts";

const random = rng(3);

/** Codecs with a payload each can carry, and one each must refuse. */
const cases: { name: string; codec: FrameCodec; good: Uint8Array[]; bad: Uint8Array }[] = [
  {
    name: "lengthPrefixed u32 be",
    codec: lengthPrefixed({ lengthFieldLength: 4, maxFrameLength: 1000 }),
    good: [new Uint8Array(0), randomBytes(random, 64), randomBytes(random, 996)],
    bad: new Uint8Array(997),
  },
  {
    name: "lengthPrefixed u16 le, offset 2, adjusted",
    codec: lengthPrefixed({
      lengthFieldLength: 2,
      byteOrder: "le",
      lengthFieldOffset: 2,
      lengthAdjustment: 1,
      maxFrameLength: 300,
    }),
    good: [randomBytes(random, 1), randomBytes(random, 200)],
    bad: new Uint8Array(0),
  },
  {
    name: "lengthPrefixed u8 with the header kept",
    codec: lengthPrefixed({ lengthFieldLength: 1, lengthIncludesHeader: true, initialBytesToStrip: 0 }),
    // encode fills in the length field that starts the payload, whatever it held.
    good: [new Uint8Array([3, 7, 9]), new Uint8Array([1]), new Uint8Array([9, 9])],
    bad: new Uint8Array(0),
  },
  {
    name: "lengthPrefixed u64",
    codec: lengthPrefixed({ lengthFieldLength: 8 }),
    good: [randomBytes(random, 17)],
    bad: "not bytes" as unknown as Uint8Array,
  },
  {
    name: "varint",
    codec: varint({ maxFrameLength: 300 }),
    good: [new Uint8Array(0), randomBytes(random, 127), randomBytes(random, 128), randomBytes(random, 300)],
    bad: new Uint8Array(301),
  },
  {
    name: "delimited",
    codec: delimited({ delimiter: "\r\n" }),
    good: [new TextEncoder().encode("hello"), new Uint8Array(0)],
    bad: new TextEncoder().encode("a\r\nb"),
  },
  {
    name: "fixedSize",
    codec: fixedSize(5),
    good: [randomBytes(random, 5)],
    bad: new Uint8Array(4),
  },
  {
    name: "packetHeader",
    codec: packetHeader({ endian: "le" }).codec,
    good: [packetHeader({ endian: "le" }).encode(7, randomBytes(random, 10))],
    bad: new Uint8Array(3),
  },
];

describe("encodeInto", () => {
  for (const { name, codec, good, bad } of cases) {
    test(`${name}: writes what encode returns, at any offset, and nothing when out of room`, () => {
      assert.equal(typeof codec.encodeInto, "function");
      for (const payload of good) {
        const wire = codec.encode(payload);
        for (const offset of [0, 3]) {
          const target = new Uint8Array(offset + wire.length + 2).fill(0xee);
          assert.equal(codec.encodeInto!(payload, target, offset), wire.length);
          assert.deepEqual(target.subarray(offset, offset + wire.length), wire);
          assert.ok(target.subarray(0, offset).every((b) => b === 0xee), "bytes before the offset untouched");
          assert.ok(target.subarray(offset + wire.length).every((b) => b === 0xee), "bytes after the frame untouched");
          const short = new Uint8Array(offset + wire.length - 1).fill(0xee);
          if (short.length >= offset) {
            assert.equal(codec.encodeInto!(payload, short, offset), -1);
            assert.ok(short.every((b) => b === 0xee), "nothing written without room");
          }
        }
      }
    });

    test(`${name}: refuses what encode refuses, with the same error`, () => {
      let expected: unknown;
      try {
        codec.encode(bad);
      } catch (error) {
        expected = error;
      }
      assert.ok(expected instanceof Error, "encode refuses the bad payload");
      assert.throws(() => codec.encodeInto!(bad, new Uint8Array(4096), 0), (error: unknown) => {
        assert.equal((error as Error).constructor, (expected as Error).constructor);
        assert.equal((error as Error).message, (expected as Error).message);
        return true;
      });
    });
  }

  test("an oversized payload is a FrameTooLargeError before any byte is written", () => {
    const target = new Uint8Array(2000).fill(1);
    assert.throws(() => varint({ maxFrameLength: 10 }).encodeInto!(new Uint8Array(11), target, 0), FrameTooLargeError);
    assert.throws(
      () => lengthPrefixed({ maxFrameLength: 10 }).encodeInto!(new Uint8Array(7), target, 0),
      FrameTooLargeError,
    );
    assert.ok(target.every((b) => b === 1));
  });
});
