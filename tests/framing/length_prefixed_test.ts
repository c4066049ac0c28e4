import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  FrameTooLargeError,
  FramingError,
  type LengthFieldLength,
  lengthPrefixed,
  type LengthPrefixedOptions,
  MalformedFrameError,
} from "../../src/framing/mod.ts";
import { bytes, chunkings, concat, countSetBytes, decodeAll, randomBytes, rng } from "./_helpers.ts";

const SIZES: LengthFieldLength[] = [1, 2, 3, 4, 8];

/** The length field bytes of `value`, written independently of the codec (through BigInt). */
function fieldBytes(size: number, le: boolean, value: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt(value);
  for (let i = 0; i < size; i++) {
    out[le ? i : size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

interface Combo extends Required<Omit<LengthPrefixedOptions, "pool">> {
  header: number;
  adjust: number;
}

/** Every parameter combination of the grid. */
function combos(): Combo[] {
  const all: Combo[] = [];
  for (const lengthFieldLength of SIZES) {
    for (const byteOrder of ["be", "le"] as const) {
      for (const lengthFieldOffset of [0, 2]) {
        const header = lengthFieldOffset + lengthFieldLength;
        for (const lengthAdjustment of [-2, 0, 3]) {
          for (const lengthIncludesHeader of [false, true]) {
            for (const initialBytesToStrip of [0, 1, header, header + 2]) {
              for (const failFast of [true, false]) {
                all.push({
                  lengthFieldLength,
                  byteOrder,
                  lengthFieldOffset,
                  lengthAdjustment,
                  lengthIncludesHeader,
                  initialBytesToStrip,
                  failFast,
                  maxFrameLength: 64,
                  header,
                  adjust: lengthAdjustment -
                    (lengthIncludesHeader ? header : 0),
                });
              }
            }
          }
        }
      }
    }
  }
  return all;
}

/**
 * What the codec must do with a payload of `n` bytes: the field value, or why it cannot.
 */
function expectation(
  c: Combo,
  n: number,
): { value: number } | { reject: "range" | "large" } {
  const total = c.initialBytesToStrip + n;
  const value = total - c.header - c.adjust;
  const fieldMax = c.lengthFieldLength === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * c.lengthFieldLength) - 1;
  if (
    c.initialBytesToStrip < c.header && n < c.header - c.initialBytesToStrip
  ) return { reject: "range" };
  if (value < 0 || value > fieldMax) return { reject: "range" };
  if (total > c.maxFrameLength) return { reject: "large" };
  return { value };
}

/** The frame the decoder must deliver for payload `p`: `p` with its length field bytes set. */
function expectedFrame(c: Combo, p: Uint8Array, value: number): Uint8Array {
  const frame = p.slice();
  const field = fieldBytes(c.lengthFieldLength, c.byteOrder === "le", value);
  for (let w = c.lengthFieldOffset; w < c.header; w++) {
    if (w >= c.initialBytesToStrip) {
      frame[w - c.initialBytesToStrip] = field[w - c.lengthFieldOffset];
    }
  }
  return frame;
}

describe("lengthPrefixed", () => {
  test("round trip for every parameter combination, at every chunk boundary", () => {
    const random = rng(1);
    let checked = 0;
    for (const c of combos()) {
      const { header: _h, adjust: _a, ...options } = c;
      const codec = lengthPrefixed(options);
      const frames: Uint8Array[] = [];
      const wires: Uint8Array[] = [];
      // Every size from 0 to 20 is checked against the encoder; three valid ones (the
      // smallest, the next, and a larger one) make the stream that is decoded.
      const decoded: number[] = [];
      for (let n = 0; n <= 20; n++) {
        const p = randomBytes(random, n);
        const e = expectation(c, n);
        if ("reject" in e) {
          assert.throws(
            () => codec.encode(p),
            e.reject === "large" ? FrameTooLargeError : RangeError,
            `encode must reject ${n} bytes for ${JSON.stringify(options)}`,
          );
          assert.throws(
            () => codec.encodeHeader(p),
            e.reject === "large" ? FrameTooLargeError : RangeError,
          );
          continue;
        }
        const frame = expectedFrame(c, p, e.value);
        const wire = codec.encode(p);
        // encode = encodeHeader + payload (for a payload that already holds its length field).
        assert.deepEqual(wire, concat([codec.encodeHeader(frame), frame]));
        assert.equal(wire.length, c.initialBytesToStrip + n);
        if (
          decoded.length === 0 || (decoded.length === 1) ||
          (decoded.length === 2 && n >= decoded[0] + 7)
        ) {
          decoded.push(n);
          frames.push(frame);
          wires.push(wire);
        }
      }
      assert.equal(
        frames.length,
        3,
        `three valid payloads for ${JSON.stringify(options)}`,
      );
      const wire = concat(wires);
      for (const chunks of chunkings(wire)) {
        const outcome = decodeAll(codec, chunks);
        assert.equal(outcome.error, undefined);
        assert.deepEqual(outcome.frames, frames);
      }
      checked++;
    }
    assert.equal(checked, 960);
  });

  test("defaults: 4-byte big-endian length, header stripped, 8 MiB limit", () => {
    const codec = lengthPrefixed();
    assert.deepEqual(codec.options, {
      lengthFieldLength: 4,
      byteOrder: "be",
      lengthFieldOffset: 0,
      lengthAdjustment: 0,
      initialBytesToStrip: 4,
      lengthIncludesHeader: false,
      maxFrameLength: 8 * 1024 * 1024,
      failFast: true,
    });
    assert.deepEqual(codec.encode(bytes(9, 8)), bytes(0, 0, 0, 2, 9, 8));
    assert.deepEqual(
      lengthPrefixed({ byteOrder: "le" }).encode(bytes(9)),
      bytes(1, 0, 0, 0, 9),
    );
    assert.deepEqual(
      lengthPrefixed({ lengthFieldLength: 3 }).encode(new Uint8Array(0)),
      bytes(0, 0, 0),
    );
  });

  test("Netty's documented layouts decode as documented", () => {
    const hello = bytes(72, 69, 76, 76, 79, 44, 32, 87, 79, 82, 76, 68); // "HELLO, WORLD"
    // 2 bytes length field at offset 0, do not strip header.
    let d = lengthPrefixed({ lengthFieldLength: 2, initialBytesToStrip: 0 })
      .decoder();
    assert.deepEqual(d.push(concat([bytes(0, 12), hello])), [
      concat([bytes(0, 12), hello]),
    ]);
    // 2 bytes length field at offset 0, strip header.
    d = lengthPrefixed({ lengthFieldLength: 2, initialBytesToStrip: 2 })
      .decoder();
    assert.deepEqual(d.push(concat([bytes(0, 12), hello])), [hello]);
    // Length field represents the length of the whole message.
    d = lengthPrefixed({
      lengthFieldLength: 2,
      lengthAdjustment: -2,
      initialBytesToStrip: 0,
    }).decoder();
    assert.deepEqual(d.push(concat([bytes(0, 14), hello])), [
      concat([bytes(0, 14), hello]),
    ]);
    // 3 bytes length field at the end of a 5 bytes header, do not strip header.
    d = lengthPrefixed({
      lengthFieldLength: 3,
      lengthFieldOffset: 2,
      initialBytesToStrip: 0,
    }).decoder();
    const h5 = bytes(0xca, 0xfe, 0, 0, 12);
    assert.deepEqual(d.push(concat([h5, hello])), [concat([h5, hello])]);
    // 3 bytes length field at the beginning of a 5 bytes header, do not strip header.
    d = lengthPrefixed({
      lengthFieldLength: 3,
      lengthAdjustment: 2,
      initialBytesToStrip: 0,
    }).decoder();
    const h5b = bytes(0, 0, 12, 0xca, 0xfe);
    assert.deepEqual(d.push(concat([h5b, hello])), [concat([h5b, hello])]);
    // 2 bytes length field at offset 1 in the middle of a 4 bytes header, strip the first
    // header field and the length field.
    d = lengthPrefixed({
      lengthFieldLength: 2,
      lengthFieldOffset: 1,
      lengthAdjustment: 1,
      initialBytesToStrip: 3,
    }).decoder();
    assert.deepEqual(d.push(concat([bytes(0xca, 0, 12, 0xfe), hello])), [
      concat([bytes(0xfe), hello]),
    ]);
    // The same, with the length field counting the whole message.
    d = lengthPrefixed({
      lengthFieldLength: 2,
      lengthFieldOffset: 1,
      lengthAdjustment: -3,
      initialBytesToStrip: 3,
    }).decoder();
    assert.deepEqual(d.push(concat([bytes(0xca, 0, 16, 0xfe), hello])), [
      concat([bytes(0xfe), hello]),
    ]);
  });

  test("lengthIncludesHeader subtracts the header from the adjustment", () => {
    const codec = lengthPrefixed({
      lengthFieldLength: 2,
      lengthIncludesHeader: true,
    });
    assert.deepEqual(codec.encode(bytes(5, 6, 7)), bytes(0, 5, 5, 6, 7));
    assert.deepEqual(codec.decoder().push(bytes(0, 5, 5, 6, 7)), [
      bytes(5, 6, 7),
    ]);
  });

  test("an 8-byte length is read as a BigInt and rejected at 2^53", () => {
    const codec = lengthPrefixed({
      lengthFieldLength: 8,
      maxFrameLength: Number.MAX_SAFE_INTEGER,
    });
    const ok = codec.decoder();
    assert.deepEqual(ok.push(bytes(0, 0, 0, 0, 0, 0, 0, 1, 42)), [bytes(42)]);
    for (
      const wire of [
        bytes(0, 0x20, 0, 0, 0, 0, 0, 0),
        bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      ]
    ) {
      const d = codec.decoder();
      assert.throws(
        () => d.push(wire),
        (e) =>
          e instanceof MalformedFrameError && e.reason === "length" &&
          e.message.includes("2^53"),
      );
    }
    // 2^53 - 1 passes the length check and then fails on the limit of 2^53 - 1 bytes.
    const d = codec.decoder();
    assert.throws(
      () => d.push(bytes(0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)),
      FrameTooLargeError,
    );
    // Little endian too, split across chunks.
    const le = lengthPrefixed({
      lengthFieldLength: 8,
      byteOrder: "le",
      maxFrameLength: Number.MAX_SAFE_INTEGER,
    });
    const dl = le.decoder();
    assert.deepEqual(dl.push(bytes(0, 0, 0, 0)), []);
    assert.throws(
      () => dl.push(bytes(0, 0, 0x20, 0)),
      (e) => e instanceof MalformedFrameError && e.reason === "length",
    );
  });

  test("frames of length 0 are delivered", () => {
    const d = lengthPrefixed({ lengthFieldLength: 1 }).decoder();
    const frames = d.push(bytes(0, 0, 1, 7, 0));
    assert.deepEqual(frames, [bytes(), bytes(), bytes(7), bytes()]);
    d.end();
  });

  test("a frame inside a chunk is a view; a frame across chunks is copied once into its own buffer", () => {
    const codec = lengthPrefixed();
    const chunk = concat([
      codec.encode(bytes(1, 2, 3)),
      codec.encode(bytes(4)),
    ]);
    const [a, b] = codec.decoder().push(chunk);
    assert.equal(a.buffer, chunk.buffer);
    assert.equal(a.byteOffset, 4);
    assert.equal(b.buffer, chunk.buffer);
    assert.equal(b.byteOffset, 11);

    const payload = randomBytes(rng(2), 1000);
    const wire = codec.encode(payload);
    const chunks = [
      wire.slice(0, 2),
      wire.slice(2, 300),
      wire.slice(300, 301),
      wire.slice(301),
    ];
    const d = codec.decoder();
    const frames: Uint8Array[] = [];
    const copied = countSetBytes(() => {
      for (const c of chunks) frames.push(...d.push(c));
    });
    assert.equal(copied, 1000, "every payload byte is copied exactly once");
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0], payload);
    assert.equal(frames[0].byteOffset, 0);
    assert.equal(
      frames[0].buffer.byteLength,
      1000,
      "the frame buffer has exactly the frame's size",
    );
  });

  test("the returned array is new on every call", () => {
    const d = lengthPrefixed({ lengthFieldLength: 1 }).decoder();
    const first = d.push(bytes(1, 5));
    const second = d.push(bytes(1, 6));
    assert.notEqual(first, second);
    assert.deepEqual(first, [bytes(5)]);
    assert.deepEqual(second, [bytes(6)]);
  });

  test("a frame above maxFrameLength fails before anything is allocated", () => {
    const codec = lengthPrefixed();
    const d = codec.decoder();
    const header = bytes(0, 0x89, 0x54, 0x40); // 9,000,000
    let error: unknown;
    const copied = countSetBytes(() => {
      try {
        d.push(header);
      } catch (e) {
        error = e;
      }
    });
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.code, "EFRAMETOOLARGE");
    // The declared size is the adjusted total: header included.
    assert.equal(error.size, 9_000_004);
    assert.equal(error.limit, 8_388_608);
    assert.equal(
      error.message,
      "Frame length 9000004 exceeds the limit of 8388608 bytes",
    );
    assert.equal(copied, 0);
    assert.equal(d.buffered, 0);
    assert.throws(() => d.push(bytes(1)), (e) => e === error);
  });

  test("failFast: false reads and drops the oversized frame, then throws", () => {
    const codec = lengthPrefixed({ maxFrameLength: 100, failFast: false });
    const d = codec.decoder();
    assert.deepEqual(
      d.push(concat([codec.encode(bytes(1)), bytes(0, 0, 1, 0)])),
      [bytes(1)],
    );
    const copied = countSetBytes(() => {
      for (let i = 0; i < 255; i++) {
        assert.deepEqual(d.push(new Uint8Array(1)), []);
        assert.equal(d.buffered, 0);
      }
    });
    assert.equal(copied, 0, "the dropped frame is never stored");
    assert.throws(
      () => d.push(bytes(7, 0, 0, 0, 1, 9)),
      (e) =>
        e instanceof FrameTooLargeError && e.size === 260 &&
        e.frames.length === 0,
    );
    // With the whole frame in one chunk, the error comes at once, after the frames before it.
    const d2 = codec.decoder();
    assert.throws(
      () =>
        d2.push(
          concat([
            codec.encode(bytes(1)),
            bytes(0, 0, 0, 200),
            new Uint8Array(200),
          ]),
        ),
      (e) => e instanceof FrameTooLargeError && e.frames.length === 1,
    );
    // Ending inside the dropped frame reports the oversized frame.
    const d3 = codec.decoder();
    d3.push(bytes(0, 0, 0, 200));
    assert.throws(() => d3.end(), FrameTooLargeError);
  });

  test("an adjusted length below the header is malformed", () => {
    // Length counts the header, but says 1 < 2.
    const d = lengthPrefixed({
      lengthFieldLength: 2,
      lengthIncludesHeader: true,
    }).decoder();
    assert.throws(
      () => d.push(bytes(0, 1)),
      (e) =>
        e instanceof MalformedFrameError && e.reason === "adjustment" &&
        e.message ===
          "Adjusted frame length 1 is less than the header length of 2 bytes",
    );
    // A negative adjusted length.
    const d2 = lengthPrefixed({ lengthFieldLength: 1, lengthAdjustment: -10 })
      .decoder();
    assert.throws(
      () => d2.push(bytes(3)),
      (e) =>
        e instanceof MalformedFrameError && e.reason === "adjustment" &&
        e.code === "EMALFORMED",
    );
    // A frame shorter than initialBytesToStrip.
    const d3 = lengthPrefixed({ lengthFieldLength: 1, initialBytesToStrip: 5 })
      .decoder();
    assert.throws(
      () => d3.push(bytes(2, 0, 0)),
      (e) =>
        e instanceof MalformedFrameError && e.reason === "adjustment" &&
        e.message.includes("initialBytesToStrip 5"),
    );
  });

  test("a trailing partial frame is reported by end()", () => {
    const codec = lengthPrefixed();
    const wire = codec.encode(bytes(1, 2, 3));
    for (let i = 1; i < wire.length; i++) {
      const d = codec.decoder();
      d.push(wire.subarray(0, i));
      assert.equal(d.buffered, i);
      assert.throws(
        () => d.end(),
        (e) => e instanceof MalformedFrameError && e.reason === "truncated",
      );
      assert.ok(d.error instanceof MalformedFrameError);
      assert.throws(() => d.push(wire.subarray(i)), (e) => e === d.error);
    }
    const d = codec.decoder();
    d.push(wire);
    d.end();
    assert.throws(() => d.push(wire), TypeError);
  });

  test("frames before bad bytes in the same chunk travel with the error", () => {
    const codec = lengthPrefixed({ lengthFieldLength: 1, maxFrameLength: 10 });
    const d = codec.decoder();
    try {
      d.push(bytes(1, 7, 2, 8, 9, 200, 0));
      assert.fail("push must throw");
    } catch (error) {
      assert.ok(error instanceof FramingError);
      assert.deepEqual(error.frames, [bytes(7), bytes(8, 9)]);
    }
  });

  test("the encoder rejects payloads the field cannot hold", () => {
    assert.throws(
      () => lengthPrefixed({ lengthFieldLength: 1 }).encode(new Uint8Array(256)),
      (e) =>
        e instanceof RangeError && e.message.includes("256") &&
        e.message.includes("255"),
    );
    assert.deepEqual(
      lengthPrefixed({ lengthFieldLength: 1 }).encode(new Uint8Array(255))
        .length,
      256,
    );
    assert.throws(
      () => lengthPrefixed({ lengthFieldLength: 2 }).encode(new Uint8Array(65536)),
      RangeError,
    );
    assert.throws(
      () =>
        lengthPrefixed({ lengthFieldLength: 1, lengthAdjustment: 5 }).encode(
          bytes(1),
        ),
      RangeError,
    );
    assert.throws(
      () => lengthPrefixed({ maxFrameLength: 10 }).encode(new Uint8Array(7)),
      FrameTooLargeError,
    );
    assert.throws(
      () => lengthPrefixed().encode("text" as unknown as Uint8Array),
      TypeError,
    );
  });

  test("encodeHeader requires an embedded length field to be right already", () => {
    const codec = lengthPrefixed({
      lengthFieldLength: 2,
      lengthIncludesHeader: true,
      initialBytesToStrip: 0,
    });
    assert.deepEqual(codec.encodeHeader(bytes(0, 4, 1, 2)), bytes());
    assert.throws(
      () => codec.encodeHeader(bytes(0, 9, 1, 2)),
      (e) =>
        e instanceof RangeError && e.message.includes("9") &&
        e.message.includes("4"),
    );
    assert.deepEqual(codec.encode(bytes(0, 9, 1, 2)), bytes(0, 4, 1, 2));
    assert.throws(() => codec.encode(bytes(0)), RangeError);
  });

  test("bad options throw with the bad value in the message", () => {
    const cases: [
      LengthPrefixedOptions,
      typeof RangeError | typeof TypeError,
      string,
    ][] = [
      [{ lengthFieldLength: 5 as LengthFieldLength }, RangeError, "5"],
      [{ lengthFieldLength: 0 as LengthFieldLength }, RangeError, "0"],
      [
        { lengthFieldLength: "4" as unknown as LengthFieldLength },
        TypeError,
        '"4"',
      ],
      [{ maxFrameLength: -1 }, RangeError, "-1"],
      [{ maxFrameLength: 1.5 }, RangeError, "1.5"],
      [{ maxFrameLength: 2 }, RangeError, "2"],
      [{ maxFrameLength: Number.NaN }, RangeError, "NaN"],
      [{ byteOrder: "middle" as "be" }, RangeError, '"middle"'],
      [{ lengthFieldOffset: -3 }, RangeError, "-3"],
      [{ lengthAdjustment: 0.5 }, RangeError, "0.5"],
      [{ initialBytesToStrip: -1 }, RangeError, "-1"],
      [{ initialBytesToStrip: 100, maxFrameLength: 50 }, RangeError, "100"],
      [{ failFast: "yes" as unknown as boolean }, TypeError, '"yes"'],
      [{ lengthIncludesHeader: 1 as unknown as boolean }, TypeError, "1"],
      [
        { maxFrameSize: 10 } as unknown as LengthPrefixedOptions,
        TypeError,
        "maxFrameSize",
      ],
    ];
    for (const [options, type, text] of cases) {
      assert.throws(
        () => lengthPrefixed(options),
        (e) => e instanceof type && (e as Error).message.includes(text),
        JSON.stringify(options),
      );
    }
    assert.throws(
      () => lengthPrefixed(null as unknown as LengthPrefixedOptions),
      TypeError,
    );
  });

  test("push rejects a chunk that is not bytes", () => {
    const d = lengthPrefixed().decoder();
    assert.throws(() => d.push("abc" as unknown as Uint8Array), TypeError);
    assert.deepEqual(d.push(new Uint8Array(0)), []);
  });
});
