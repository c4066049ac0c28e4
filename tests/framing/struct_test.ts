import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  defineStruct,
  lengthPrefixed,
  MalformedFrameError,
  packetHeader,
  type StructFields,
} from "../../src/framing/mod.ts";
import { bytes, chunkings, concat, decodeAll } from "./_helpers.ts";

describe("defineStruct", () => {
  test("packed layout like #pragma pack(1): char, int, short is 7 bytes", () => {
    const Test = defineStruct({ c: "i8", i: "i32", s: "i16" });
    assert.equal(Test.sizeof, 7);
    assert.deepEqual(Test.layout.map((f) => [f.name, f.offset, f.size]), [
      ["c", 0, 1],
      ["i", 1, 4],
      ["s", 5, 2],
    ]);
    assert.equal(Test.offsetOf("s"), 5);
    assert.deepEqual(
      Test.encode({ c: -1, i: 0x01020304, s: -2 }),
      bytes(0xff, 4, 3, 2, 1, 0xfe, 0xff),
    );
    const be = defineStruct({ c: "i8", i: "i32", s: "i16" }, { endian: "be" });
    assert.deepEqual(
      be.encode({ c: 1, i: 0x01020304, s: 2 }),
      bytes(1, 1, 2, 3, 4, 0, 2),
    );
  });

  test("every field type round-trips, in both byte orders", () => {
    const fields = {
      a: "u8",
      b: "i8",
      c: "u16",
      d: "i16",
      e: "u32",
      f: "i32",
      g: "u64",
      h: "i64",
      i: "f32",
      j: "f64",
      k: "bool",
      l: "char[8]",
      m: "bytes[3]",
      n: "u32be",
      o: "i16le",
    } as const;
    const value = {
      a: 255,
      b: -128,
      c: 65535,
      d: -32768,
      e: 4294967295,
      f: -2147483648,
      g: 2n ** 64n - 1n,
      h: -(2n ** 63n),
      i: 1.5,
      j: Math.PI,
      k: true,
      l: "héllo",
      m: bytes(1, 2, 3),
      n: 0x01020304,
      o: -2,
    };
    for (const endian of ["le", "be"] as const) {
      const S = defineStruct(fields, { endian });
      assert.equal(
        S.sizeof,
        1 + 1 + 2 + 2 + 4 + 4 + 8 + 8 + 4 + 8 + 1 + 8 + 3 + 4 + 2,
      );
      const encoded = S.encode(value);
      assert.deepEqual(S.decode(encoded), value);
      // Explicit per-field orders hold whatever the struct's order.
      const n = S.offsetOf("n");
      assert.deepEqual(encoded.subarray(n, n + 4), bytes(1, 2, 3, 4));
      const o = S.offsetOf("o");
      assert.deepEqual(encoded.subarray(o, o + 2), bytes(0xfe, 0xff));
      // Independent check of the struct's own order with a DataView.
      const dv = new DataView(encoded.buffer);
      assert.equal(dv.getUint16(S.offsetOf("c"), endian === "le"), 65535);
      assert.equal(dv.getInt32(S.offsetOf("f"), endian === "le"), -2147483648);
      assert.equal(dv.getFloat64(S.offsetOf("j"), endian === "le"), Math.PI);
      assert.equal(S.get(encoded, "l"), "héllo");
      S.set(encoded, "e", 7);
      assert.equal(S.decode(encoded).e, 7);
    }
  });

  test("missing fields are zeros; char and bytes are NUL-padded; decode at an offset", () => {
    const S = defineStruct({ id: "u16", name: "char[4]", raw: "bytes[3]" });
    assert.deepEqual(
      S.encode({ name: "ab", raw: bytes(9) }),
      bytes(0, 0, 97, 98, 0, 0, 9, 0, 0),
    );
    assert.deepEqual(S.decode(S.encode({})), {
      id: 0,
      name: "",
      raw: bytes(0, 0, 0),
    });
    assert.deepEqual(S.decode(S.encode({ name: "abcd" })).name, "abcd");
    const packet = concat([bytes(0xee, 0xee), S.encode({ id: 5, name: "x" })]);
    assert.equal(S.decode(packet, 2).id, 5);
    const target = new Uint8Array(12);
    S.encodeInto({ id: 1 }, target, 3);
    assert.equal(S.get(target, "id", 3), 1);
  });

  test("decoded byte arrays are copies", () => {
    const S = defineStruct({ raw: "bytes[2]" });
    const source = bytes(1, 2);
    const value = S.decode(source);
    source[0] = 9;
    assert.deepEqual(value.raw, bytes(1, 2));
  });

  test("a short packet is a MalformedFrameError", () => {
    const S = defineStruct({ a: "u32", b: "u16" });
    assert.throws(
      () => S.decode(bytes(1, 2, 3)),
      (e) =>
        e instanceof MalformedFrameError && e.reason === "short" &&
        e.message.includes("3") && e.message.includes("6"),
    );
    assert.throws(() => S.decode(new Uint8Array(6), 1), MalformedFrameError);
    assert.throws(() => S.get(bytes(1), "a"), MalformedFrameError);
  });

  test("bad values throw with the bad value in the message", () => {
    const S = defineStruct({
      a: "u8",
      b: "i16",
      c: "u64",
      d: "bool",
      e: "char[3]",
      f: "bytes[2]",
      g: "f32",
    });
    const cases: [
      Record<string, unknown>,
      typeof RangeError | typeof TypeError,
      string,
    ][] = [
      [{ a: 256 }, RangeError, "256"],
      [{ a: -1 }, RangeError, "-1"],
      [{ a: 1.5 }, RangeError, "1.5"],
      [{ b: 40000 }, RangeError, "40000"],
      [{ a: "1" }, TypeError, '"1"'],
      [{ c: 1 }, TypeError, "1"],
      [{ c: -1n }, RangeError, "-1"],
      [{ c: 2n ** 64n }, RangeError, "18446744073709551616"],
      [{ d: 1 }, TypeError, "1"],
      [{ e: "abcd" }, RangeError, "4"],
      [{ e: "a\0b" }, RangeError, "NUL"],
      [{ f: bytes(1, 2, 3) }, RangeError, "3"],
      [{ f: [1] }, TypeError, "array"],
      [{ g: "x" }, TypeError, '"x"'],
      [{ zz: 1 }, TypeError, '"zz"'],
    ];
    for (const [value, type, snippet] of cases) {
      assert.throws(
        () => S.encode(value as never),
        (e) => e instanceof type && (e as Error).message.includes(snippet),
        JSON.stringify(value, (_, v) => typeof v === "bigint" ? `${v}n` : v),
      );
    }
  });

  test("bad definitions throw with the bad value in the message", () => {
    const cases: [
      unknown,
      unknown,
      typeof RangeError | typeof TypeError,
      string,
    ][] = [
      [{ a: "u24" }, undefined, TypeError, '"u24"'],
      [{ a: "u8be" }, undefined, TypeError, '"u8be"'],
      [{ a: "char[0]" }, undefined, RangeError, '"char[0]"'],
      [{ a: 4 }, undefined, TypeError, "4"],
      [{ 1: "u8" }, undefined, TypeError, '"1"'],
      [{}, undefined, RangeError, "none"],
      [{ a: "u8" }, { endian: "middle" }, RangeError, '"middle"'],
      [{ a: "u8" }, { order: "le" }, TypeError, '"order"'],
    ];
    for (const [fields, options, type, snippet] of cases) {
      assert.throws(
        () => defineStruct(fields as StructFields, options as undefined),
        (e) => e instanceof type && (e as Error).message.includes(snippet),
        JSON.stringify(fields),
      );
    }
  });
});

describe("packetHeader", () => {
  test("the seed's convention: u16 size that counts the header, u16 id, little endian", () => {
    const header = packetHeader();
    assert.equal(header.sizeof, 4);
    assert.deepEqual(header.lengthOptions, {
      lengthFieldLength: 2,
      byteOrder: "le",
      lengthFieldOffset: 0,
      lengthAdjustment: 0,
      lengthIncludesHeader: true,
      initialBytesToStrip: 0,
      maxFrameLength: 65535,
      failFast: true,
    });
    const packet = header.encode(0x0102, bytes(7, 8, 9));
    assert.deepEqual(packet, bytes(7, 0, 2, 1, 7, 8, 9));
    assert.deepEqual(header.encodeHeader(0x0102, 3), packet.subarray(0, 4));
    assert.equal(header.id(packet), 0x0102);
    assert.equal(header.size(packet), 7);
    assert.deepEqual(header.body(packet), bytes(7, 8, 9));
    assert.deepEqual(header.struct.decode(packet), { size: 7, id: 0x0102 });
    // It plugs into lengthPrefixed.
    const codec = lengthPrefixed(header.lengthOptions);
    assert.deepEqual(codec.decoder().push(packet), [packet]);
  });

  test("packet structs fill in size and id, and decode from the codec's frames at every chunk boundary", () => {
    const header = packetHeader({ endian: "le" });
    const Move = header.definePacket(1, {
      x: "f32",
      y: "f32",
      name: "char[8]",
    });
    const Chat = header.definePacket(2, { text: "char[16]" });
    assert.equal(Move.sizeof, 4 + 4 + 4 + 8);
    assert.equal(Move.id, 1);
    const wire = concat([
      Move.encode({ x: 1.5, y: -2, name: "bob" }),
      Chat.encode({ text: "hi" }),
      header.encode(9),
      Move.encode({ x: 0, y: 0, name: "" }),
    ]);
    const expected = [
      { size: 20, id: 1, x: 1.5, y: -2, name: "bob" },
      { size: 20, id: 2, text: "hi" },
      { size: 4, id: 9 },
      { size: 20, id: 1, x: 0, y: 0, name: "" },
    ];
    for (const chunks of chunkings(wire)) {
      const outcome = decodeAll(header.codec, chunks);
      assert.equal(outcome.error, undefined);
      const decoded = outcome.frames.map((f) =>
        Move.is(f) ? Move.decode(f) : Chat.is(f) ? Chat.decode(f) : header.struct.decode(f)
      );
      assert.deepEqual(decoded, expected);
    }
    // The codec's encodeHeader accepts a packet whose size is right (nothing to prepend).
    assert.deepEqual(
      header.codec.encodeHeader(Chat.encode({ text: "x" })),
      bytes(),
    );
    assert.throws(
      () => Move.encode({ id: 2 }),
      (e) => e instanceof RangeError && e.message.includes("2"),
    );
    assert.throws(
      () => Move.encode({ size: 3 }),
      (e) => e instanceof RangeError && e.message.includes("3"),
    );
  });

  test("big-endian headers, limits and bad packets", () => {
    const header = packetHeader({ endian: "be", maxFrameLength: 16 });
    assert.deepEqual(header.encode(3, bytes(1)), bytes(0, 5, 0, 3, 1));
    assert.throws(
      () => header.encode(3, new Uint8Array(13)),
      (e) => e instanceof RangeError && e.message.includes("13"),
    );
    assert.throws(
      () => header.definePacket(4, { blob: "bytes[13]" }),
      (e) => e instanceof RangeError && e.message.includes("17"),
    );
    assert.throws(
      () => header.definePacket(70000, { a: "u8" }),
      (e) => e instanceof RangeError && e.message.includes("70000"),
    );
    assert.throws(
      () => header.definePacket(1, { id: "u8" } as StructFields),
      TypeError,
    );
    const bad = decodeAll(header.codec, [bytes(0, 3, 0, 1)]);
    assert.ok(
      bad.error instanceof MalformedFrameError &&
        bad.error.reason === "adjustment",
    );
    const big = decodeAll(header.codec, [bytes(0, 17, 0, 1)]);
    assert.equal(big.error?.code, "EFRAMETOOLARGE");
    assert.throws(() => header.id(bytes(1, 2)), MalformedFrameError);
    assert.throws(
      () => packetHeader({ maxFrameLength: 3 }),
      (e) => e instanceof RangeError && e.message.includes("3"),
    );
    assert.throws(() => packetHeader({ maxFrameLength: 65536 }), RangeError);
    assert.throws(
      () => packetHeader({ endian: "x" as "le" }),
      (e) => e instanceof RangeError && e.message.includes('"x"'),
    );
  });
});
