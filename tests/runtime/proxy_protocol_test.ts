/**
 * The PROXY protocol wrapper on the memory transport and on this runtime's sockets: the
 * header comes off, the client's address becomes remoteAddr, what follows reaches the app
 * unchanged whatever the read boundaries, and every bad connection is reset alone with a
 * NetError (PROXY_PROTOCOL) while the server goes on.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProxiedStream, proxyProtocol, type ProxyProtocolOptions } from "../../src/runtime/proxy_protocol.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { NetError } from "../../src/runtime/errors.ts";
import type { Listener, Stream, Transport } from "../../src/runtime/types.ts";
import { serve } from "../../src/engine/server.ts";
import { delimited } from "../../src/framing/mod.ts";
import { concat, observe, sleep, within } from "../helpers/net.ts";
import { encodeProxyV2 } from "../helpers/proxy_header.ts";

const text = (s: string) => new TextEncoder().encode(s);
const V1 = text("PROXY TCP4 203.0.113.7 198.51.100.2 40000 443\r\n");

/** A listener behind the wrapper that keeps what each accepted stream receives. */
async function proxiedServer(inner: Transport, options: ProxyProtocolOptions = {}) {
  const accepted: { stream: Stream; side: ReturnType<typeof observe> }[] = [];
  const errors: NetError[] = [];
  const listener: Listener = await proxyProtocol(inner, options).listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    onAccept: (stream) => accepted.push({ stream, side: observe(stream) }),
    onError: (error) => errors.push(error),
  });
  return { listener, accepted, errors };
}

function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const wait = () => (condition() ? resolve() : setTimeout(wait, 2));
      wait();
    }),
    ms,
    what,
  );
}

for (
  const [name, make] of [
    ["memory", () => Promise.resolve(createMemoryTransport())],
    ["native", () => defaultTransport()],
  ] as [string, () => Promise<Transport>][]
) {
  describe(`PROXY protocol wrapper on the ${name} transport`, () => {
    test("header and payload in one write: remoteAddr is the client, the payload arrives whole, then the end", async () => {
      const transport = await make();
      const server = await proxiedServer(transport);
      const client = await transport.connect({
        hostname: "127.0.0.1",
        port: server.listener.addr.port,
        allowHalfOpen: true,
      });
      client.write(concat([V1, text("hello")]));
      client.end();
      await until(() => server.accepted.length === 1, "the accept");
      const { stream, side } = server.accepted[0];
      await within(side.ended, 10_000, "the end");
      assert.equal(new TextDecoder().decode(concat(side.chunks)), "hello");
      assert.deepEqual(stream.remoteAddr, { hostname: "203.0.113.7", port: 40000, family: "IPv4" });
      assert.equal(stream.proxy?.version, 1);
      assert.ok(stream instanceof ProxiedStream);
      assert.equal(stream.balancerAddr.port, client.localAddr.port);
      stream.write(text("bye"));
      stream.end();
      client.reset();
      await server.listener.close();
    });

    test("a v2 header over many writes, with a LOCAL header keeping the real address", async () => {
      const transport = await make();
      const server = await proxiedServer(transport, { version: "v2" });
      const header = encodeProxyV2({
        command: 1,
        family: 1,
        protocol: 1,
        address: [10, 0, 0, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x00, 0x50],
        tlvs: [[0x05, text("id-7")]],
        crc: true,
      });
      const client = await transport.connect({ hostname: "127.0.0.1", port: server.listener.addr.port });
      for (const b of header.subarray(0, -1)) {
        client.write(new Uint8Array([b]));
        await sleep(0);
      }
      await sleep(5);
      assert.equal(server.accepted.length, 0, "no accept before the whole header");
      client.write(header.subarray(-1));
      client.write(text("after"));
      await until(() => server.accepted[0]?.side.bytes === 5, "the payload");
      const { stream } = server.accepted[0];
      assert.equal(stream.remoteAddr.hostname, "10.0.0.9");
      assert.equal(stream.remoteAddr.port, 8080);
      assert.deepEqual(stream.proxy?.uniqueId, text("id-7"));

      const local = await transport.connect({ hostname: "127.0.0.1", port: server.listener.addr.port });
      local.write(encodeProxyV2({ command: 0, family: 0, protocol: 0, address: [] }));
      await until(() => server.accepted.length === 2, "the LOCAL accept");
      assert.equal(server.accepted[1].stream.proxy?.command, "LOCAL");
      assert.equal(server.accepted[1].stream.remoteAddr.port, local.localAddr.port, "LOCAL keeps the real peer");
      client.reset();
      local.reset();
      await server.listener.close();
    });

    test("bad headers, an untrusted peer, a silent peer and an early close each end that connection only", async () => {
      const transport = await make();
      const server = await proxiedServer(transport, { headerTimeoutMs: 150 });
      const port = server.listener.addr.port;
      const bad = await transport.connect({ hostname: "127.0.0.1", port });
      const badSide = observe(bad);
      bad.write(text("PROXY TCP4 1.2.3.4 5.6.7.8 65536 1\r\nsecret"));
      await within(badSide.closed, 10_000, "the bad header's close");
      const silent = await transport.connect({ hostname: "127.0.0.1", port });
      const silentSide = observe(silent);
      await within(silentSide.closed, 10_000, "the silent peer's close");
      const early = await transport.connect({ hostname: "127.0.0.1", port });
      early.write(text("PROXY TCP4 1.2"));
      early.end();
      await until(() => server.errors.length === 3, `three errors, got ${server.errors.map((e) => e.message)}`);
      assert.ok(server.errors.every((e) => e instanceof NetError && e.code === "PROXY_PROTOCOL"));
      assert.match(server.errors[0].message, /port must be 0 to 65535 without leading zeros, got "65536"/);
      assert.match(server.errors[1].message, /No whole PROXY header from .* within 150 ms \(0 bytes came\)/);
      assert.match(server.errors[2].message, /ended before its PROXY header/);
      assert.equal(server.accepted.length, 0, "none reached the server");

      const good = await transport.connect({ hostname: "127.0.0.1", port });
      good.write(concat([V1, text("ok")]));
      await until(() => server.accepted[0]?.side.bytes === 2, "the good client after them");
      good.reset();
      early.reset();
      await server.listener.close();

      const strict = await proxiedServer(transport, { trusted: ["10.0.0.0/8", "2001:db8::/32"] });
      // The refusal comes at accept: the connect itself may fail with ECONNRESET, or the
      // connection may close right after it.
      try {
        const stranger = await transport.connect({ hostname: "127.0.0.1", port: strict.listener.addr.port });
        const strangerSide = observe(stranger);
        if (!stranger.closed) stranger.write(concat([V1, text("x")]));
        await within(strangerSide.closed, 10_000, "the stranger's close");
      } catch (error) {
        assert.equal((error as NetError).code, "ECONNRESET");
      }
      await until(() => strict.errors.length === 1, "the refusal");
      assert.match(strict.errors[0].message, /Connection from 127\.0\.0\.1 is not from a trusted balancer/);
      assert.equal(strict.accepted.length, 0);
      await strict.listener.close();
    });

    test("a server that sets its handlers later, or pauses first, still gets every byte in order, then the end", async () => {
      const transport = await make();
      for (const mode of ["later", "paused"] as const) {
        const got: string[] = [];
        let ended!: () => void;
        const end = new Promise<void>((resolve) => (ended = resolve));
        const listener = await proxyProtocol(transport).listen({
          hostname: "127.0.0.1",
          port: 0,
          allowHalfOpen: true,
          onAccept(stream) {
            const handlers = {
              onData: (chunk: Uint8Array) => void got.push(new TextDecoder().decode(chunk)),
              onEnd: () => ended(),
            };
            if (mode === "later") {
              setTimeout(() => stream.setHandlers(handlers), 30);
            } else {
              stream.setHandlers(handlers);
              stream.pause();
              setTimeout(() => stream.resume(), 30);
            }
          },
        });
        const client = await transport.connect({
          hostname: "127.0.0.1",
          port: listener.addr.port,
          allowHalfOpen: true,
        });
        client.write(concat([V1, text("first ")]));
        await sleep(5);
        client.write(text("second"));
        client.end();
        await within(end, 10_000, `the end (${mode})`);
        assert.equal(got.join(""), "first second", mode);
        client.reset();
        await listener.close();
      }
    });

    test("the engine behind the wrapper sees the client's address", async () => {
      const transport = await make();
      const remotes: string[] = [];
      const server = await serve({
        transport: proxyProtocol(transport),
        port: 0,
        framer: delimited(),
        onOpen: (conn) => void remotes.push(`${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`),
        onMessage: (conn, frame) => void conn.send(frame),
      });
      const client = await transport.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const side = observe(client);
      client.write(concat([V1, text("ping\n")]));
      await until(() => side.bytes === 5, "the echo");
      assert.deepEqual(remotes, ["203.0.113.7:40000"]);
      client.reset();
      await server.close();
    });
  });
}

test("options are checked", () => {
  const memory = createMemoryTransport();
  assert.throws(() => proxyProtocol(memory, { trusted: ["10.0.0.0/33"] }), /got "10\.0\.0\.0\/33"/);
  assert.throws(() => proxyProtocol(memory, { trusted: ["example.com"] }), /IP address or CIDR/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => proxyProtocol(memory, { version: "v3" as any }), /v1, v2 or any, got "v3"/);
  assert.throws(() => proxyProtocol(memory, { headerTimeoutMs: 0 }), /positive number of milliseconds, got 0/);
});

test("any bytes after a valid header reach the app unchanged, whatever the read boundaries", async () => {
  const memory = createMemoryTransport();
  const server = await proxiedServer(memory);
  const header = fc.oneof(
    fc.tuple(fc.ipV4(), fc.ipV4(), fc.nat(65535), fc.nat(65535)).map(([a, b, p, q]) =>
      text(`PROXY TCP4 ${a} ${b} ${p} ${q}\r\n`)
    ),
    fc.tuple(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 40 })).map(([address, id]) =>
      encodeProxyV2({ command: 1, family: 1, protocol: 1, address: [...address], tlvs: [[0xe1, id]], crc: true })
    ),
  );
  await fc.assert(
    fc.asyncProperty(
      header,
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.array(fc.nat(400), { maxLength: 6 }),
      async (head, payload, cuts) => {
        const wire = concat([head, payload]);
        const points = [...new Set(cuts.map((c) => c % (wire.byteLength + 1)))].sort((a, b) => a - b);
        const client = await memory.connect({
          hostname: "127.0.0.1",
          port: server.listener.addr.port,
          allowHalfOpen: true,
        });
        let at = 0;
        for (const p of [...points, wire.byteLength]) {
          if (p > at) client.write(wire.subarray(at, p));
          at = p;
        }
        client.end();
        const before = server.accepted.length;
        await until(() => server.accepted.length > before, "the accept", 5000);
        const { side } = server.accepted[server.accepted.length - 1];
        await within(side.ended, 5000, "the end");
        assert.deepEqual(concat(side.chunks), payload);
        client.reset();
      },
    ),
    { numRuns: 150 },
  );
  assert.deepEqual(server.errors, []);
  await server.listener.close();
});
