/**
 * The PROXY protocol wrapper behind a real HAProxy: `send-proxy` and `send-proxy-v2`, with
 * and without `proxy-v2-options crc32c,unique-id`, for clients on IPv4 and IPv6. The server
 * sees each client's own address and port, and the echo's log shows them.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { proxyProtocol } from "../../src/runtime/proxy_protocol.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { type Connection, serve, type Server } from "../../src/engine/server.ts";
import { delimited } from "../../src/framing/mod.ts";
import { runCli } from "../../src/cli/run_cli.ts";
import { requireHaproxy, startHaproxy } from "../helpers/haproxy.ts";
import { observe, within } from "../helpers/net.ts";
import { testIo, waitFor } from "../cli/_helpers.ts";

const transport = await defaultTransport();
const text = (s: string) => new TextEncoder().encode(s);

describe(`PROXY protocol from a real HAProxy, on ${transport.name}`, () => {
  before(() => requireHaproxy());
  const seen = new Map<number, Connection>();
  let server: Server;
  before(async () => {
    server = await serve({
      transport: proxyProtocol(transport, { version: "any", trusted: ["127.0.0.1"] }),
      port: 0,
      framer: delimited(),
      onOpen: (conn) => void seen.set(conn.remoteAddr.port, conn),
      onMessage: (conn, frame) => void conn.send(frame),
    });
  });
  after(() => server.close());

  const cases = [
    { send: "send-proxy", version: 1 },
    { send: "send-proxy-v2", version: 2 },
    { send: "send-proxy-v2", version: 2, v2Options: "crc32c,unique-id" },
  ] as const;
  for (const c of cases) {
    const label = `${c.send}${"v2Options" in c ? ` with ${c.v2Options}` : ""}`;
    test(`${label}: IPv4 and IPv6 clients keep their own address and port`, async () => {
      const haproxy = await startHaproxy({
        backendPort: server.addr.port,
        send: c.send,
        ...("v2Options" in c ? { v2Options: c.v2Options } : {}),
      });
      try {
        for (const hostname of ["127.0.0.1", "::1"]) {
          const client = await transport.connect({ hostname, port: haproxy.port });
          const side = observe(client);
          client.write(text("through haproxy\n"));
          await within(
            new Promise<void>((resolve) => {
              const wait = () => (side.bytes === 16 ? resolve() : setTimeout(wait, 5));
              wait();
            }),
            10_000,
            `the echo through haproxy from ${hostname}`,
          );
          const stream = seen.get(client.localAddr.port);
          assert.ok(stream, `the server saw the client's port ${client.localAddr.port}`);
          assert.equal(stream.remoteAddr.hostname, client.localAddr.hostname);
          assert.equal(stream.remoteAddr.family, hostname === "::1" ? "IPv6" : "IPv4");
          assert.equal(stream.proxy?.version, c.version);
          assert.equal(stream.proxy?.destination?.port, haproxy.port);
          if ("v2Options" in c) {
            assert.ok(stream.proxy?.crc32c !== undefined, "the CRC32C TLV came and matched");
            // unique-id-format %{+X}o%ci:%cp_...: the client's port, in hex.
            const hexPort = client.localAddr.port.toString(16).toUpperCase().padStart(4, "0");
            assert.match(new TextDecoder().decode(stream.proxy?.uniqueId), new RegExp(`:${hexPort}_`));
          }
          client.reset();
        }
      } finally {
        await haproxy.stop();
      }
    });
  }

  test("serve echo --proxy-protocol logs the client's address as HAProxy saw it", async () => {
    const io = testIo();
    const running = runCli(["serve", "echo", "--port", "0", "--json", "--proxy-protocol", "v2"], io);
    await waitFor(() => /listening on/.test(io.out), `the listening line; got ${io.out}${io.err}`);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(io.out)![1]);
    const haproxy = await startHaproxy({ backendPort: port, send: "send-proxy-v2" });
    try {
      const client = await transport.connect({ hostname: "::1", port: haproxy.port });
      const side = observe(client);
      client.write(text("ping"));
      await waitFor(() => side.bytes === 4, "the echo");
      const remote = `[${client.localAddr.hostname}]:${client.localAddr.port}`;
      await waitFor(() => io.out.includes(`"remote":"${remote}"`), `an open record from ${remote}; got ${io.out}`);
      assert.match(io.out, new RegExp(`connected from \\[::1\\]:${client.localAddr.port} via PROXY v2`));
      client.reset();
    } finally {
      await haproxy.stop();
      io.stop();
      assert.equal(await within(running, 10_000, "the server to stop"), 0);
    }
  });
});
