import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ListenerCore, SocketCore, waitThenTake, waitUntil } from "../../src/core/socket_core.ts";
import { NetError } from "../../src/runtime/errors.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

/** A listener core and a connected pair of cores on a fresh memory transport. */
async function pair(options: { receiveBufferSize?: number; sendBufferSize?: number } = {}) {
  const transport = createMemoryTransport();
  const listener = await ListenerCore.listen(transport, { hostname: "127.0.0.1", port: 0, ...options });
  const client = SocketCore.connect(transport, "127.0.0.1", listener.addr.port, options);
  await client.connected();
  await waitUntil(listener, () => listener.pending > 0, { timeoutMs: 5000 }, "accept");
  const server = listener.accept()!;
  return { listener, client, server };
}

describe("SocketCore", () => {
  test("a connect becomes writable; bytes arrive in order through partial reads; FIN is hup", async () => {
    const { listener, client, server } = await pair();
    assert.equal(client.connecting, false);
    assert.deepEqual(client.readiness(), { readable: false, writable: true, error: false, hup: false });
    assert.equal(listener.accept(), undefined, "one connection was pending");
    assert.equal(client.write(bytes(300)), true);
    await waitUntil(server, () => server.available === 300, { timeoutMs: 5000 }, "recv");
    assert.equal(server.readiness().readable, true);
    const got: number[] = [];
    const target = new Uint8Array(128);
    for (let n = server.read(target); n > 0; n = server.read(target)) got.push(...target.subarray(0, n));
    assert.deepEqual(got, [...bytes(300)]);
    assert.equal(server.readiness().readable, false);
    client.shutdown();
    await waitUntil(server, () => server.eof, { timeoutMs: 5000 }, "recv");
    assert.equal(server.readiness().readable, true, "a FIN is readable: recv returns 0");
    assert.equal(server.read(target), 0);
    await Promise.all([client.close(), server.close(), listener.close()]);
  });

  test("a full receive buffer holds reading until the application reads", async () => {
    const { listener, client, server } = await pair({ receiveBufferSize: 1024 });
    // One write per turn of the event loop: the adapter joins the writes of one turn.
    for (let i = 0; i < 10; i++) {
      client.write(bytes(1000, i * 1000));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(server.available < 10_000, `held ${server.available} bytes with a 1 KiB buffer`);
    const got: number[] = [];
    while (got.length < 10_000) {
      await waitUntil(server, () => server.available > 0, { timeoutMs: 5000 }, "recv");
      const chunk = server.readChunk(700)!;
      assert.ok(chunk.byteLength <= 700);
      got.push(...chunk);
    }
    assert.deepEqual(got, [...bytes(10_000)]);
    await Promise.all([client.close(), server.close(), listener.close()]);
  });

  test("a reset reaches the peer as an error", async () => {
    const { listener, client, server } = await pair();
    client.reset();
    await waitUntil(server, () => server.readiness().error || server.readiness().hup, { timeoutMs: 5000 });
    assert.equal(server.error?.code, "ECONNRESET");
    assert.equal(server.readiness().readable, true, "select reports the reset as readable");
    await server.close();
    await listener.close();
  });

  test("a refused connect sets a NetError", async () => {
    const transport = createMemoryTransport();
    const core = SocketCore.connect(transport, "127.0.0.1", 1);
    await assert.rejects(core.connected(), (e: NetError) => e instanceof NetError && e.code === "ECONNREFUSED");
    assert.equal(core.error?.code, "ECONNREFUSED");
    assert.equal(core.readiness().error, true);
  });

  test("buffer sizes must be positive integers", () => {
    assert.throws(() => new SocketCore(undefined, { receiveBufferSize: 0 }), /Receive buffer size .* got 0/);
    assert.throws(() => new SocketCore(undefined, { sendBufferSize: 1.5 }), /Send buffer size .* got 1\.5/);
  });

  test("each core keeps its own buffer sizes, whatever the cores made before it had", () => {
    const a = new SocketCore(undefined, { receiveBufferSize: 1000, sendBufferSize: 2000 });
    const b = new SocketCore(undefined, { receiveBufferSize: 1000, sendBufferSize: 3000 });
    const c = new SocketCore();
    assert.deepEqual([a.receiveBufferSize, a.sendBufferSize], [1000, 2000]);
    assert.deepEqual([b.receiveBufferSize, b.sendBufferSize], [1000, 3000]);
    assert.deepEqual([c.receiveBufferSize, c.sendBufferSize], [64 * 1024, 64 * 1024]);
  });

  test("watchers: functions and objects, each once, in order; a change during a notification waits", async () => {
    const { listener, client, server } = await pair();
    const calls: string[] = [];
    const first = () => calls.push("first");
    const object = { readinessChanged: () => calls.push("object") };
    const late = () => calls.push("late");
    const dropper = () => {
      calls.push("dropper");
      // Taken out while a notification is under way: it is still called in this one.
      server.unwatch(object);
      server.addWatcher(late);
    };
    server.addWatcher(first);
    server.addWatcher(first); // the same watcher twice is subscribed once
    server.addWatcher(dropper);
    server.addWatcher(object);
    client.write(bytes(10));
    await waitUntil(server, () => server.available === 10, { timeoutMs: 5000 }, "recv");
    // One write is one notification on the memory transport; `late` came in during it.
    assert.deepEqual(calls, ["first", "dropper", "object"]);
    calls.length = 0;
    client.write(bytes(10));
    await waitUntil(server, () => server.available === 20, { timeoutMs: 5000 }, "recv");
    assert.ok(calls.includes("late") && !calls.includes("object"), `second pass: ${calls.join(", ")}`);
    server.unwatch(first);
    server.unwatch(dropper);
    server.unwatch(late);
    calls.length = 0;
    client.write(bytes(10));
    await waitUntil(server, () => server.available === 30, { timeoutMs: 5000 }, "recv");
    assert.deepEqual(calls, [], "nobody is left watching");
    await Promise.all([client.close(), server.close(), listener.close()]);
  });
});

describe("waitUntil", () => {
  test("resolves once the condition holds after a change", async () => {
    const { listener, client, server } = await pair();
    const waiting = waitUntil(server, () => server.available > 0, { timeoutMs: 5000 });
    client.write(bytes(1));
    await waiting;
    await Promise.all([client.close(), server.close(), listener.close()]);
  });

  test("times out with ETIMEDOUT and is cancelled with ECANCELED, naming the operation", async () => {
    const { listener, client, server } = await pair();
    await assert.rejects(
      waitUntil(server, () => false, { timeoutMs: 20 }, "recv"),
      (e: NetError) => e.code === "ETIMEDOUT" && /The recv timed out after 20 ms/.test(e.message),
    );
    const controller = new AbortController();
    const waiting = waitUntil(server, () => false, { signal: controller.signal }, "accept");
    controller.abort();
    await assert.rejects(
      waiting,
      (e: NetError) => e.code === "ECANCELED" && /The accept was cancelled/.test(e.message),
    );
    await assert.rejects(
      waitUntil(server, () => false, { signal: controller.signal }),
      (e: NetError) => e.code === "ECANCELED",
    );
    await Promise.all([client.close(), server.close(), listener.close()]);
  });
});

describe("waitThenTake", () => {
  const readable = (core: SocketCore) => core.available > 0;
  const take = (core: SocketCore, max: number) => core.readChunk(max);

  test("resolves with what take returns, given the wait's argument, once the condition holds", async () => {
    const { listener, client, server } = await pair();
    const waiting = waitThenTake(server, readable, take, 3, { timeoutMs: 5000 }, "recv");
    client.write(bytes(10));
    assert.deepEqual(await waiting, bytes(3));
    // Ready at once: taken without waiting.
    assert.deepEqual(await waitThenTake(server, readable, take, 100), bytes(7, 3));
    await Promise.all([client.close(), server.close(), listener.close()]);
  });

  test("rejects with what take throws, at once or after the wait", async () => {
    const { listener, client, server } = await pair();
    const failing = () => {
      throw new RangeError("Cannot take 0 bytes");
    };
    const waiting = waitThenTake(server, readable, failing, 0, { timeoutMs: 5000 });
    client.write(bytes(1));
    await assert.rejects(waiting, /Cannot take 0 bytes/);
    await assert.rejects(waitThenTake(server, readable, failing, 0), /Cannot take 0 bytes/);
    await assert.rejects(
      waitThenTake(server, () => false, take, 1, { timeoutMs: 20 }, "recv"),
      (e: NetError) => e.code === "ETIMEDOUT" && /The recv timed out after 20 ms/.test(e.message),
    );
    await Promise.all([client.close(), server.close(), listener.close()]);
  });
});
