import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SocketPeer, type SocketPeerIo, SocketPeerSetup } from "../../src/hosts/_socket_peer.ts";
import { ReceiveSlab } from "../../src/hosts/_receive_slab.ts";
import type { PeerApp } from "../../src/hosts/types.ts";
import { rawChunks } from "../../src/framing/raw.ts";
import { lengthPrefixed } from "../../src/framing/length_prefixed.ts";
import { WOULD_BLOCK, type WouldBlock } from "../../src/models/nonblocking.ts";
import type { FrameCodec } from "../../src/framing/types.ts";

/** A socket that takes `room` bytes, then would block until `room` is raised. */
class FakeSocket implements SocketPeerIo<undefined> {
  room = Infinity;
  sent: number[] = [];
  held = false;
  finished: boolean | undefined; // abort flag of finish()
  failWith: Error | undefined;
  trySend(_handle: undefined, bytes: Uint8Array): number | WouldBlock {
    if (this.failWith) throw this.failWith;
    if (this.room === 0) return WOULD_BLOCK;
    const n = Math.min(this.room, bytes.byteLength);
    this.room -= n;
    this.sent.push(...bytes.subarray(0, n));
    return n;
  }
  socketQueued(): number {
    return 0;
  }
  finish(_peer: SocketPeer<undefined>, abort: boolean): void {
    this.finished = abort;
  }
  resetSocket(): void {}
  holdReading(_handle: undefined, hold: boolean): void {
    this.held = hold;
  }
}

function peerOn(codec: FrameCodec, app: PeerApp, highWaterMark = 1024 * 1024) {
  const io = new FakeSocket();
  const closes: (Error | undefined)[] = [];
  const peer = new SocketPeer(
    undefined,
    undefined,
    new SocketPeerSetup(io, codec, { ...app, onClose: (_peer, error) => closes.push(error) }, highWaterMark),
  );
  return { io, peer, closes };
}

const echo: PeerApp = { onFrame: (peer, frame) => peer.send(frame) };

describe("SocketPeer", () => {
  test("sends at once while the socket takes it, and queues the rest in order", () => {
    const { io, peer } = peerOn(rawChunks(), echo);
    peer.receive(Uint8Array.of(1, 2, 3));
    assert.deepEqual(io.sent, [1, 2, 3]);
    io.room = 2;
    peer.receive(Uint8Array.of(4, 5, 6, 7));
    peer.receive(Uint8Array.of(8));
    assert.deepEqual(io.sent, [1, 2, 3, 4, 5]);
    assert.equal(peer.unsentBytes, 3);
    io.room = Infinity;
    peer.flush();
    assert.deepEqual(io.sent, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(peer.unsentBytes, 0);
  });

  test("what waits for a slow reader is copied out of the receive slab", () => {
    const { io, peer } = peerOn(rawChunks(), echo);
    io.room = 0;
    const slab = new ReceiveSlab();
    slab.space.set([9, 8, 7]);
    peer.receive(slab.take(3));
    slab.space.set([6]);
    peer.receive(slab.take(1));
    const waiting = peer.takeQueued()!;
    assert.deepEqual(waiting, Uint8Array.of(9, 8, 7, 6));
    const single = peerOn(rawChunks(), echo);
    single.io.room = 0;
    slab.space.set([5, 4]);
    single.peer.receive(slab.take(2));
    const kept = single.peer.takeQueued()!;
    assert.deepEqual(kept, Uint8Array.of(5, 4));
    assert.equal(kept.buffer.byteLength, 2, "a 2-byte reply must not keep a 64 KiB slab alive");
    assert.equal(single.peer.queuedBytes, 0);
    assert.equal(single.peer.takeQueued(), undefined, "nothing is left once taken");
  });

  test("counts what waits in its queue, framed, until the socket takes it", () => {
    const { io, peer } = peerOn(lengthPrefixed({ lengthFieldLength: 4 }), echo);
    io.room = 3;
    peer.receive(Uint8Array.of(0, 0, 0, 2, 7, 8));
    assert.deepEqual(io.sent, [0, 0, 0]);
    assert.equal(peer.queuedBytes, 3);
    io.room = Infinity;
    peer.flush();
    assert.deepEqual(io.sent, [0, 0, 0, 2, 7, 8]);
    assert.equal(peer.queuedBytes, 0);
    peer.receive(Uint8Array.of(0, 0, 0, 1, 9));
    assert.deepEqual(io.sent.slice(6), [0, 0, 0, 1, 9], "a queue let go of is made again");
  });

  test("holds reading above the high water mark, and reads again once the queue is empty", () => {
    const { io, peer } = peerOn(rawChunks(), echo, 10);
    io.room = 0;
    peer.receive(new Uint8Array(8));
    assert.equal(io.held, false);
    peer.receive(new Uint8Array(8));
    assert.equal(io.held, true);
    io.room = Infinity;
    peer.flush();
    assert.equal(io.held, false);
    peer.pause();
    assert.equal(io.held, true, "the application's pause outlasts the queue's");
  });

  test("close sends what is queued first, then finishes gracefully", () => {
    const { io, peer, closes } = peerOn(lengthPrefixed(), echo);
    io.room = 3;
    peer.send(Uint8Array.of(1, 2));
    peer.close();
    assert.equal(io.finished, undefined);
    assert.equal(peer.closing, true);
    peer.send(Uint8Array.of(3)); // after close: dropped
    io.room = Infinity;
    peer.flush();
    assert.deepEqual(io.sent, [0, 0, 0, 2, 1, 2]);
    assert.equal(io.finished, false);
    assert.deepEqual(closes, [undefined]);
  });

  test("a failing send ends this peer with the error, once", () => {
    const { io, peer, closes } = peerOn(rawChunks(), echo);
    const error = new Error("Connection reset by peer");
    io.failWith = error;
    peer.receive(Uint8Array.of(1));
    assert.equal(io.finished, true);
    assert.deepEqual(closes, [error]);
    peer.receive(Uint8Array.of(2));
    peer.fail(new Error("again"));
    assert.equal(closes.length, 1);
  });

  test("a malformed frame goes to onFrameError after the frames before it, and the peer closes", () => {
    const frames: number[][] = [];
    const errors: Error[] = [];
    const { peer, closes } = peerOn(lengthPrefixed({ maxFrameLength: 16 }), {
      onFrame: (_peer, frame) => frames.push([...frame]),
      onFrameError: (_peer, error) => errors.push(error),
    });
    peer.receive(Uint8Array.of(0, 0, 0, 1, 42, 0, 0, 1, 0));
    assert.deepEqual(frames, [[42]]);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /exceeds/);
    assert.equal(peer.closing, true);
    assert.deepEqual(closes, [undefined]);
  });
});
