/**
 * `FrameDecoder.copiesIncompleteFrames`: a decoder that sets it keeps no view of a chunk once
 * `push` returns, so the chunk's buffer may be filled again (a loaned read buffer). Every
 * stream is fed in pieces cut at each position, each piece overwritten as soon as it was pushed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  delimited,
  fixedSize,
  type FrameCodec,
  lengthPrefixed,
  packetHeader,
  rawChunks,
  varint,
} from "../../src/framing/mod.ts";

const payloads = [new Uint8Array([1, 2, 3, 4, 5]), new Uint8Array(0), new Uint8Array([6, 7, 8, 9, 10])];

const packets = packetHeader();

const claiming: [string, FrameCodec, Uint8Array[]][] = [
  ["lengthPrefixed", lengthPrefixed({ lengthFieldLength: 4 }), payloads],
  ["lengthPrefixed, 2-byte field", lengthPrefixed({ lengthFieldLength: 2 }), payloads],
  ["varint", varint(), payloads],
  ["fixedSize", fixedSize(5), [payloads[0], payloads[2]]],
  // A packet's frame is the whole packet, its size field included.
  ["packetHeader", packets.codec, [packets.encode(1, new Uint8Array([1, 2])), packets.encode(2, new Uint8Array([3]))]],
];

for (const [name, codec, frames] of claiming) {
  test(`${name}: keeps no view of a pushed chunk, wherever the stream is cut`, () => {
    const wire = Uint8Array.from(frames.flatMap((f) => [...codec.encode(f)]));
    for (let cut = 1; cut < wire.byteLength; cut++) {
      const decoder = codec.decoder();
      assert.equal(decoder.copiesIncompleteFrames, true);
      const got: Uint8Array[] = [];
      const readBuffer = new Uint8Array(wire.byteLength);
      for (const [from, to] of [[0, cut], [cut, wire.byteLength]]) {
        const chunk = readBuffer.subarray(0, to - from);
        chunk.set(wire.subarray(from, to));
        // What push returned is used now; what it kept must not see the buffer change.
        for (const frame of decoder.push(chunk)) got.push(frame.slice());
        readBuffer.fill(0xa5);
      }
      assert.deepEqual(got, frames, `cut at ${cut}`);
    }
  });
}

test("rawChunks keeps nothing between chunks", () => {
  assert.equal(rawChunks().decoder().copiesIncompleteFrames, true);
});

test("delimited may keep views of a line's first pieces, and says so", () => {
  assert.notEqual(delimited().decoder().copiesIncompleteFrames, true);
});
