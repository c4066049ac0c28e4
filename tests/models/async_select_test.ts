import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import {
  asyncSelect,
  AsyncSocket,
  type LoopMessage,
  MessageLoop,
  type MessageTarget,
  WM_SOCKET,
  WM_USER,
  wsaGetSelectError,
  wsaGetSelectEvent,
  wsaMakeSelectReply,
} from "../../src/models/async_select.ts";
import { FD_CLOSE, FD_CONNECT, FD_READ } from "../../src/models/event_select.ts";
import { NonBlockingListener, NonBlockingSocket, WOULD_BLOCK } from "../../src/models/nonblocking.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import { type EchoServerOptions, startEcho as startModelEcho } from "../../src/apps/echo.ts";

const startEcho = (options: EchoServerOptions) => startModelEcho("async-select", options);
import { concat, observe, randomBytes, sleep, within } from "../helpers/net.ts";

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

const transports: [string, () => Promise<Transport>][] = [
  ["native", () => defaultTransport()],
  ["memory", () => Promise.resolve(createMemoryTransport())],
];

describe("MessageLoop", () => {
  test("dispatches in posting order, one message at a time, and counts", async () => {
    const loop = new MessageLoop();
    const seen: string[] = [];
    const target: MessageTarget = {
      async handleMessage(m: LoopMessage) {
        seen.push(`start ${m.wParam}`);
        if (m.wParam === 1) {
          await sleep(20);
          loop.post({ target, message: WM_USER, wParam: 4 });
        }
        seen.push(`end ${m.wParam}`);
        if (m.wParam === 4) loop.stop();
      },
    };
    for (const i of [1, 2, 3]) loop.post({ target, message: WM_USER, wParam: i });
    assert.equal(loop.queueLength, 3);
    assert.equal(loop.dispatched, 0);
    await within(loop.run(), 5000, "the loop");
    assert.deepEqual(seen, [
      "start 1",
      "end 1",
      "start 2",
      "end 2",
      "start 3",
      "end 3",
      "start 4",
      "end 4",
    ]);
    assert.equal(loop.queueLength, 0);
    assert.equal(loop.dispatched, 4);
    assert.equal(loop.running, false);
  });

  test("waits for posts while empty; stop leaves the rest queued for the next run", async () => {
    const loop = new MessageLoop();
    const seen: unknown[] = [];
    const target: MessageTarget = {
      handleMessage(m) {
        seen.push(m.wParam);
        if (m.wParam === "stop") loop.stop();
      },
    };
    const running = loop.run();
    await sleep(10);
    assert.equal(loop.running, true);
    loop.post({ target, message: WM_USER, wParam: "a" });
    loop.post({ target, message: WM_USER, wParam: "stop" });
    loop.post({ target, message: WM_USER, wParam: "later" });
    await within(running, 5000, "the loop to stop");
    assert.deepEqual(seen, ["a", "stop"]);
    assert.equal(loop.queueLength, 1);
    const again = loop.run();
    await waitFor(() => loop.queueLength === 0, "the queued message");
    loop.stop();
    await within(again, 5000, "the loop to stop again");
    assert.deepEqual(seen, ["a", "stop", "later"]);
  });

  test("a handler error stops run() with that error unless onError takes it", async () => {
    const boom = new Error("boom");
    const target: MessageTarget = {
      handleMessage(m) {
        if (m.wParam === "bad") throw boom;
      },
    };
    const strict = new MessageLoop();
    strict.post({ target, message: WM_USER, wParam: "bad" });
    strict.post({ target, message: WM_USER, wParam: "next" });
    await assert.rejects(within(strict.run(), 5000, "the loop"), boom);
    assert.equal(strict.queueLength, 1);

    const errors: [unknown, unknown][] = [];
    const lenient = new MessageLoop({ onError: (error, message) => errors.push([error, message.wParam]) });
    const seen: unknown[] = [];
    const stopper: MessageTarget = {
      handleMessage(m) {
        seen.push(m.wParam);
        lenient.stop();
      },
    };
    lenient.post({ target, message: WM_USER, wParam: "bad" });
    lenient.post({ target: stopper, message: WM_USER, wParam: "after" });
    await within(lenient.run(), 5000, "the loop");
    assert.deepEqual(errors, [[boom, "bad"]]);
    assert.deepEqual(seen, ["after"]);
  });

  test("bad posts and a second run are refused", async () => {
    const loop = new MessageLoop();
    assert.throws(() => loop.post({ target: {} as MessageTarget, message: WM_USER }), TypeError);
    assert.throws(() => loop.post(null as unknown as LoopMessage), TypeError);
    const running = loop.run();
    await assert.rejects(loop.run(), /already running/);
    loop.stop();
    await running;
  });

  test("socket message parameters pack the event and the error", () => {
    const lParam = wsaMakeSelectReply(FD_CONNECT, 10061);
    assert.equal(wsaGetSelectEvent(lParam), FD_CONNECT);
    assert.equal(wsaGetSelectError(lParam), 10061);
    assert.equal(WM_SOCKET, WM_USER + 1);
  });
});

for (const [name, make] of transports) {
  describe(`WSAAsyncSelect and AsyncSocket over the ${name} transport`, () => {
    test("one message per recorded event: FD_READ is posted again only after a receive", async () => {
      const transport = await make();
      const listener = await NonBlockingListener.listen({ transport, port: 0 });
      const client = await NonBlockingSocket.connect("127.0.0.1", listener.addr.port, { transport });
      try {
        await waitFor(() => listener.core.pending === 1 && client.connected, "the connection");
        const server = listener.tryAccept();
        assert.ok(server !== WOULD_BLOCK);
        const loop = new MessageLoop();
        const events: number[] = [];
        const target: MessageTarget = {
          handleMessage(m) {
            if (m.message !== WM_SOCKET) return loop.stop();
            assert.equal(m.wParam, server);
            events.push(wsaGetSelectEvent(m.lParam ?? 0));
          },
        };
        asyncSelect(server, loop, target, WM_SOCKET, FD_READ | FD_CLOSE);
        assert.equal(loop.queueLength, 0);
        client.trySend(randomBytes(10));
        await waitFor(() => server.core.available === 10, "10 bytes");
        client.trySend(randomBytes(5));
        await waitFor(() => server.core.available === 15, "15 bytes");
        await sleep(10);
        assert.equal(loop.queueLength, 1, "one FD_READ for all the data");
        assert.equal(server.tryRecv(new Uint8Array(4)), 4);
        assert.equal(loop.queueLength, 2, "a receive that leaves data posts FD_READ again");
        assert.equal(server.tryRecv(new Uint8Array(100)), 11);
        assert.equal(loop.queueLength, 2, "one that empties the buffer does not");
        client.shutdown();
        await waitFor(() => loop.queueLength === 3, "FD_CLOSE");
        // Cancelling keeps what was posted, and posts nothing more.
        asyncSelect(server, loop, target, WM_SOCKET, 0);
        assert.equal(server.tryRecv(new Uint8Array(1)), 0);
        loop.post({ target, message: WM_USER });
        await within(loop.run(), 5000, "the loop");
        assert.deepEqual(events, [FD_READ, FD_READ, FD_CLOSE]);
        server.reset();
      } finally {
        client.reset();
        await listener.close();
      }
    });

    test("AsyncSocket callbacks come in order for connect → send → receive → close", async () => {
      const transport = await make();
      const listener = await transport.listen({
        port: 0,
        onAccept(s: Stream) {
          let got = 0;
          s.setHandlers({
            onData(chunk) {
              got += chunk.byteLength;
              if (got === 5) {
                s.write(new TextEncoder().encode("world"));
                void s.close();
              }
            },
          });
        },
      });
      const loop = new MessageLoop();
      const log: string[] = [];
      let received = "";
      class Client extends AsyncSocket {
        #sent = false;
        override onConnect(e: number): void {
          log.push(`connect ${e}`);
        }
        override onSend(e: number): void {
          log.push(`send ${e}`);
          if (!this.#sent) {
            this.#sent = true;
            assert.equal(this.send(new TextEncoder().encode("hello")), 5);
          }
        }
        override onReceive(e: number): void {
          log.push(`receive ${e}`);
          const buf = new Uint8Array(100);
          const n = this.receive(buf);
          if (typeof n === "number") received += new TextDecoder().decode(buf.subarray(0, n));
        }
        override onClose(e: number): void {
          log.push(`close ${e}`);
          void this.close();
          this.loop.stop();
        }
      }
      const client = new Client(loop, { transport });
      try {
        client.connect("127.0.0.1", listener.addr.port);
        assert.equal(client.receive(new Uint8Array(1)), WOULD_BLOCK, "receive does not wait while connecting");
        await within(loop.run(), 5000, "the exchange");
        const collapsed = log.filter((entry, i) => entry !== log[i - 1]);
        assert.deepEqual(collapsed, ["connect 0", "send 0", "receive 0", "close 0"]);
        assert.equal(received, "world");
      } finally {
        await client.close();
        await listener.close();
      }
    });

    test("a refused connect calls onConnect with WSAECONNREFUSED (10061) and nothing else", async () => {
      const transport = await make();
      const closed = await transport.listen({ port: 0, onAccept: (s) => s.reset() });
      const port = closed.addr.port;
      await closed.close();
      const loop = new MessageLoop();
      const log: string[] = [];
      class Client extends AsyncSocket {
        override onConnect(e: number): void {
          log.push(`connect ${e}`);
          setTimeout(() => this.loop.stop(), 30);
        }
        override onSend(e: number): void {
          log.push(`send ${e}`);
        }
        override onClose(e: number): void {
          log.push(`close ${e}`);
        }
      }
      const client = new Client(loop, { transport });
      client.connect("127.0.0.1", port);
      await within(loop.run(), 5000, "onConnect");
      assert.deepEqual(log, ["connect 10061"]);
      await client.close();
    });

    test("listen, onAccept and accept: into a new socket on the same loop, or into a given one", async () => {
      const transport = await make();
      const loop = new MessageLoop();
      const accepted: AsyncSocket[] = [];
      class Peer extends AsyncSocket {}
      class Server extends AsyncSocket {
        override onAccept(e: number): void {
          assert.equal(e, 0);
          const sock = accepted.length === 0 ? this.accept() : this.accept(new Peer(this.loop));
          assert.ok(sock);
          accepted.push(sock);
          assert.equal(this.accept(), null, "nothing else is waiting");
          if (accepted.length === 2) this.loop.stop();
        }
      }
      const server = new Server(loop, { transport });
      await server.listen({ port: 0 });
      assert.throws(
        () => server.connect("127.0.0.1", 1),
        (e: unknown) => e instanceof NetError && e.code === "EISCONN",
      );
      const running = loop.run();
      const peers: Stream[] = [];
      try {
        peers.push(await transport.connect({ hostname: "127.0.0.1", port: server.addr!.port }));
        await waitFor(() => accepted.length === 1, "the first accept");
        peers.push(await transport.connect({ hostname: "127.0.0.1", port: server.addr!.port }));
        await within(running, 5000, "the second accept");
        assert.equal(accepted[0].loop, loop);
        assert.ok(accepted[1] instanceof Peer);
        assert.ok(accepted[0].remoteAddr);
        assert.throws(() => server.accept(accepted[0]), TypeError, "only a new socket can take a connection");
        assert.throws(() => accepted[0].accept(), (e: unknown) => e instanceof NetError && e.code === "EINVAL");
      } finally {
        loop.stop();
        for (const p of peers) p.reset();
        for (const s of accepted) {
          (s.socket as NonBlockingSocket).reset();
          await s.close();
        }
        await server.close();
      }
    });
  });
}

describe("AsyncSocket receive notifications", () => {
  for (const [mode, perCall] of [["one byte per onReceive", 1], ["all at once", 100]] as const) {
    test(`onReceive comes again only while data is left (${mode})`, async () => {
      const transport = createMemoryTransport();
      const loop = new MessageLoop();
      let calls = 0;
      let text = "";
      class Reader extends AsyncSocket {
        override onReceive(e: number): void {
          assert.equal(e, 0);
          calls++;
          const buf = new Uint8Array(1);
          // Each receive that leaves data posts FD_READ again (Winsock's rule); reading it all
          // here leaves those messages without data, and they are skipped as MFC skips them.
          for (let i = 0; i < perCall; i++) {
            const n = this.receive(buf);
            if (n === WOULD_BLOCK || n === 0) break;
            text += String.fromCharCode(buf[0]);
          }
          if (text.length === 5) setTimeout(() => this.loop.stop(), 20);
        }
      }
      let reader: Reader | undefined;
      class Server extends AsyncSocket {
        override onAccept(): void {
          reader = this.accept(new Reader(this.loop)) ?? undefined;
        }
      }
      const server = new Server(loop, { transport });
      await server.listen({ port: 0 });
      const peer = await transport.connect({ hostname: "127.0.0.1", port: server.addr!.port });
      try {
        const running = loop.run();
        await waitFor(() => reader !== undefined, "the accept");
        peer.write(new TextEncoder().encode("hello"));
        await within(running, 5000, "the data");
        assert.equal(text, "hello");
        assert.equal(calls, perCall === 1 ? 5 : 1);
      } finally {
        peer.reset();
        await reader?.close();
        await server.close();
      }
    });
  }
});

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

for (
  const [name, make] of [
    ...transports,
    ["memory (1-byte chunks)", () => Promise.resolve(createMemoryTransport({ chunkSize: 1 }))],
  ] as [string, () => Promise<Transport>][]
) {
  test(`echo_async_select echoes raw bytes and lp4 frames over the ${name} transport`, async () => {
    const transport = await make();
    const size = name.includes("1-byte") ? 3000 : 300_000;
    for (const framing of ["raw", "lp4"] as const) {
      const server = await startEcho({ transport, framing });
      try {
        const wire = framing === "raw"
          ? randomBytes(size)
          : concat([frame(randomBytes(size)), frame(new Uint8Array(0)), frame(randomBytes(3))]);
        const results = await Promise.all([0, 1, 2].map(async () => {
          const client = await transport.connect({
            hostname: "127.0.0.1",
            port: server.addr.port,
            allowHalfOpen: true,
          });
          const side = observe(client);
          client.write(wire.subarray(0, 9));
          client.write(wire.subarray(9));
          client.end();
          assert.equal(await within(side.closed, 20_000, "the echo"), undefined);
          return concat(side.chunks);
        }));
        for (const echoed of results) assert.deepEqual(echoed, wire);
      } finally {
        await within(server.close(), 10_000, "the server to close");
      }
    }
  });
}
