/**
 * The transport conformance suite: every transport available on this runtime (its native one,
 * node:net and memory) must pass every test here, and every one with TLS passes them all again
 * over TLS. The memory transport has no TLS; its TLS entry proves that it refuses it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { availableTransports, detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import type { Listener, Stream, Transport } from "../../src/runtime/types.ts";
import { MemoryTransport } from "../../src/runtime/memory.ts";
import { concat, expectNetError, observe, randomBytes, sha256, sleep, within, writeInPieces } from "../helpers/net.ts";
import { startStalledListener } from "../helpers/stalled_listener.ts";
import { withTls } from "../helpers/tls.ts";
import { lending } from "../helpers/lending.ts";

const HOST = "127.0.0.1";

async function listenAccepting(
  transport: Transport,
  onAccept: (s: Stream) => void,
  hostname = HOST,
): Promise<Listener> {
  return await transport.listen({ hostname, port: 0, onAccept });
}

const loaded = new Map<string, Transport>();
for (const name of availableTransports()) {
  loaded.set(name, name === "memory" ? new MemoryTransport() : await loadTransport(name));
}
// Every transport runs the suite twice: its consumers own their chunks, or take loaned chunks
// and copy them (tests/helpers/lending.ts).
const variants = [...loaded.keys()].flatMap((name) =>
  [false, true].flatMap((loaned) => [{ name, tls: false, loaned }, { name, tls: true, loaned }])
);

for (const { name, tls, loaned } of variants) {
  if (tls && !loaded.get(name)!.capabilities.tls) {
    if (loaned) continue;
    describe(`${name} transport over TLS on ${detectRuntime()}`, () => {
      test("has no TLS here: says so in its capabilities and refuses tls with ENOTSUP", async () => {
        const tlsTransport = withTls(loaded.get(name)!);
        await expectNetError(tlsTransport.listen({ port: 0, onAccept() {} }), "ENOTSUP");
        await expectNetError(tlsTransport.connect({ hostname: HOST, port: 1 }), "ENOTSUP");
      });
    });
    continue;
  }
  describe(`${name} transport${tls ? " over TLS" : ""}${loaned ? ", chunks loaned" : ""} on ${detectRuntime()}`, () => {
    let transport: Transport;
    before(() => {
      const plain = loaded.get(name)!;
      const secured = tls ? withTls(plain) : plain;
      transport = loaned ? lending(secured) : secured;
    });

    for (const size of [0, 1, 1000, 65_543, 1 << 20, 8 << 20]) {
      test(`byte integrity both ways with ${size} bytes`, async () => {
        const up = randomBytes(size);
        const down = randomBytes(size);
        let serverSide!: ReturnType<typeof observe>;
        let onAccepted!: () => void;
        const accepted = new Promise<void>((resolve) => (onAccepted = resolve));
        const listener = await listenAccepting(transport, (s) => {
          serverSide = observe(s);
          writeInPieces(s, down, 49_999);
          s.end();
          onAccepted();
        });
        const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
        const clientSide = observe(client);
        writeInPieces(client, up, 30_001);
        client.end();
        await within(accepted, 5000, "accept");
        const [clientErr, serverErr] = await within(
          Promise.all([clientSide.closed, serverSide.closed]),
          30_000,
          "both ends to close",
        );
        await listener.close();
        assert.equal(clientErr, undefined);
        assert.equal(serverErr, undefined);
        assert.equal(serverSide.bytes, size);
        assert.equal(clientSide.bytes, size);
        assert.equal(await sha256(serverSide.chunks), await sha256(up));
        assert.equal(await sha256(clientSide.chunks), await sha256(down));
        assert.equal(clientSide.closeCount, 1);
        assert.equal(serverSide.closeCount, 1);
        assert.equal(clientSide.endCount, 1);
        assert.equal(serverSide.endCount, 1);
      });
    }

    test("backpressure: write returns false, nothing is lost, drain fires after the peer reads", async () => {
      const total = 24 << 20;
      const payload = randomBytes(total);
      let server!: Stream;
      let serverSide!: ReturnType<typeof observe>;
      let dataWhilePaused = 0;
      let paused = true;
      const listener = await listenAccepting(transport, (s) => {
        server = s;
        s.pause();
        serverSide = observe(s, { onData: () => paused && dataWhilePaused++ });
      });
      const client = await transport.connect({
        hostname: HOST,
        port: listener.addr.port,
        highWaterMark: 256 * 1024,
      });
      const clientSide = observe(client);
      let firstFalseAt = -1;
      for (let i = 0; i < total; i += 64 * 1024) {
        const ok = client.write(payload.subarray(i, i + 64 * 1024));
        if (!ok && firstFalseAt < 0) firstFalseAt = i + 64 * 1024;
      }
      assert.ok(firstFalseAt > 256 * 1024 && firstFalseAt <= 256 * 1024 + 64 * 1024, `false at ${firstFalseAt}`);
      while (!server) await sleep(5);
      await sleep(300);
      // The peer does not read, so the kernel buffers fill and bytes stay queued here.
      assert.ok(client.bufferedAmount > 0, "bytes should stay queued while the peer is paused");
      assert.equal(clientSide.drainCount, 0);
      assert.equal(dataWhilePaused, 0, "onData must not fire while paused");
      paused = false;
      server.resume();
      await within(client.flush(), 20_000, "flush");
      assert.ok(clientSide.drainCount >= 1, "onDrain fires once the peer reads");
      client.end();
      await within(serverSide.ended, 20_000, "server end");
      assert.equal(serverSide.bytes, total);
      assert.equal(await sha256(serverSide.chunks), await sha256(payload));
      await within(clientSide.closed, 10_000, "client close");
      await listener.close();
    });

    // Moving `chunk.buffer` is tested only on Deno's transport, where a chunk's buffer holds no
    // other bytes. node:net and Bun hand out views of shared buffers, whose move detaches other
    // bytes too (`ownBytes` is the safe way to move a chunk).
    const receivers = name === "deno" ? ["keeps", "moves the buffer of"] : ["keeps"];
    for (const receiver of receivers) {
      test(`a receiver that ${receiver} every chunk gets every byte, and no chunk changes later`, async () => {
        const pieces = Array.from({ length: 120 }, (_, i) => randomBytes(1 + ((i * 7919) % 3000)));
        const listener = await listenAccepting(transport, async (s) => {
          // Batches a few milliseconds apart, so that reads come in many sizes.
          for (let i = 0; i < pieces.length; i += 4) {
            for (const piece of pieces.slice(i, i + 4)) s.write(piece);
            await sleep(2);
          }
          s.end();
        });
        const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
        const copies: Uint8Array[] = [];
        const kept: Uint8Array[] = [];
        const side = observe(client, {
          onData(chunk) {
            copies.push(chunk.slice());
            if (receiver === "keeps") kept.push(chunk);
            else structuredClone(chunk.buffer, { transfer: [chunk.buffer as ArrayBuffer] });
          },
        });
        await within(side.ended, 15_000, "the server's end");
        client.end();
        assert.equal(await within(side.closed, 5_000, "close"), undefined);
        await listener.close();
        assert.equal(await sha256(copies), await sha256(pieces));
        kept.forEach((chunk, i) => assert.deepEqual(chunk, copies[i], `chunk ${i} changed after delivery`));
      });
    }

    test("a buffer written and flushed (bufferedAmount 0) may be filled again", async () => {
      const sizes = [1000, 65_536, 300_000, 7, 4096];
      const blocks = Array.from({ length: 60 }, (_, i) => sizes[i % sizes.length]);
      let serverSide!: ReturnType<typeof observe>;
      const listener = await listenAccepting(transport, (s) => (serverSide = observe(s)));
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
      const reused = new Uint8Array(Math.max(...sizes));
      for (const [i, size] of blocks.entries()) {
        const block = reused.subarray(0, size);
        block.fill(i + 1);
        client.write(block);
        await client.flush();
        assert.equal(client.bufferedAmount, 0);
      }
      client.end();
      while (!serverSide) await sleep(5);
      await within(serverSide.ended, 15_000, "the client's end");
      await listener.close();
      const received = concat(serverSide.chunks);
      assert.equal(received.byteLength, blocks.reduce((a, b) => a + b, 0));
      let at = 0;
      for (const [i, size] of blocks.entries()) {
        const wrong = received.subarray(at, at + size).findIndex((b) => b !== i + 1);
        assert.equal(wrong, -1, `block ${i} (${size} bytes) changed at byte ${wrong}`);
        at += size;
      }
    });

    test("writes of 300 to 1,024 bytes, each sent alone, are not split across reads", async () => {
      const sizes = [300, 1000, 500, 1024];
      const count = 80;
      const received: number[] = [];
      let serverSide!: ReturnType<typeof observe>;
      const listener = await listenAccepting(transport, (s) => {
        serverSide = observe(s, { onData: (chunk) => received.push(chunk.byteLength) });
      });
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
      client.setNoDelay(true);
      for (let i = 0; i < count; i++) {
        client.write(new Uint8Array(sizes[i % sizes.length]).fill(i));
        await client.flush();
        await sleep(3);
      }
      client.end();
      while (!serverSide) await sleep(5);
      await within(serverSide.ended, 10_000, "the client's end");
      await listener.close();
      // A read may hold several writes when the sender runs late, but a read that ends inside
      // a write means the reader's buffer was too small for it.
      const boundaries = new Set<number>();
      let at = 0;
      for (let i = 0; i < count; i++) boundaries.add(at += sizes[i % sizes.length]);
      let end = 0;
      const splits = received.slice(0, -1).filter((n) => !boundaries.has(end += n)).length;
      assert.equal(end + received[received.length - 1], at);
      assert.ok(splits <= 3, `${splits} of ${received.length} reads ended inside a write`);
    });

    test("pause holds data and resume delivers it in order", async () => {
      const listener = await listenAccepting(transport, (s) => {
        s.setHandlers({ onData: (c) => s.write(c), onEnd: () => s.end() });
      });
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
      const seen: number[] = [];
      const side = observe(client, { onData: (c) => seen.push(...c) });
      client.pause();
      for (let i = 0; i < 50; i++) client.write(new Uint8Array([i]));
      await sleep(200);
      assert.equal(side.bytes, 0);
      client.resume();
      client.end();
      await within(side.closed, 10_000, "close");
      assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i));
      await listener.close();
    });

    test("half-close: the client ends first and still receives the reply", async () => {
      const listener = await listenAccepting(transport, (s) => {
        const got: Uint8Array[] = [];
        s.setHandlers({
          onData: (c) => got.push(c),
          onEnd: () => {
            s.write(new TextEncoder().encode(`got ${concat(got).byteLength} bytes`));
            s.end();
          },
        });
      }, HOST);
      const client = await transport.connect({
        hostname: HOST,
        port: listener.addr.port,
        allowHalfOpen: true,
      });
      const side = observe(client);
      client.write(new Uint8Array(1234));
      client.end();
      assert.throws(() => client.write(new Uint8Array(1)), (e: unknown) => e instanceof NetError && e.code === "EPIPE");
      await within(side.closed, 10_000, "close");
      assert.equal(new TextDecoder().decode(concat(side.chunks)), "got 1234 bytes");
      assert.equal(side.endCount, 1);
      assert.equal(side.closeCount, 1);
      assert.equal(side.error, undefined);
      await listener.close();
    });

    test("half-close: the server ends first and the client keeps sending", async () => {
      let serverSide!: ReturnType<typeof observe>;
      const listener = await transport.listen({
        hostname: HOST,
        port: 0,
        allowHalfOpen: true,
        onAccept(s) {
          serverSide = observe(s);
          s.write(new TextEncoder().encode("bye"));
          s.end();
        },
      });
      const client = await transport.connect({
        hostname: HOST,
        port: listener.addr.port,
        allowHalfOpen: true,
      });
      const side = observe(client, {
        onEnd() {
          client.write(new TextEncoder().encode("after your FIN"));
          client.end();
        },
      });
      await within(side.closed, 10_000, "client close");
      while (!serverSide) await sleep(1);
      await within(serverSide.closed, 10_000, "server close");
      assert.equal(new TextDecoder().decode(concat(side.chunks)), "bye");
      assert.equal(new TextDecoder().decode(concat(serverSide.chunks)), "after your FIN");
      assert.equal(serverSide.error, undefined);
      await listener.close();
    });

    test("reset: the peer sees ECONNRESET (or a clean close where no RST can be sent)", async (t) => {
      let serverSide!: ReturnType<typeof observe>;
      const listener = await listenAccepting(transport, (s) => (serverSide = observe(s)));
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
      const side = observe(client);
      client.write(new Uint8Array(10));
      while (!serverSide || serverSide.bytes < 10) await sleep(2);
      client.reset();
      const serverErr = await within(serverSide.closed, 10_000, "server close");
      await within(side.closed, 10_000, "client close");
      assert.equal(side.error, undefined, "a local reset closes without an error");
      if (transport.capabilities.reset) {
        assert.equal(serverErr?.code, "ECONNRESET");
      } else {
        t.diagnostic?.(`${name} cannot send an RST; checking for a clean close instead`);
        assert.equal(serverErr, undefined);
        assert.equal(serverSide.endCount, 1);
      }
      assert.equal(side.closeCount, 1);
      assert.equal(serverSide.closeCount, 1);
      await listener.close();
    });

    test("a closed port gives ECONNREFUSED", async () => {
      const listener = await listenAccepting(transport, () => {});
      const port = listener.addr.port;
      await listener.close();
      const err = await expectNetError(transport.connect({ hostname: HOST, port }), "ECONNREFUSED");
      assert.equal(err.winsockName, "WSAECONNREFUSED");
      assert.equal(err.winsockCode, 10061);
    });

    test("connect with timeoutMs gives ETIMEDOUT when the SYNs are dropped", async () => {
      let port: number;
      let stop: () => Promise<void>;
      if (name === "memory") {
        const listener = await (transport as MemoryTransport).listen({
          port: 0,
          neverAccept: true,
          onAccept() {},
        });
        port = listener.addr.port;
        stop = () => listener.close();
      } else {
        const stalled = await startStalledListener();
        port = stalled.port;
        stop = stalled.close;
      }
      try {
        const started = Date.now();
        const err = await expectNetError(
          transport.connect({ hostname: HOST, port, timeoutMs: 300 }),
          "ETIMEDOUT",
        );
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 3000, `timed out after ${elapsed} ms`);
        assert.match(err.message, /timed out after 300 ms/);
        const controller = new AbortController();
        const pending = transport.connect({ hostname: HOST, port, signal: controller.signal });
        setTimeout(() => controller.abort(), 50);
        await expectNetError(pending, "ECANCELED");
      } finally {
        await stop();
      }
    });

    test("an aborted signal gives ECANCELED", async () => {
      const listener = await listenAccepting(transport, (s) => s.close());
      const controller = new AbortController();
      controller.abort();
      await expectNetError(
        transport.connect({ hostname: HOST, port: listener.addr.port, signal: controller.signal }),
        "ECANCELED",
      );
      await listener.close();
    });

    test("a port already in use gives EADDRINUSE", async () => {
      const listener = await listenAccepting(transport, () => {});
      await expectNetError(
        transport.listen({ hostname: HOST, port: listener.addr.port, onAccept() {} }),
        "EADDRINUSE",
      );
      await listener.close();
    });

    test("bad arguments get clear errors", async () => {
      await assert.rejects(
        transport.listen({ port: 70000, onAccept() {} }),
        (e: unknown) => e instanceof RangeError && /70000/.test(e.message),
      );
      await assert.rejects(
        transport.connect({ hostname: HOST, port: -1 }),
        (e: unknown) => e instanceof RangeError && /-1/.test(e.message),
      );
      await assert.rejects(
        transport.listen({ port: 0, highWaterMark: 10, lowWaterMark: 20, onAccept() {} }),
        (e: unknown) => e instanceof RangeError && /got 20/.test(e.message),
      );
      await assert.rejects(
        transport.connect({ hostname: HOST, port: 9, highWaterMark: 1.5 }),
        (e: unknown) => e instanceof RangeError && /got 1.5/.test(e.message),
      );
    });

    test("each end's addresses are the other end's, on a named, a loopback and a wildcard listener", async () => {
      for (const hostname of ["127.0.0.1", "localhost", "0.0.0.0"]) {
        const accepted: Stream[] = [];
        const listener = await listenAccepting(transport, (s) => accepted.push(s), hostname);
        const clients: Stream[] = [];
        for (let i = 0; i < 2; i++) {
          clients.push(await transport.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
        }
        await within(
          (async () => {
            while (accepted.length < 2) await sleep(5);
          })(),
          10_000,
          "accept",
        );
        for (const client of clients) {
          const server = accepted.find((s) => s.remoteAddr.port === client.localAddr.port);
          assert.ok(server, `${hostname}: a server end for the client's port ${client.localAddr.port}`);
          assert.deepEqual({ ...server.localAddr }, { ...client.remoteAddr }, `${hostname}: the server's own address`);
          assert.deepEqual({ ...server.remoteAddr }, { ...client.localAddr }, `${hostname}: the server's peer`);
          assert.equal(server.localAddr.port, listener.addr.port);
        }
        for (const s of [...clients, ...accepted]) s.reset();
        await listener.close();
      }
    });

    test("IPv6 on [::1] with an ephemeral port", async (t) => {
      let listener: Listener;
      try {
        listener = await listenAccepting(transport, (s) => {
          s.setHandlers({ onData: (c) => s.write(c), onEnd: () => s.end() });
        }, "::1");
      } catch (error) {
        t.diagnostic?.(`skipped: no IPv6 loopback here (${String(error)})`);
        return;
      }
      assert.ok(listener.addr.port > 0);
      assert.equal(listener.addr.family, "IPv6");
      const client = await transport.connect({ hostname: "::1", port: listener.addr.port });
      assert.equal(client.remoteAddr.family, "IPv6");
      const side = observe(client);
      client.write(new TextEncoder().encode("over v6"));
      client.end();
      await within(side.closed, 10_000, "close");
      assert.equal(new TextDecoder().decode(concat(side.chunks)), "over v6");
      await listener.close();
    });

    test("1,000 concurrent echoing connections", async () => {
      let serverCloses = 0;
      const listener = await listenAccepting(transport, (s) => {
        s.setHandlers({
          onData: (c) => s.write(c),
          onClose: () => serverCloses++,
        });
      });
      const count = 1000;
      const one = async (i: number) => {
        const payload = randomBytes(512 + (i % 7) * 100);
        const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
        const side = observe(client);
        writeInPieces(client, payload, 200);
        while (side.bytes < payload.byteLength && !client.closed) await sleep(5);
        assert.equal(side.bytes, payload.byteLength);
        assert.deepEqual(concat(side.chunks), payload);
        await client.close();
        assert.equal(side.closeCount, 1);
        assert.equal(side.error, undefined);
      };
      const batch = 200;
      await within(
        (async () => {
          const running: Promise<void>[] = [];
          for (let i = 0; i < count; i++) {
            running.push(one(i));
            if (running.length % batch === 0) await sleep(20);
          }
          await Promise.all(running);
        })(),
        60_000,
        "1,000 connections",
      );
      while (serverCloses < count) await sleep(10);
      assert.equal(serverCloses, count);
      await listener.close();
    });

    test("close() flushes everything queued before it", async () => {
      const payload = randomBytes(3 << 20);
      let serverSide!: ReturnType<typeof observe>;
      const listener = await listenAccepting(transport, (s) => (serverSide = observe(s)));
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
      const side = observe(client);
      client.write(payload);
      await within(client.close(), 20_000, "close");
      assert.equal(side.closeCount, 1);
      while (!serverSide) await sleep(1);
      await within(serverSide.closed, 10_000, "server close");
      assert.equal(serverSide.bytes, payload.byteLength);
      assert.equal(await sha256(serverSide.chunks), await sha256(payload));
      assert.throws(() => client.write(new Uint8Array(1)), /closed/);
      await listener.close();
    });

    test("reusePort binds a second listener where supported, and gives ENOTSUP where not", async () => {
      const first = await transport.listen({
        hostname: HOST,
        port: 0,
        reusePort: transport.capabilities.reusePort,
        onAccept: (s) => s.close(),
      })
        .catch((e) => e as NetError);
      if (!transport.capabilities.reusePort) {
        await expectNetError(transport.listen({ hostname: HOST, port: 0, reusePort: true, onAccept() {} }), "ENOTSUP");
        if (!(first instanceof NetError)) await first.close();
        return;
      }
      assert.ok(!(first instanceof NetError), String(first));
      const second = await transport.listen({
        hostname: HOST,
        port: first.addr.port,
        reusePort: true,
        onAccept: (s) => s.close(),
      });
      assert.equal(second.addr.port, first.addr.port);
      await second.close();
      await first.close();
    });

    test("setNoDelay and setKeepAlive work on a live stream", async () => {
      const listener = await listenAccepting(transport, (s) => s.setHandlers({ onData: (c) => s.write(c) }));
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port, noDelay: false });
      const side = observe(client);
      client.setNoDelay(true);
      client.setNoDelay(false);
      client.setNoDelay();
      client.setKeepAlive(true, 1000);
      client.setKeepAlive(false);
      client.write(new Uint8Array([42]));
      while (side.bytes < 1) await sleep(2);
      await client.close();
      assert.equal(side.closeCount, 1);
      await listener.close();
    });

    test("datagrams keep message boundaries", async () => {
      const received: Uint8Array[] = [];
      const a = await transport.bindDatagram({ port: 0, onMessage: (b) => received.push(b) });
      const b = await transport.bindDatagram({ port: 0 });
      try {
        const messages = [new Uint8Array([1]), new Uint8Array(1000).fill(7), new Uint8Array(0), new Uint8Array([9, 9])];
        for (const m of messages) await b.send(m, { hostname: HOST, port: a.addr.port });
        const started = Date.now();
        while (received.length < messages.length && Date.now() - started < 3000) await sleep(5);
        assert.deepEqual(received.map((m) => Array.from(m)), messages.map((m) => Array.from(m)));
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}

after(() => {});
