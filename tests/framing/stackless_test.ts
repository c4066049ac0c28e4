import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { stackless } from "../../src/framing/_internal.ts";
import { FrameTooLargeError, lengthPrefixed, MalformedFrameError } from "../../src/framing/mod.ts";

/** The call-site lines of a stack ("    at f (file:1:2)"). */
function frames(error: Error): string[] {
  return (error.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
}

describe("stackless", () => {
  test("builds an error that keeps its message and class but has no frames", () => {
    const error = stackless(() => new RangeError("Length 9 exceeds the limit of 4"));
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "Length 9 exceeds the limit of 4");
    assert.deepEqual(frames(error), []);
  });

  test("leaves stacks on for errors built after it, even when make throws", () => {
    assert.throws(() =>
      stackless(() => {
        throw new Error("Make failed");
      }), /Make failed/);
    assert.ok(frames(new Error("After")).length > 0, "an ordinary error still has frames");
  });

  test("a decoder's errors about received bytes carry no stack; an encoder's keep theirs", () => {
    const codec = lengthPrefixed({ lengthFieldLength: 4, maxFrameLength: 8 });
    const truncated = codec.decoder();
    truncated.push(new Uint8Array([0, 0]));
    assert.throws(() => truncated.end(), (e) => e instanceof MalformedFrameError && frames(e).length === 0);
    const oversized = codec.decoder();
    assert.throws(
      () => oversized.push(new Uint8Array([0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9])),
      (e) => e instanceof FrameTooLargeError && frames(e).length === 0,
    );
    assert.throws(
      () => codec.encode(new Uint8Array(9)),
      (e) => e instanceof FrameTooLargeError && frames(e).length > 0,
    );
  });
});
