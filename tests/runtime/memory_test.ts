import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { createMemoryTransport, type MemoryStream } from "../../src/runtime/memory.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { concat, observe, randomBytes, sleep, within } from "../helpers/net.ts";

async function pair(
  faults: Parameters<typeof createMemoryTransport>[0] = {},
  serverOptions: { allowHalfOpen?: boolean; highWaterMark?: number } = {},
  clientOptions: { allowHalfOpen?: boolean; highWaterMark?: number } = {},
) {
  const memory = createMemoryTransport(faults);
  let server!: Stream;
  const listener = await memory.listen({ port: 0, ...serverOptions, onAccept: (s) => (server = s) });
  const client =
    (await memory.connect({ hostname: "127.0.0.1", port: listener.addr.port, ...clientOptions })) as MemoryStream;
  while (!server) await sleep(1);
  return { memory, listener, client, server: server as MemoryStream };
}

describe("memory transport fault injection", () => {
  test("chunkSize 1 delivers byte by byte, intact", async () => {
    const { client, server } = await pair({ chunkSize: 1 });
    const side = observe(server);
    const payload = randomBytes(2000);
    client.write(payload);
    client.end();
    await within(side.ended, 5000, "end");
    assert.equal(side.chunks.length, 2000);
    assert.ok(side.chunks.every((c) => c.byteLength === 1));
    assert.deepEqual(concat(side.chunks), payload);
  });

  test("small writes in one tick leave as one write", async () => {
    const { client, server } = await pair();
    const side = observe(server);
    for (let i = 0; i < 100; i++) client.write(new Uint8Array(10).fill(i));
    await within(client.flush(), 5000, "flush");
    while (side.bytes < 1000) await sleep(2);
    assert.equal(side.chunks.length, 1, "the memory transport delivers each OS write as one chunk");
    assert.equal(side.chunks[0][999], 99);
    await client.close();
  });

  test("a sender may reuse its buffer once flush resolves", async () => {
    const { client, server } = await pair({ latencyMs: 5 });
    const side = observe(server);
    const buffer = new Uint8Array([1, 2, 3]);
    client.write(buffer);
    await client.flush();
    buffer.fill(9);
    while (side.bytes < 3) await sleep(2);
    assert.deepEqual(Array.from(concat(side.chunks)), [1, 2, 3]);
    await client.close();
  });

  test("latency delays every delivery", async () => {
    const { client, server } = await pair({ latencyMs: 40 });
    server.setHandlers({ onData: (c) => server.write(c) });
    const side = observe(client);
    const started = Date.now();
    client.write(new Uint8Array([1, 2, 3]));
    while (side.bytes < 3) await sleep(2);
    const rtt = Date.now() - started;
    assert.ok(rtt >= 75, `round trip took ${rtt} ms, expected at least 80`);
    await client.close();
  });

  test("a full receive window makes write return false, and drain fires once the peer reads", async () => {
    const { client, server } = await pair({ receiveWindow: 4096 }, {}, { highWaterMark: 1024 });
    server.pause();
    const serverSide = observe(server);
    const clientSide = observe(client);
    const results: boolean[] = [];
    for (let i = 0; i < 10; i++) results.push(client.write(new Uint8Array(1000).fill(i)));
    assert.equal(results[0], true);
    assert.equal(results.at(-1), false);
    await sleep(30);
    assert.equal(client.bufferedAmount, 10_000 - 4096, "the window holds 4096 bytes, the rest stays queued");
    assert.equal(clientSide.drainCount, 0);
    server.resume();
    await within(client.flush(), 5000, "flush");
    assert.equal(clientSide.drainCount, 1);
    client.end();
    await within(serverSide.ended, 5000, "end");
    assert.equal(serverSide.bytes, 10_000);
    const all = concat(serverSide.chunks);
    for (let i = 0; i < 10; i++) assert.equal(all[i * 1000 + 999], i);
  });

  test("injectReset closes both ends with ECONNRESET and reports unsent bytes", async () => {
    const { client, server } = await pair({ receiveWindow: 1024 });
    server.pause();
    const serverSide = observe(server);
    const clientSide = observe(client);
    client.write(new Uint8Array(5000));
    await sleep(10);
    client.injectReset();
    const [c, s] = await within(Promise.all([clientSide.closed, serverSide.closed]), 5000, "close");
    assert.equal(c?.code, "ECONNRESET");
    assert.equal(s?.code, "ECONNRESET");
    assert.equal(c?.unsentBytes, 5000 - 1024);
    assert.equal(clientSide.closeCount, 1);
    assert.equal(serverSide.closeCount, 1);
  });

  test("injectHalfClose ends the peer's sending side; this end can still send", async () => {
    const { client, server } = await pair({}, { allowHalfOpen: true }, { allowHalfOpen: true });
    const serverSide = observe(server);
    const clientSide = observe(client);
    client.write(new TextEncoder().encode("before"));
    server.injectHalfClose(); // the client half-closes
    await within(serverSide.ended, 5000, "server sees FIN");
    assert.equal(new TextDecoder().decode(concat(serverSide.chunks)), "before");
    assert.throws(() => client.write(new Uint8Array(1)), (e: unknown) => e instanceof NetError && e.code === "EPIPE");
    server.write(new TextEncoder().encode("still open"));
    server.end();
    await within(clientSide.closed, 5000, "client close");
    assert.equal(new TextDecoder().decode(concat(clientSide.chunks)), "still open");
  });

  test("a listener that never accepts: connects time out, and are refused once it closes", async () => {
    const memory = createMemoryTransport();
    const listener = await memory.listen({ port: 0, neverAccept: true, onAccept: () => assert.fail("accepted") });
    await assert.rejects(
      memory.connect({ hostname: "127.0.0.1", port: listener.addr.port, timeoutMs: 50 }),
      (e: unknown) => e instanceof NetError && e.code === "ETIMEDOUT",
    );
    const pending = memory.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    await sleep(10);
    await listener.close();
    await assert.rejects(pending, (e: unknown) => e instanceof NetError && e.code === "ECONNREFUSED");
  });

  test("closing with unread data resets the peer, as TCP does", async () => {
    const { client, server } = await pair();
    server.pause();
    observe(server);
    const clientSide = observe(client);
    server.write(new Uint8Array(10));
    client.write(new Uint8Array(100)); // the server never reads this
    await sleep(20);
    server.reset();
    assert.equal((await within(clientSide.closed, 5000, "close"))?.code, "ECONNRESET");
  });

  test("onClose fires exactly once whatever is called after it", async () => {
    const { client, server } = await pair();
    const side = observe(client);
    observe(server);
    client.reset();
    client.reset();
    await client.close();
    client.end();
    client.pause();
    client.resume();
    await sleep(20);
    assert.equal(side.closeCount, 1);
    assert.equal(client.closed, true);
    assert.throws(() => client.write(new Uint8Array(1)), /closed/);
    await assert.rejects(client.flush(), (e: unknown) => e instanceof NetError);
  });

  test("bad fault settings get clear errors", async () => {
    const memory = createMemoryTransport({ chunkSize: 0 });
    const listener = await memory.listen({ port: 0, onAccept() {} });
    await assert.rejects(
      memory.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      /Chunk size must be at least 1 byte, got 0/,
    );
    await assert.rejects(
      createMemoryTransport().listen({ port: 0, onAccept() {}, highWaterMark: -1 }),
      (e: unknown) => e instanceof RangeError && /High water mark .* got -1/.test(e.message),
    );
  });
});
