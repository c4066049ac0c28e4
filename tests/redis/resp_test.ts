/**
 * RESP2: commands encode as arrays of bulk strings; replies decode the same whether they come
 * all at once, byte by byte, or split anywhere; malformed and oversized replies are typed
 * errors that poison the decoder.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeCommand,
  RedisProtocolError,
  RedisReplyError,
  RespDecoder,
  type RespLimits,
  type RespValue,
} from "../../src/redis/resp.ts";

const text = new TextEncoder();
const bytes = (s: string) => text.encode(s);

/** Decodes `wire` cut into pieces at `cuts`, and returns every reply. */
function decodeIn(wire: Uint8Array, cuts: number[], limits?: RespLimits): RespValue[] {
  const decoder = new RespDecoder(limits);
  const out: RespValue[] = [];
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < wire.byteLength)].sort((a, b) => a - b)) {
    out.push(...decoder.push(wire.subarray(from, cut)));
    from = cut;
  }
  out.push(...decoder.push(wire.subarray(from)));
  assert.equal(decoder.buffered, 0);
  return out;
}

/** How a server would write a value. */
function serverEncode(value: RespValue): string {
  if (value === null) return "$-1\r\n";
  if (typeof value === "number") return `:${value}\r\n`;
  if (typeof value === "string") return `+${value}\r\n`;
  if (value instanceof RedisReplyError) return `-${value.message.replace("Redis replied with an error: ", "")}\r\n`;
  if (value instanceof Uint8Array) return `$${value.byteLength}\r\n${new TextDecoder().decode(value)}\r\n`;
  return `*${value.length}\r\n${value.map(serverEncode).join("")}`;
}

describe("RESP2", () => {
  test("encodeCommand writes an array of bulk strings", () => {
    assert.equal(
      new TextDecoder().decode(encodeCommand(["SET", "k", 42, new Uint8Array([0x68, 0x69])])),
      "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$2\r\nhi\r\n",
    );
    assert.equal(new TextDecoder().decode(encodeCommand(["ECHO", "é"])), "*2\r\n$4\r\nECHO\r\n$2\r\né\r\n");
  });

  test("every reply type, all at once and byte by byte", () => {
    const wire = bytes(
      "+OK\r\n-WRONGTYPE Operation against a key\r\n:-12\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n" +
        "*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n*2\r\n:1\r\n*0\r\n",
    );
    const all = decodeIn(wire, []);
    const oneByOne = decodeIn(wire, Array.from({ length: wire.byteLength }, (_, i) => i));
    for (const replies of [all, oneByOne]) {
      assert.equal(replies.length, 8);
      assert.equal(replies[0], "OK");
      assert.ok(replies[1] instanceof RedisReplyError);
      assert.equal((replies[1] as RedisReplyError).code, "WRONGTYPE");
      assert.equal(replies[2], -12);
      assert.deepEqual(replies[3], bytes("he\r\no"));
      assert.deepEqual(replies[4], new Uint8Array(0));
      assert.equal(replies[5], null);
      assert.equal(replies[6], null);
      assert.deepEqual(replies[7], [bytes("message"), bytes("room"), [1, []]]);
    }
  });

  test("any reply tree survives any split", () => {
    const leaf = fc.oneof(
      fc.constant(null),
      fc.integer({ min: -1e12, max: 1e12 }),
      fc.stringMatching(/^[a-zA-Z0-9 ]{0,20}$/),
      fc.uint8Array({ maxLength: 40 }).map((b) =>
        bytes(Array.from(b, (x) => String.fromCharCode(97 + (x % 26))).join(""))
      ),
    );
    const tree = fc.letrec<{ value: RespValue }>((tie) => ({
      value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, fc.array(tie("value"), { maxLength: 5 })),
    })).value;
    fc.assert(
      fc.property(fc.array(tree, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(2000)), (values, cuts) => {
        const wire = bytes(values.map(serverEncode).join(""));
        assert.deepEqual(decodeIn(wire, cuts), values);
      }),
      { numRuns: 300 },
    );
  });

  const MALFORMED: [string, string, RegExp, RespLimits?][] = [
    ["an unknown type byte", "?what\r\n", /Unknown RESP type byte 0x3f/],
    ["a bare LF", "+OK\n", /bare LF/],
    ["a CR without LF", "+O\rK\r\n", /CR inside a RESP line/],
    ["an integer with a plus sign", ":+1\r\n", /decimal integer, got "\+1"/],
    ["an integer with leading zeros", ":007\r\n", /decimal integer, got "007"/],
    ["an integer beyond 2^53", ":9007199254740993\r\n", /beyond 2\^53/],
    ["a bulk length of -2", "$-2\r\n", /bulk string length must be -1 or more, got -2/],
    ["a bulk length that is not a number", "$abc\r\n", /bulk string length must be a decimal integer/],
    ["a bulk without its CRLF", "$2\r\nhiXY", /not followed by CRLF/],
    ["a bulk over the limit", "$11\r\n", /11 bytes is larger than the limit of 10/, { maxBulkBytes: 10 }],
    ["an array length of -3", "*-3\r\n", /array length must be -1 or more, got -3/],
    ["an array over the limit", "*5\r\n", /5 elements is longer than the limit of 4/, { maxArrayLength: 4 }],
    ["arrays nested too deep", "*1\r\n*1\r\n*1\r\n:1\r\n", /nest deeper than the limit of 2/, { maxDepth: 2 }],
    ["a line over the limit", "+" + "x".repeat(20), /longer than the limit of 16 bytes/, { maxLineBytes: 16 }],
  ];
  for (const [what, wire, message, limits] of MALFORMED) {
    test(`refuses ${what}, all at once and byte by byte, and stays refused`, () => {
      for (const cuts of [[], Array.from({ length: wire.length }, (_, i) => i)]) {
        const decoder = new RespDecoder(limits);
        let thrown: unknown;
        try {
          let from = 0;
          for (const cut of [...cuts, wire.length]) {
            decoder.push(bytes(wire.slice(from, cut)));
            from = cut;
          }
        } catch (error) {
          thrown = error;
        }
        assert.ok(thrown instanceof RedisProtocolError, `${what}: got ${thrown}`);
        assert.equal(thrown.code, "RESP_PROTOCOL");
        assert.match(thrown.message, message);
        assert.throws(() => decoder.push(bytes("+OK\r\n")), (e) => e === thrown);
      }
    });
  }

  test("a large bulk string split in many reads is decoded once it is whole", () => {
    const payload = "z".repeat(200_000);
    const wire = bytes(`$${payload.length}\r\n${payload}\r\n+OK\r\n`);
    const decoder = new RespDecoder();
    const replies: RespValue[] = [];
    for (let at = 0; at < wire.byteLength; at += 1000) replies.push(...decoder.push(wire.subarray(at, at + 1000)));
    assert.equal(replies.length, 2);
    assert.equal((replies[0] as Uint8Array).byteLength, 200_000);
    assert.equal(replies[1], "OK");
  });
});
