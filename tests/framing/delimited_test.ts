import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type BareLf,
  delimited,
  type DelimitedOptions,
  FrameTooLargeError,
  MalformedFrameError,
} from "../../src/framing/mod.ts";
import { bytes, chunkings, concat, countSetBytes, decodeAll, text } from "./_helpers.ts";

const SETS: {
  name: string;
  delimiter: DelimitedOptions["delimiter"];
  bareLf?: BareLf;
}[] = [
  { name: "\\n", delimiter: "\n" },
  { name: "\\r\\n", delimiter: "\r\n" },
  {
    name: "\\r\\n, bare LF as delimiter",
    delimiter: "\r\n",
    bareLf: "delimiter",
  },
  { name: "\\r\\n, bare LF an error", delimiter: "\r\n", bareLf: "error" },
  { name: "NUL byte", delimiter: new Uint8Array([0]) },
  { name: "multi-byte", delimiter: "<END>" },
  { name: "self-overlapping", delimiter: "aab" },
  { name: "several", delimiter: ["\r\n", "\n", "||"] },
  {
    name: "several with bare LF as delimiter",
    delimiter: ["\r\n", ";"],
    bareLf: "delimiter",
  },
];

describe("delimited", () => {
  test("round trip for every delimiter set and option, at every chunk boundary", () => {
    const payloads = [
      text("hello"),
      text(""),
      text("a\rb"),
      text("aa"),
      text("x|y"),
      text("<EN"),
      text("last"),
    ];
    for (const set of SETS) {
      for (const stripDelimiter of [true, false]) {
        for (const maxFrameLength of [undefined, 5]) {
          const codec = delimited({
            delimiter: set.delimiter,
            bareLf: set.bareLf,
            stripDelimiter,
            maxFrameLength,
          });
          const trailer = codec.delimiters[0];
          assert.deepEqual(codec.trailer, trailer);
          const sent: Uint8Array[] = [];
          for (const p of payloads) {
            try {
              const wire = codec.encode(p);
              assert.deepEqual(
                wire,
                concat([codec.encodeHeader(p), p, codec.trailer]),
              );
              sent.push(p);
            } catch (error) {
              // Only payloads that contain a delimiter, or exceed the limit, are refused.
              assert.ok(
                error instanceof RangeError ||
                  error instanceof FrameTooLargeError,
                String(error),
              );
              assert.ok(
                error instanceof FrameTooLargeError
                  ? p.length > (maxFrameLength ?? Infinity)
                  : /delimiter|line feed/.test((error as Error).message),
              );
            }
          }
          assert.ok(sent.length >= 4, `${set.name}: too few payloads accepted`);
          const wire = concat(sent.map((p) => codec.encode(p)));
          const expected = sent.map((p) => stripDelimiter ? p : concat([p, trailer]));
          for (const chunks of chunkings(wire)) {
            const outcome = decodeAll(codec, chunks);
            assert.equal(
              outcome.error,
              undefined,
              `${set.name}: ${outcome.error}`,
            );
            assert.deepEqual(outcome.frames, expected, set.name);
          }
        }
      }
    }
  });

  test("a lone \\n is data where \\r\\n is required, unless asked for", () => {
    const wire = text("one\ntwo\r\nthree\n\r\n");
    const strict = decodeAll(delimited({ delimiter: "\r\n" }), [wire]);
    assert.deepEqual(strict.frames, [text("one\ntwo"), text("three\n")]);
    for (const chunks of chunkings(wire)) {
      assert.deepEqual(
        decodeAll(delimited({ delimiter: "\r\n" }), chunks).frames,
        strict.frames,
      );
      const lenient = decodeAll(
        delimited({ delimiter: "\r\n", bareLf: "delimiter" }),
        chunks,
      );
      assert.deepEqual(lenient.frames, [
        text("one"),
        text("two"),
        text("three"),
        text(""),
      ]);
      const lenientKeep = decodeAll(
        delimited({
          delimiter: "\r\n",
          bareLf: "delimiter",
          stripDelimiter: false,
        }),
        chunks,
      );
      assert.deepEqual(lenientKeep.frames, [
        text("one\n"),
        text("two\r\n"),
        text("three\n"),
        text("\r\n"),
      ]);
      const error = decodeAll(
        delimited({ delimiter: "\r\n", bareLf: "error" }),
        chunks,
      );
      assert.ok(
        error.error instanceof MalformedFrameError &&
          error.error.reason === "bare-lf",
      );
      assert.equal(
        error.error.message,
        "Line feed without a carriage return at byte 3 of the frame",
      );
      assert.deepEqual(error.frames, []);
    }
    // A "\r" at the end of one frame does not pair with a "\n" that starts the next.
    assert.deepEqual(
      decodeAll(delimited({ delimiter: "\r\n" }), [
        text("a\r\n"),
        text("\nb\r\n"),
      ]).frames,
      [
        text("a"),
        text("\nb"),
      ],
    );
    assert.throws(
      () => delimited({ delimiter: "\n", bareLf: "error" }),
      (e) => e instanceof RangeError && e.message.includes('"error"'),
    );
    assert.throws(
      () => delimited({ delimiter: ["\r\n", "\n"], bareLf: "data" }),
      RangeError,
    );
    assert.throws(
      () => delimited({ delimiter: "\r\n", bareLf: "maybe" as BareLf }),
      (e) => e instanceof RangeError && e.message.includes('"maybe"'),
    );
  });

  test("a delimiter split across chunks is found; the longest delimiter ending first wins", () => {
    const codec = delimited({ delimiter: ["\n", "\r\n", "END"] });
    const d = codec.decoder();
    assert.deepEqual(d.push(text("abcE")), []);
    assert.deepEqual(d.push(text("N")), []);
    assert.deepEqual(d.push(text("Dxy\r")), [text("abc")]);
    assert.deepEqual(d.push(text("\nEN")), [text("xy")]);
    assert.equal(d.buffered, 2);
    assert.throws(
      () => d.end(),
      (e) => e instanceof MalformedFrameError && e.reason === "truncated",
    );
  });

  test("the scan is linear: a frame across many chunks is searched once and copied once", () => {
    const codec = delimited({ delimiter: "<END>", maxFrameLength: 1 << 20 });
    const body = new Uint8Array(100_000).fill(0x3c); // "<<<<...", a worst case for naive restarts
    const wire = concat([body, text("<END>")]);
    const d = codec.decoder();
    const frames: Uint8Array[] = [];
    const copied = countSetBytes(() => {
      for (let at = 0; at < wire.length; at += 7) {
        frames.push(...d.push(wire.subarray(at, at + 7)));
      }
    });
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0], body);
    assert.equal(
      copied,
      body.length,
      "each byte of the frame is copied exactly once",
    );
    assert.equal(frames[0].buffer.byteLength, body.length);
  });

  test("a frame inside a chunk is a view, also when only its delimiter spans chunks", () => {
    const codec = delimited({ delimiter: "\r\n" });
    const chunk = text("ab\r\ncd\r");
    const d = codec.decoder();
    const [ab] = d.push(chunk);
    assert.equal(ab.buffer, chunk.buffer);
    const [cd] = d.push(text("\n"));
    assert.deepEqual(cd, text("cd"));
    assert.equal(cd.buffer, chunk.buffer);
  });

  test("a missing delimiter past the cap is malformed, as soon as the bytes prove it", () => {
    const codec = delimited({ delimiter: "\r\n", maxFrameLength: 4 });
    assert.deepEqual(decodeAll(codec, [text("abcd\r\n")]).frames, [
      text("abcd"),
    ]);
    // Five bytes and a CR could still be "abcd" + ... no: five bytes are already too many.
    const d = codec.decoder();
    assert.deepEqual(d.push(text("abcd")), []);
    assert.deepEqual(d.push(text("\r")), [], "abcd\\r may still end with \\n");
    assert.throws(
      () => d.push(text("e")),
      (e) =>
        e instanceof MalformedFrameError && e.reason === "delimiter" &&
        e.code === "EMALFORMED" &&
        e.message ===
          "No delimiter found within the limit of 4 bytes (6 bytes without one)",
    );
    // In one chunk, with the delimiter far behind the cap: the same error, after earlier frames.
    const one = decodeAll(codec, [text("ok\r\ntoo long\r\n")]);
    assert.deepEqual(one.frames, [text("ok")]);
    assert.ok(
      one.error instanceof MalformedFrameError &&
        one.error.reason === "delimiter",
    );
    // Memory stays bounded by the cap.
    const d2 = delimited({ delimiter: "\n", maxFrameLength: 1000 }).decoder();
    assert.throws(() => {
      for (let i = 0; i < 2000; i++) {
        d2.push(new Uint8Array(1));
        assert.ok(d2.buffered <= 1000);
      }
    }, MalformedFrameError);
  });

  test("frames of length 0 are delivered", () => {
    const frames = decodeAll(delimited(), [text("\n\na\n\n")]).frames;
    assert.deepEqual(frames, [text(""), text(""), text("a"), text("")]);
  });

  test("the encoder refuses payloads that contain a delimiter or would form one with it", () => {
    assert.throws(
      () => delimited().encode(text("a\nb")),
      (e) => e instanceof RangeError && e.message.includes("byte 1"),
    );
    assert.throws(
      () => delimited({ delimiter: "aba" }).encode(text("ab")),
      (e) => e instanceof RangeError && e.message.includes("trailer"),
    );
    assert.deepEqual(
      delimited({ delimiter: "\r\n" }).encode(text("a\r")),
      text("a\r\r\n"),
    );
    assert.throws(
      () => delimited({ delimiter: ["\n", "\r\n"] }).encode(text("a\r")),
      RangeError,
    );
    assert.throws(
      () => delimited({ delimiter: "\r\n", bareLf: "error" }).encode(text("a\nb")),
      /line feed/,
    );
    assert.deepEqual(
      delimited({ delimiter: "\r\n" }).encode(text("a\nb")),
      text("a\nb\r\n"),
    );
    assert.throws(
      () => delimited({ maxFrameLength: 2 }).encode(text("abc")),
      FrameTooLargeError,
    );
  });

  test("bad options throw with the bad value in the message", () => {
    const cases: [unknown, typeof RangeError | typeof TypeError, string][] = [
      [{ delimiter: "" }, RangeError, '""'],
      [{ delimiter: [] }, RangeError, "empty array"],
      [{ delimiter: 10 }, TypeError, "10"],
      [{ delimiter: ["\n", 5] }, TypeError, "5"],
      [{ delimiter: ["b", "abc"] }, RangeError, '"abc"'],
      [{ delimiter: ["\r", "\r\n"] }, RangeError, '"\\r"'],
      [{ maxFrameLength: -5 }, RangeError, "-5"],
      [{ stripDelimiter: "no" }, TypeError, '"no"'],
      [{ delimiters: "\n" }, TypeError, "delimiters"],
    ];
    for (const [options, type, snippet] of cases) {
      assert.throws(
        () => delimited(options as DelimitedOptions),
        (e) => e instanceof type && (e as Error).message.includes(snippet),
        JSON.stringify(options),
      );
    }
    // A delimiter that ends another one is fine: the longer one wins where both end.
    assert.deepEqual(
      decodeAll(delimited({ delimiter: ["\n", "\r\n"] }), [text("a\r\n")])
        .frames,
      [text("a")],
    );
    assert.deepEqual(
      delimited({ delimiter: [bytes(1, 2), bytes(1, 2)] }).delimiters,
      [bytes(1, 2)],
    );
  });
});
