import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  delimited,
  endDecoder,
  FrameTooLargeError,
  lengthPrefixed,
  MalformedFrameError,
  varint,
} from "../../src/framing/mod.ts";
import type { FrameDecoder } from "../../src/framing/mod.ts";

describe("endDecoder", () => {
  test("returns undefined at a frame boundary, and again after", () => {
    const decoder = lengthPrefixed({ lengthFieldLength: 2 }).decoder();
    assert.deepEqual(decoder.push(new Uint8Array([0, 1, 7])), [new Uint8Array([7])]);
    assert.equal(endDecoder(decoder), undefined);
    assert.equal(endDecoder(decoder), undefined);
    assert.throws(() => decoder.push(new Uint8Array([0])), TypeError, "the decoder is ended");
  });

  test("returns the truncation error that end() throws, and poisons the decoder with it", () => {
    for (const codec of [lengthPrefixed({ lengthFieldLength: 4 }), varint(), delimited({ delimiter: "\n" })]) {
      const decoder = codec.decoder();
      decoder.push(new Uint8Array([0x80]));
      const error = endDecoder(decoder);
      assert.ok(error instanceof MalformedFrameError, `${error}`);
      assert.equal(error.reason, "truncated");
      assert.equal(decoder.error, error);
      assert.equal(endDecoder(decoder), error, "the same error again");
      assert.throws(() => decoder.end(), (e) => e === error);
    }
  });

  test("returns the error that poisoned the decoder", () => {
    const decoder = lengthPrefixed({ lengthFieldLength: 2, maxFrameLength: 4 }).decoder();
    assert.throws(() => decoder.push(new Uint8Array([0, 9])), FrameTooLargeError);
    assert.equal(endDecoder(decoder), decoder.error);
  });

  test("catches what another decoder's end() throws", () => {
    const thrown = new RangeError("Custom end failed");
    const custom: FrameDecoder = {
      push: () => [],
      end: () => {
        throw thrown;
      },
      buffered: 1,
      error: undefined,
    };
    assert.equal(endDecoder(custom), thrown);
    assert.equal(endDecoder({ ...custom, end: () => {} }), undefined);
  });
});
