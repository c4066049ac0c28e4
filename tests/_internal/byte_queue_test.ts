import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ByteQueue } from "../../src/_internal/byte_queue.ts";

const WOULD_BLOCK = Symbol("would block");

/** A socket that takes at most `room` bytes per call, then would block once `capacity` is used. */
function sender(room: number, capacity = Infinity) {
  const taken: number[] = [];
  let used = 0;
  return {
    taken,
    trySend(bytes: Uint8Array): number | symbol {
      if (used >= capacity) return WOULD_BLOCK;
      const n = Math.min(bytes.byteLength, room, capacity - used);
      used += n;
      for (const b of bytes.subarray(0, n)) taken.push(b);
      return n;
    },
    open() {
      used = 0;
    },
  };
}

describe("ByteQueue", () => {
  test("drains every chunk in order and reports empty", () => {
    const queue = new ByteQueue();
    queue.write(Uint8Array.of(1, 2));
    queue.write(new Uint8Array(0));
    queue.write(Uint8Array.of(3));
    assert.equal(queue.bytes, 3);
    const sock = sender(100);
    assert.equal(queue.drain(sock), true);
    assert.deepEqual(sock.taken, [1, 2, 3]);
    assert.equal(queue.bytes, 0);
  });

  test("a partial send keeps the tail for the next drain", () => {
    const queue = new ByteQueue();
    queue.write(Uint8Array.of(1, 2, 3, 4));
    queue.write(Uint8Array.of(5));
    const sock = sender(3);
    assert.equal(queue.drain(sock), false);
    assert.deepEqual(sock.taken, [1, 2, 3]);
    assert.equal(queue.bytes, 2);
    assert.equal(queue.drain(sock), true);
    assert.deepEqual(sock.taken, [1, 2, 3, 4, 5]);
  });

  test("untilWouldBlock goes on past partial sends until the socket would block", () => {
    const queue = new ByteQueue();
    queue.write(new Uint8Array(10).fill(7));
    const sock = sender(3, 8);
    assert.equal(queue.drain(sock, true), false);
    assert.equal(sock.taken.length, 8);
    assert.equal(queue.bytes, 2);
    sock.open();
    assert.equal(queue.drain(sock, true), true);
    assert.equal(sock.taken.length, 10);
  });

  test("an error of trySend propagates and keeps the bytes", () => {
    const queue = new ByteQueue();
    queue.write(Uint8Array.of(1));
    assert.throws(() =>
      queue.drain({
        trySend() {
          throw new Error("Socket is closed");
        },
      }), /Socket is closed/);
    assert.equal(queue.bytes, 1);
  });

  test("takeAll joins the chunks, or hands back the only one", () => {
    const queue = new ByteQueue();
    assert.equal(queue.takeAll(), undefined);
    const only = Uint8Array.of(9);
    queue.write(only);
    assert.equal(queue.takeAll(), only);
    queue.write(Uint8Array.of(1, 2));
    queue.write(Uint8Array.of(3));
    assert.deepEqual(queue.takeAll(), Uint8Array.of(1, 2, 3));
    assert.equal(queue.bytes, 0);
  });

  test("compact copies small views of large buffers and keeps whole buffers", () => {
    const slab = new Uint8Array(1024).map((_, i) => i & 0xff);
    const view = slab.subarray(10, 20);
    const own = Uint8Array.of(1, 2, 3);
    const queue = new ByteQueue();
    queue.write(view);
    queue.write(own);
    queue.compact();
    const out = queue.takeAll()!;
    assert.deepEqual([...out], [...slab.subarray(10, 20), 1, 2, 3]);
    const copied = new ByteQueue();
    copied.write(view);
    copied.compact();
    const kept = copied.takeAll()!;
    assert.notEqual(kept.buffer, slab.buffer);
    assert.equal(kept.buffer.byteLength, 10);
    slab.fill(0); // the queue's copy does not change with the slab
    assert.deepEqual([...kept], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const whole = new ByteQueue();
    whole.write(own);
    whole.compact();
    assert.equal(whole.takeAll(), own);
  });

  test("read copies across chunks and takes partial chunks; shift takes without copying", () => {
    const queue = new ByteQueue();
    const first = Uint8Array.of(1, 2, 3, 4, 5);
    queue.write(first);
    queue.write(Uint8Array.of(6, 7));
    const target = new Uint8Array(3);
    assert.equal(queue.read(target), 3);
    assert.deepEqual(target, Uint8Array.of(1, 2, 3));
    const rest = queue.shift()!;
    assert.deepEqual(rest, Uint8Array.of(4, 5));
    assert.equal(rest.buffer, first.buffer, "shift hands out a view, not a copy");
    assert.deepEqual(queue.shift(1), Uint8Array.of(6));
    assert.equal(queue.read(new Uint8Array(10)), 1);
    assert.equal(queue.shift(), undefined);
    assert.equal(queue.bytes, 0);
  });

  test("shiftJoined joins small chunks up to the limit and hands large ones over whole", () => {
    const queue = new ByteQueue();
    const large = new Uint8Array(100).fill(9);
    queue.write(Uint8Array.of(1, 2));
    queue.write(Uint8Array.of(3));
    queue.write(Uint8Array.of(4, 5, 6));
    queue.write(large);
    queue.write(Uint8Array.of(7));
    assert.deepEqual(queue.shiftJoined(10, 5), Uint8Array.of(1, 2, 3)); // 4,5,6 would pass 5 bytes
    assert.deepEqual(queue.shiftJoined(10, 64), Uint8Array.of(4, 5, 6)); // stops at the large chunk
    assert.equal(queue.shiftJoined(10, 64), large);
    assert.deepEqual(queue.shiftJoined(10, 64), Uint8Array.of(7));
    assert.equal(queue.shiftJoined(10, 64), undefined);
  });

  test("shiftJoined joins a long run of chunks behind many taken ones", () => {
    const queue = new ByteQueue();
    for (let i = 0; i < 200; i++) queue.write(Uint8Array.of(i));
    for (let i = 0; i < 70; i++) assert.deepEqual(queue.shift(), Uint8Array.of(i));
    const joined = queue.shiftJoined(16, 1000)!;
    assert.deepEqual([...joined], Array.from({ length: 130 }, (_, i) => 70 + i));
    assert.equal(queue.bytes, 0);
    queue.write(Uint8Array.of(1));
    assert.deepEqual(queue.takeAll(), Uint8Array.of(1));
  });

  test("unshift puts bytes back in front, also after a partial read", () => {
    const queue = new ByteQueue();
    queue.write(Uint8Array.of(1, 2, 3));
    queue.write(Uint8Array.of(4));
    queue.read(new Uint8Array(1));
    queue.unshift(Uint8Array.of(0));
    assert.equal(queue.bytes, 4);
    assert.deepEqual(queue.takeAll(), Uint8Array.of(0, 2, 3, 4));
    const sent = queue.shiftJoined(1, 1);
    assert.equal(sent, undefined);
    queue.write(Uint8Array.of(5, 6));
    const chunk = queue.shiftJoined(1024, 4096)!;
    queue.unshift(chunk.subarray(1)); // the OS took one byte
    assert.deepEqual(queue.takeAll(), Uint8Array.of(6));
  });

  test("keeps order while chunks come and go for a long time", () => {
    const queue = new ByteQueue();
    const sock = sender(Infinity, 0);
    const sent = sender(Infinity);
    // A slow reader: the queue never empties, chunks keep coming and going.
    for (let i = 0; i < 10_000; i++) {
      queue.write(new Uint8Array(8).fill(i & 0xff));
      if (i % 2 === 1) queue.shift();
    }
    assert.equal(queue.bytes, 5000 * 8);
    assert.equal(queue.drain(sock), false);
    assert.equal(queue.drain(sent), true);
    assert.equal(sent.taken.length, 5000 * 8);
    assert.deepEqual(sent.taken.slice(0, 8), new Array(8).fill(5000 & 0xff));
  });

  test("clear drops everything", () => {
    const queue = new ByteQueue();
    queue.write(Uint8Array.of(1, 2));
    queue.clear();
    assert.equal(queue.bytes, 0);
    assert.equal(queue.drain(sender(1)), true);
  });

  test("queues that empty keep no storage of their own, and share none with other queues", () => {
    const a = new ByteQueue();
    const b = new ByteQueue();
    a.write(Uint8Array.of(1, 2));
    assert.deepEqual(Array.from(a.shift()!), [1, 2]);
    a.unshift(Uint8Array.of(3));
    b.unshift(Uint8Array.of(4));
    b.write(Uint8Array.of(5));
    a.clear();
    a.write(Uint8Array.of(6));
    assert.deepEqual(Array.from(a.takeAll()!), [6]);
    assert.deepEqual(Array.from(b.takeAll()!), [4, 5]);
    const fresh = new ByteQueue();
    assert.deepEqual([fresh.bytes, fresh.shift(), a.bytes, b.bytes], [0, undefined, 0, 0]);
  });
});
