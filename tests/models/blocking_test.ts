import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { acceptEach, connect, listen, serveBlocking } from "../../src/models/blocking.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Transport } from "../../src/runtime/types.ts";
import { sleep, within } from "../helpers/net.ts";

const isCode = (code: string) => (e: unknown) => e instanceof NetError && e.code === code;

for (
  const [name, make] of [
    ["native", () => defaultTransport()],
    ["memory", () => Promise.resolve(createMemoryTransport())],
  ] as [string, () => Promise<Transport>][]
) {
  describe(`blocking model over the ${name} transport`, () => {
    test("recv waits for data, returns partial counts, and 0 at EOF", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      const client = await connect("127.0.0.1", listener.addr.port, { transport });
      const server = await listener.accept();
      const buf = new Uint8Array(4);
      const pending = server.recv(buf);
      await sleep(20);
      await client.send(new Uint8Array([1, 2, 3, 4, 5, 6]));
      assert.equal(await pending, 4);
      assert.deepEqual(Array.from(buf), [1, 2, 3, 4]);
      assert.equal(await server.recv(buf), 2);
      client.shutdown();
      assert.equal(await server.recv(buf), 0);
      assert.equal(await server.recv(buf), 0);
      await Promise.all([client.close(), server.close()]);
      await listener.close();
    });

    test("recvChunk waits, hands over at most maxBytes in order, and an empty array at EOF", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      const client = await connect("127.0.0.1", listener.addr.port, { transport });
      const server = await listener.accept();
      const pending = server.recvChunk(4);
      await sleep(20);
      const sent = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
      await client.send(sent);
      const received: number[] = [];
      for (let chunk = await pending;; chunk = await server.recvChunk(4)) {
        assert.ok(chunk.byteLength >= 1 && chunk.byteLength <= 4, `got ${chunk.byteLength} bytes`);
        received.push(...chunk);
        if (received.length === sent.length) break;
      }
      assert.deepEqual(received, Array.from(sent));
      client.shutdown();
      assert.equal((await server.recvChunk()).byteLength, 0);
      assert.equal((await server.recvChunk()).byteLength, 0);
      await assert.rejects(server.recvChunk(0), /maxBytes must be a positive integer, got 0/);
      await assert.rejects(server.recvChunk(1.5), RangeError);
      await Promise.all([client.close(), server.close()]);
      await assert.rejects(server.recvChunk(), isCode("ENOTCONN"));
      await listener.close();
    });

    test("recvExact names how many bytes arrived before the peer closed", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      const client = await connect("127.0.0.1", listener.addr.port, { transport });
      const server = await listener.accept();
      await client.send(new Uint8Array(3));
      client.shutdown();
      await assert.rejects(
        server.recvExact(8),
        (e: unknown) => isCode("ECONNABORTED")(e) && /after 3 of 8 bytes/.test((e as Error).message),
      );
      await assert.rejects(server.recvExact(-1), RangeError);
      await Promise.all([client.close(), server.close()]);
      await listener.close();
    });

    test("recv honours timeoutMs and signal", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      const client = await connect("127.0.0.1", listener.addr.port, { transport });
      const server = await listener.accept();
      await assert.rejects(server.recv(new Uint8Array(1), { timeoutMs: 30 }), isCode("ETIMEDOUT"));
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 20);
      await assert.rejects(server.recv(new Uint8Array(1), { signal: ac.signal }), isCode("ECANCELED"));
      await Promise.all([client.close(), server.close()]);
      await listener.close();
    });

    test("send waits while the peer does not read, and finishes once it does", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0, receiveBufferSize: 4096 });
      const client = await connect("127.0.0.1", listener.addr.port, { transport, sendBufferSize: 4096 });
      const server = await listener.accept();
      let done = false;
      const big = new Uint8Array(8 << 20).fill(7);
      const sending = client.send(big).then((n) => {
        done = true;
        return n;
      });
      await sleep(200);
      assert.equal(done, false, "send must wait while the peer's buffers are full");
      const buf = new Uint8Array(65536);
      let total = 0;
      while (total < big.byteLength) total += await server.recv(buf);
      assert.equal(await within(sending, 10_000, "send"), big.byteLength);
      await Promise.all([client.close(), server.close()]);
      await listener.close();
    });

    test("accept on a closed listener, and connect errors", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      const port = listener.addr.port;
      const pending = assert.rejects(listener.accept(), isCode("ENOTCONN"));
      await listener.close();
      await pending;
      await assert.rejects(connect("127.0.0.1", port, { transport }), isCode("ECONNREFUSED"));
    });

    test("serveBlocking runs one task per client, concurrently", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      let concurrent = 0;
      let peak = 0;
      const ac = new AbortController();
      const serving = serveBlocking(listener, async (sock) => {
        concurrent++;
        peak = Math.max(peak, concurrent);
        const buf = new Uint8Array(16);
        const n = await sock.recv(buf);
        await sleep(50);
        await sock.send(buf.subarray(0, n));
        concurrent--;
      }, { signal: ac.signal });
      const replies = await Promise.all(Array.from({ length: 5 }, async (_, i) => {
        const c = await connect("127.0.0.1", listener.addr.port, { transport });
        await c.send(new Uint8Array([i]));
        const r = await c.recvExact(1);
        assert.equal(await c.recv(new Uint8Array(1)), 0, "the server closes after the handler");
        await c.close();
        return r[0];
      }));
      assert.deepEqual(replies, [0, 1, 2, 3, 4]);
      assert.equal(peak, 5, "all five handlers ran at once");
      ac.abort();
      await within(serving, 5000, "serveBlocking to stop");
    });

    test("acceptEach starts a task per client, and ends once the listener closed and every task ended", async () => {
      const transport = await make();
      const listener = await listen({ transport, port: 0 });
      const endTasks: (() => void)[] = [];
      let accepted = 0;
      const serving = acceptEach(listener, (sock, ended) => {
        accepted++;
        endTasks.push(() => void sock.close().then(ended));
      });
      const clients = await Promise.all(
        Array.from({ length: 3 }, () => connect("127.0.0.1", listener.addr.port, { transport })),
      );
      await within(
        (async () => {
          while (accepted < 3) await sleep(5);
        })(),
        5000,
        "three accepts",
      );
      await listener.close();
      let done = false;
      void serving.then(() => (done = true));
      await sleep(30);
      assert.equal(done, false, "the tasks still run");
      for (const end of endTasks) end();
      await within(serving, 5000, "acceptEach to end");
      for (const c of clients) await c.close();
    });
  });
}
