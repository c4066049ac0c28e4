import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { NonBlockingListener, NonBlockingSocket, WOULD_BLOCK } from "../../src/models/nonblocking.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Transport } from "../../src/runtime/types.ts";
import { sleep } from "../helpers/net.ts";

async function until<T>(fn: () => T | typeof WOULD_BLOCK, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v !== WOULD_BLOCK) return v as T;
    await sleep(2);
  }
  throw new Error("still WOULD_BLOCK");
}

for (
  const [name, make] of [
    ["native", () => defaultTransport()],
    ["memory", () => Promise.resolve(createMemoryTransport({ receiveWindow: 8192 }))],
  ] as [string, () => Promise<Transport>][]
) {
  describe(`non-blocking model over the ${name} transport`, () => {
    test("tryAccept, tryRecv and trySend return WOULD_BLOCK instead of waiting", async () => {
      const transport = await make();
      const listener = await NonBlockingListener.listen({ transport, port: 0 });
      assert.equal(listener.tryAccept(), WOULD_BLOCK);
      const client = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, { transport });
      assert.equal(client.trySend(new Uint8Array(1)) === WOULD_BLOCK || client.connected, true);
      const server = await until(() => listener.tryAccept());
      await until(() => (client.connected ? true : WOULD_BLOCK));
      const buf = new Uint8Array(10);
      assert.equal(server.tryRecv(buf), WOULD_BLOCK);
      assert.equal(client.trySend(new Uint8Array([9, 8, 7])), 3);
      assert.equal(await until(() => server.tryRecv(buf)), 3);
      assert.deepEqual(Array.from(buf.subarray(0, 3)), [9, 8, 7]);
      client.shutdown();
      assert.equal(await until(() => server.tryRecv(buf)), 0);
      assert.throws(
        () => client.trySend(new Uint8Array(1)),
        (e: unknown) => e instanceof NetError && e.code === "EPIPE",
      );
      await Promise.all([client.close(), server.close()]);
      await listener.close();
      assert.throws(() => listener.tryAccept(), (e: unknown) => e instanceof NetError && e.code === "ENOTCONN");
    });

    test("sends are partial once the send buffer fills", async () => {
      const transport = await make();
      const listener = await NonBlockingListener.listen({ transport, port: 0, receiveBufferSize: 4096 });
      const client = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, {
        transport,
        sendBufferSize: 4096,
      });
      const server = await until(() => listener.tryAccept());
      await until(() => (client.connected ? true : WOULD_BLOCK));
      const chunk = new Uint8Array(3000);
      const counts: (number | typeof WOULD_BLOCK)[] = [];
      let sent = 0;
      for (let i = 0; i < 4000 && counts.at(-1) !== WOULD_BLOCK; i++) {
        const n = client.trySend(chunk);
        counts.push(n);
        if (n !== WOULD_BLOCK) sent += n;
        if (i % 8 === 0) await sleep(1);
      }
      assert.equal(counts.at(-1), WOULD_BLOCK, "the buffer fills while the peer does not read");
      assert.ok(
        counts.some((n) => n !== WOULD_BLOCK && n < 3000),
        `a partial send happened: ${counts.slice(-4).map(String)}`,
      );
      const buf = new Uint8Array(65536);
      let got = 0;
      while (got < sent) {
        const n = server.tryRecv(buf);
        if (n === WOULD_BLOCK) await sleep(1);
        else got += n;
      }
      assert.equal(got, sent);
      assert.notEqual(await until(() => client.trySend(chunk)), WOULD_BLOCK);
      client.reset();
      await server.close();
      await listener.close();
    });

    test("a refused connect surfaces as the socket's error", async () => {
      const transport = await make();
      const listener = await NonBlockingListener.listen({ transport, port: 0 });
      const port = listener.addr.port;
      await listener.close();
      const sock = await NonBlockingSocket.connect("127.0.0.1", port, { transport });
      while (!sock.core.error) await sleep(2);
      assert.equal(sock.core.error.code, "ECONNREFUSED");
      assert.throws(
        () => sock.tryRecv(new Uint8Array(1)),
        (e: unknown) => e instanceof NetError && e.code === "ECONNREFUSED",
      );
      await sock.close();
    });
  });
}
