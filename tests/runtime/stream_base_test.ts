/**
 * The stream machinery on a socket of its own: when queued bytes are pumped, and what a pump
 * that throws does.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StreamBase } from "../../src/runtime/stream_base.ts";
import type { Addr } from "../../src/runtime/types.ts";
import type { NetError } from "../../src/runtime/errors.ts";

const ADDR: Addr = { hostname: "127.0.0.1", port: 1, family: "IPv4" };

/** A stream whose socket records what it was sent, and can be made to throw on a send. */
class RecordingStream extends StreamBase {
  readonly localAddr = ADDR;
  readonly remoteAddr = ADDR;
  readonly sent: number[][] = [];
  pumps = 0;
  throwOnSend = false;
  protected _pump(): void {
    this.pumps++;
    for (let chunk = this._takeChunk(); chunk; chunk = this._takeChunk()) {
      if (this.throwOnSend) throw new Error("the socket broke");
      this.sent.push(Array.from(chunk));
    }
    this._progress();
  }
  protected _startReading(): void {}
  protected _stopReading(): void {}
  protected _shutdownWrite(): void {}
  protected _release(): void {
    this._transportClosed();
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}
  /** Bytes arrive from the socket. */
  arrive(bytes: Uint8Array): void {
    this._deliver(bytes);
  }
  /** Bytes arrive in a read buffer that is filled again once this returns. */
  arriveLoaned(bytes: Uint8Array): boolean {
    return this._deliverLoaned(bytes);
  }
}

describe("StreamBase", () => {
  test("loaned bytes are lent only to handlers that take loans, and only when delivered at once", () => {
    const readBuffer = new Uint8Array([1, 2, 3]);
    const got: Uint8Array[] = [];
    const owning = new RecordingStream();
    owning.setHandlers({ onData: (chunk) => got.push(chunk) });
    assert.equal(owning.arriveLoaned(readBuffer), false);
    assert.notEqual(got[0].buffer, readBuffer.buffer);

    const borrowing = new RecordingStream();
    borrowing.setHandlers({ loanedChunks: true, onData: (chunk) => got.push(chunk) });
    assert.equal(borrowing.arriveLoaned(readBuffer), true);
    assert.equal(got[1].buffer, readBuffer.buffer);

    // Held while paused, the bytes outlive the call: they are copied.
    borrowing.pause();
    assert.equal(borrowing.arriveLoaned(readBuffer), false);
    readBuffer.fill(9);
    borrowing.resume();
    assert.deepEqual(got[2], new Uint8Array([1, 2, 3]));
    assert.deepEqual(got[0], new Uint8Array([1, 2, 3]));
  });

  test("writes made while onData runs are pumped once, as it returns", () => {
    const stream = new RecordingStream();
    stream.setHandlers({
      onData(chunk) {
        stream.write(chunk);
        stream.write(Uint8Array.of(9));
        assert.equal(stream.pumps, 0, "no pump while the handler runs");
      },
    });
    stream.arrive(Uint8Array.of(1, 2));
    assert.equal(stream.pumps, 1);
    assert.deepEqual(stream.sent, [[1, 2, 9]]);
  });

  test("writes made elsewhere are joined and pumped in a microtask, one per stream", async () => {
    const a = new RecordingStream();
    const b = new RecordingStream();
    a.write(Uint8Array.of(1));
    b.write(Uint8Array.of(2));
    a.write(Uint8Array.of(3));
    assert.deepEqual([a.pumps, b.pumps], [0, 0]);
    await Promise.resolve();
    assert.deepEqual([a.sent, b.sent, a.pumps, b.pumps], [[[1, 3]], [[2]], 1, 1]);
  });

  test("a pump that throws ends its own stream only, with the error as the cause", async () => {
    const broken = new RecordingStream();
    const healthy = new RecordingStream();
    let closedWith: NetError | undefined;
    broken.setHandlers({ onClose: (error) => (closedWith = error) });
    broken.throwOnSend = true;
    broken.write(Uint8Array.of(1));
    healthy.write(Uint8Array.of(2));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(broken.closed, true);
    assert.equal(closedWith?.code, "EUNKNOWN");
    assert.match(String((closedWith?.cause as Error)?.message), /the socket broke/);
    assert.deepEqual([healthy.sent, healthy.closed], [[[2]], false]);
  });
});
