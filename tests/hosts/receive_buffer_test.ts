/**
 * The receive buffer of hosts whose clients each own one: it grows when receives fill it,
 * shrinks after a run of short ones to what still fits them, and does not bounce between sizes
 * under a steady flow.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MAX_RECEIVE, MIN_RECEIVE, ReceiveBuffer } from "../../src/hosts/_receive_buffer.ts";

describe("ReceiveBuffer", () => {
  test("starts small, grows four times on each full receive, up to the largest", () => {
    const r = new ReceiveBuffer();
    assert.equal(r.buffer.byteLength, MIN_RECEIVE);
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) {
      r.received(r.buffer.byteLength);
      sizes.push(r.buffer.byteLength);
    }
    assert.deepEqual(sizes, [4096, 16384, 65536, MAX_RECEIVE, MAX_RECEIVE, MAX_RECEIVE]);
  });

  test("a run of short receives shrinks it to twice the run's largest, not below the smallest", () => {
    const r = new ReceiveBuffer();
    for (let i = 0; i < 3; i++) r.received(r.buffer.byteLength);
    assert.equal(r.buffer.byteLength, 65536);
    for (let i = 0; i < 7; i++) r.received(3000);
    assert.equal(r.buffer.byteLength, 65536, "not before eight short receives");
    r.received(1000);
    assert.equal(r.buffer.byteLength, 8192, "twice 3000 fits in 8 KiB");
    for (let i = 0; i < 8; i++) r.received(36);
    assert.equal(r.buffer.byteLength, MIN_RECEIVE);
  });

  test("a steady flow just over the smallest size settles and stays", () => {
    const r = new ReceiveBuffer();
    const sizes = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const n = Math.min(1088, r.buffer.byteLength);
      r.received(n);
      if (i > 10) sizes.add(r.buffer.byteLength);
    }
    assert.deepEqual([...sizes], [4096]);
  });
});
