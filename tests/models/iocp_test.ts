import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CompletionPort,
  ERROR_ABANDONED_WAIT_0,
  OverlappedDatagram,
  OverlappedListener,
  WAIT_TIMEOUT,
  WSA_OPERATION_ABORTED,
} from "../../src/models/iocp.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Transport } from "../../src/runtime/types.ts";
import { WOULD_BLOCK } from "../../src/models/nonblocking.ts";
import { sleep, within } from "../helpers/net.ts";

describe("completion port queueing", () => {
  test("packets come out in FIFO order, one by one or in batches", async () => {
    const port = new CompletionPort({ concurrency: 1 });
    for (let i = 0; i < 5; i++) port.postQueuedCompletionStatus(i, "k", { i });
    assert.equal(port.queueLength, 5);
    const first = await port.getQueuedCompletionStatus();
    assert.deepEqual([first.ok, first.bytesTransferred, first.key, first.overlapped], [true, 0, "k", { i: 0 }]);
    const batch = await port.getQueuedCompletionStatusEx(3);
    assert.deepEqual(batch.map((s) => s.bytesTransferred), [1, 2, 3]);
    assert.equal((await port.getQueuedCompletionStatus()).bytesTransferred, 4);
    port.close();
  });

  test("a wait times out with WAIT_TIMEOUT, and Ex returns an empty batch", async () => {
    const port = new CompletionPort();
    const started = Date.now();
    const status = await port.getQueuedCompletionStatus({ timeoutMs: 40 });
    assert.ok(Date.now() - started >= 35);
    assert.equal(status.timedOut, true);
    assert.equal(status.errorCode, WAIT_TIMEOUT);
    assert.equal(status.overlapped, null);
    assert.deepEqual(await port.getQueuedCompletionStatusEx(4, { timeoutMs: 0 }), []);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 10);
    const cancelled = await port.getQueuedCompletionStatus({ signal: ac.signal });
    assert.equal(cancelled.error?.code, "ECANCELED");
    port.close();
  });

  test("closing the port releases every waiter with ERROR_ABANDONED_WAIT_0", async () => {
    const port = new CompletionPort();
    const waits = [port.getQueuedCompletionStatus(), port.worker().getQueuedCompletionStatus()];
    port.close();
    for (const s of await Promise.all(waits)) assert.equal(s.errorCode, ERROR_ABANDONED_WAIT_0);
    assert.throws(() => port.postQueuedCompletionStatus(0, 0), /closed/);
  });

  test("bad arguments get clear errors", async () => {
    assert.throws(() => new CompletionPort({ concurrency: -1 }), /got -1/);
    const port = new CompletionPort();
    await assert.rejects(port.getQueuedCompletionStatusEx(0), /got 0/);
    port.close();
  });

  test("waiting workers are woken last-in-first-out", async () => {
    const port = new CompletionPort({ concurrency: 8 });
    const woken: number[] = [];
    const workers = [port.worker(), port.worker(), port.worker()];
    const loops = workers.map(async (w) => {
      const s = await w.getQueuedCompletionStatus();
      woken.push(w.id);
      return s;
    });
    await sleep(5);
    for (let i = 0; i < 3; i++) port.postQueuedCompletionStatus(i, "k");
    await Promise.all(loops);
    assert.deepEqual(woken, [workers[2].id, workers[1].id, workers[0].id]);
    port.close();
  });

  test("at most `concurrency` workers run; blocking() frees a slot", async () => {
    const port = new CompletionPort({ concurrency: 2 });
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const handled: number[] = [];
    const EXIT = "exit";
    const loop = async (useBlocking: boolean) => {
      const w = port.worker();
      while (true) {
        const s = await w.getQueuedCompletionStatus();
        if (s.key === EXIT) break;
        running++;
        peak = Math.max(peak, running);
        const gate = new Promise<void>((r) => gates.push(r));
        // A handler that waits without blocking() keeps its slot, like a thread that spins.
        if (useBlocking) await w.blocking(gate);
        else await gate;
        handled.push(s.bytesTransferred);
        running--;
      }
      w.release();
    };
    const loops = [loop(false), loop(false), loop(false), loop(false)];
    for (let i = 0; i < 4; i++) port.postQueuedCompletionStatus(i, "job");
    await sleep(20);
    assert.equal(running, 2, "only two workers run at once");
    assert.equal(port.queueLength, 2);
    gates.shift()!();
    await sleep(20);
    assert.equal(running, 2, "a finished worker lets a queued packet in");
    while (gates.length) {
      gates.shift()!();
      await sleep(5);
    }
    await sleep(20);
    assert.equal(peak, 2);
    assert.deepEqual(handled.slice().sort(), [0, 1, 2, 3]);
    for (let i = 0; i < 4; i++) port.postQueuedCompletionStatus(0, EXIT);
    await Promise.all(loops);

    // With blocking(), a waiting handler frees its slot for the next packet.
    running = 0;
    peak = 0;
    const loops2 = [loop(true), loop(true), loop(true)];
    for (let i = 0; i < 3; i++) port.postQueuedCompletionStatus(i, "job");
    await sleep(20);
    assert.equal(running, 3, "all three handlers started while the others wait in blocking()");
    while (gates.length) gates.shift()!();
    for (let i = 0; i < 3; i++) port.postQueuedCompletionStatus(0, EXIT);
    await within(Promise.all(loops2), 2000, "workers to exit");
    port.close();
  });
});

for (
  const [name, make] of [
    ["native", () => defaultTransport()],
    ["memory", () => Promise.resolve(createMemoryTransport())],
  ] as [string, () => Promise<Transport>][]
) {
  describe(`overlapped sockets over the ${name} transport`, () => {
    async function connectedPair(port: CompletionPort, transport: Transport) {
      const listener = await OverlappedListener.listen({ transport, port: 0 });
      port.associate(listener, "listener");
      port.postAccept(listener, { op: "accept" });
      port.postConnect({ hostname: "127.0.0.1", port: listener.addr.port, transport }, { op: "connect" }, "client");
      const statuses = [await port.getQueuedCompletionStatus(), await port.getQueuedCompletionStatus()];
      const accepted = statuses.find((s) => s.key === "listener")!;
      const connected = statuses.find((s) => s.key === "client")!;
      assert.ok(accepted.ok && connected.ok);
      const server = accepted.socket!;
      port.associate(server, "server");
      return { listener, server, client: connected.socket! };
    }

    test("AcceptEx, ConnectEx, WSASend and WSARecv complete with byte counts; 0 at EOF", async () => {
      const transport = await make();
      const port = new CompletionPort();
      const { listener, server, client } = await connectedPair(port, transport);
      const sendBuf = new Uint8Array([1, 2, 3, 4, 5]);
      port.postSend(client, sendBuf, { op: "send" });
      const sent = await port.getQueuedCompletionStatus();
      assert.deepEqual([sent.ok, sent.key, sent.bytesTransferred], [true, "client", 5]);
      const recvBuf = new Uint8Array(3);
      port.postRecv(server, recvBuf, { op: "recv" });
      const r1 = await port.getQueuedCompletionStatus();
      assert.deepEqual([r1.ok, r1.key, r1.bytesTransferred, Array.from(recvBuf)], [true, "server", 3, [1, 2, 3]]);
      port.postRecv(server, recvBuf, { op: "recv" });
      assert.equal((await port.getQueuedCompletionStatus()).bytesTransferred, 2);
      client.shutdown();
      port.postRecv(server, recvBuf, { op: "recv" });
      const eof = await port.getQueuedCompletionStatus();
      assert.deepEqual([eof.ok, eof.bytesTransferred], [true, 0]);
      await Promise.all([client.close(), server.close()]);
      await listener.close();
      port.close();
    });

    test("a zero-byte WSARecv completes when data comes and takes none; tryRecv reads it, then EOF", async () => {
      const transport = await make();
      const port = new CompletionPort();
      const { listener, server, client } = await connectedPair(port, transport);
      const scratch = new Uint8Array(16);
      assert.equal(server.tryRecv(scratch), WOULD_BLOCK);
      port.postRecv(server, new Uint8Array(0), { op: "zero" });
      const early = await port.getQueuedCompletionStatus({ timeoutMs: 30 });
      assert.equal(early.timedOut, true, "nothing came yet");
      port.postSend(client, Uint8Array.of(7, 8, 9), { op: "send" });
      const statuses = [await port.getQueuedCompletionStatus(), await port.getQueuedCompletionStatus()];
      const zero = statuses.find((s) => s.key === "server")!;
      assert.deepEqual([zero.ok, zero.bytesTransferred, zero.overlapped], [true, 0, { op: "zero" }]);
      assert.equal(server.core.available, 3, "the zero-byte receive took nothing");
      assert.equal(server.tryRecv(scratch), 3);
      assert.deepEqual(Array.from(scratch.subarray(0, 3)), [7, 8, 9]);
      assert.equal(server.tryRecv(scratch), WOULD_BLOCK);
      client.shutdown();
      port.postRecv(server, new Uint8Array(0), { op: "zero" });
      const end = await port.getQueuedCompletionStatus();
      assert.deepEqual([end.ok, end.bytesTransferred], [true, 0]);
      assert.equal(server.tryRecv(scratch), 0, "the end of the stream");
      await Promise.all([client.close(), server.close()]);
      assert.throws(() => server.tryRecv(scratch), /socket is closed/);
      await listener.close();
      port.close();
    });

    test("closesocket and CancelIoEx complete pending operations with WSA_OPERATION_ABORTED", async () => {
      const transport = await make();
      const port = new CompletionPort();
      const { listener, server, client } = await connectedPair(port, transport);
      const a = { op: "recv-a" };
      const b = { op: "recv-b" };
      port.postRecv(server, new Uint8Array(10), a);
      port.postRecv(server, new Uint8Array(10), b);
      assert.equal(port.cancelIo(server, b), 1);
      const cancelled = await port.getQueuedCompletionStatus();
      assert.deepEqual([cancelled.ok, cancelled.overlapped, cancelled.errorCode], [false, b, WSA_OPERATION_ABORTED]);
      const closing = server.close();
      const aborted = await port.getQueuedCompletionStatus();
      assert.deepEqual([aborted.ok, aborted.overlapped, aborted.errorCode], [false, a, WSA_OPERATION_ABORTED]);
      port.postAccept(listener, { op: "accept" });
      await listener.close();
      const acceptAborted = await port.getQueuedCompletionStatus();
      assert.equal(acceptAborted.errorCode, WSA_OPERATION_ABORTED);
      await Promise.all([closing, client.close()]);
      assert.throws(() => port.postRecv(server, new Uint8Array(1), {}), /closed/);
      port.close();
    });

    test("a refused ConnectEx fails with 10061, and an unassociated handle is a misuse", async () => {
      const transport = await make();
      const port = new CompletionPort();
      const listener = await OverlappedListener.listen({ transport, port: 0 });
      assert.throws(() => port.postAccept(listener, {}), /associate the handle/);
      const p = listener.addr.port;
      await listener.close();
      port.postConnect({ hostname: "127.0.0.1", port: p, transport }, { op: "connect" }, "c");
      const s = await port.getQueuedCompletionStatus();
      assert.deepEqual([s.ok, s.errorCode, s.error?.code], [false, 10061, "ECONNREFUSED"]);
      port.close();
    });

    test("a reset peer fails the pending receive with 10054 where an RST can be sent", async () => {
      const transport = await make();
      const port = new CompletionPort();
      const { listener, server, client } = await connectedPair(port, transport);
      port.postRecv(server, new Uint8Array(10), { op: "recv" });
      client.reset();
      const s = await within(port.getQueuedCompletionStatus(), 5000, "completion");
      if (transport.capabilities.reset) assert.deepEqual([s.ok, s.errorCode], [false, 10054]);
      else assert.deepEqual([s.ok, s.bytesTransferred], [true, 0]);
      await server.close();
      await listener.close();
      port.close();
    });

    test("WSARecvFrom and WSASendTo keep datagram boundaries", async () => {
      const transport = await make();
      const port = new CompletionPort();
      const a = await OverlappedDatagram.create({ transport, port: 0 });
      const b = await OverlappedDatagram.create({ transport, port: 0 });
      port.associate(a, "a");
      port.associate(b, "b");
      const buf = new Uint8Array(100);
      port.postRecvFrom(a, buf, { op: "recvfrom" });
      port.postSendTo(b, new Uint8Array([7, 7, 7]), { hostname: "127.0.0.1", port: a.addr.port }, { op: "sendto" });
      const got = new Map<unknown, Awaited<ReturnType<typeof port.getQueuedCompletionStatus>>>();
      for (let i = 0; i < 2; i++) {
        const s = await within(port.getQueuedCompletionStatus(), 3000, "datagram");
        got.set(s.key, s);
      }
      assert.equal(got.get("b")!.bytesTransferred, 3);
      assert.equal(got.get("a")!.bytesTransferred, 3);
      assert.equal(got.get("a")!.from?.port, b.addr.port);
      assert.deepEqual(Array.from(buf.subarray(0, 3)), [7, 7, 7]);
      await a.close();
      await b.close();
      port.close();
    });
  });
}
