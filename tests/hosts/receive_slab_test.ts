import { test } from "node:test";
import assert from "node:assert/strict";
import { ReceiveSlab } from "../../src/hosts/_receive_slab.ts";

test("ReceiveSlab hands out slices that later receives never overwrite", () => {
  const slab = new ReceiveSlab();
  const taken: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const space = slab.space;
    assert.ok(space.byteLength >= 16 * 1024, `space of ${space.byteLength} bytes`);
    const n = 1000 + i * 97;
    space.fill(i, 0, n); // what a recv of n bytes writes
    taken.push(slab.take(n));
  }
  const buffers = new Set(taken.map((bytes) => bytes.buffer));
  assert.ok(buffers.size > 1, "a full slab is replaced by a new one");
  taken.forEach((bytes, i) => {
    assert.equal(bytes.byteLength, 1000 + i * 97);
    assert.ok(bytes.every((b) => b === i), `slice ${i} was overwritten`);
  });
});

test("ReceiveSlab of a given size always offers at least a quarter of it", () => {
  const slab = new ReceiveSlab(1024);
  for (let i = 0; i < 20; i++) {
    assert.ok(slab.space.byteLength >= 256, `space of ${slab.space.byteLength} bytes`);
    assert.ok(slab.space.byteLength <= 1024);
    slab.take(300);
  }
});
