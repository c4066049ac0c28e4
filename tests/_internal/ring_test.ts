import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Ring } from "../../src/_internal/ring.ts";

describe("Ring", () => {
  test("shifts in push order across wrap-around and growth", () => {
    const ring = new Ring<number>();
    const expected: number[] = [];
    const got: number[] = [];
    let next = 0;
    // Interleave pushes and shifts so that the head wraps before the ring grows.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7; i++) {
        ring.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < 5; i++) got.push(ring.shift()!);
    }
    assert.equal(ring.length, 100);
    assert.equal(ring.peek(), got.length);
    while (ring.length > 0) got.push(ring.shift()!);
    assert.deepEqual(got, expected);
    assert.equal(ring.shift(), undefined);
    assert.equal(ring.peek(), undefined);
  });

  test("works again after it shrinks from a large size", () => {
    const ring = new Ring<string>();
    for (let i = 0; i < 5000; i++) ring.push(`item ${i}`);
    for (let i = 0; i < 5000; i++) assert.equal(ring.shift(), `item ${i}`);
    ring.push("a");
    ring.push("b");
    assert.deepEqual([ring.shift(), ring.shift(), ring.length], ["a", "b", 0]);
  });

  test("clear drops every item", () => {
    const ring = new Ring<number>();
    ring.push(1);
    ring.clear();
    assert.equal(ring.length, 0);
    assert.equal(ring.shift(), undefined);
  });

  test("rings that never grew share no storage: each keeps its own items", () => {
    const a = new Ring<number>();
    const b = new Ring<number>();
    assert.equal(a.shift(), undefined);
    assert.equal(b.peek(), undefined);
    a.push(1);
    b.push(2);
    a.clear();
    a.push(3);
    assert.deepEqual([a.shift(), b.shift(), a.length, b.length], [3, 2, 0, 0]);
    assert.deepEqual([new Ring<number>().peek(), new Ring<number>().length], [undefined, 0]);
  });
});
