/**
 * TLS across runtimes: this runtime's client against a server in a Deno, a Bun and a Node
 * process, 1 MiB each way, and STARTTLS against the servers whose runtime can upgrade an
 * accepted stream. Run under each of the three runtimes, this is the 3 x 3 matrix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultTransport, detectRuntime, type RuntimeName } from "../../src/runtime/detect.ts";
import { concat, observe, randomBytes, within } from "../helpers/net.ts";
import { startTlsPeer, trustingClient } from "../helpers/tls.ts";
import { startTlsAsClient } from "../helpers/start_tls_client.ts";

const SERVERS: RuntimeName[] = ["deno", "bun", "node"];
/** Deno has no server-side upgrade (see docs/tls.md), so it serves no STARTTLS. */
const STARTTLS_SERVERS: RuntimeName[] = ["bun", "node"];

for (const server of SERVERS) {
  test(`a ${detectRuntime()} TLS client and a ${server} TLS server echo 1 MiB each way`, async () => {
    const peer = await startTlsPeer(server, "tls");
    try {
      const transport = await defaultTransport();
      const client = await transport.connect({
        hostname: "127.0.0.1",
        port: peer.port,
        tls: { ...trustingClient, serverName: "localhost" },
        timeoutMs: 10_000,
      });
      const side = observe(client);
      const payload = randomBytes(1 << 20);
      client.write(payload);
      client.end();
      await within(side.closed, 30_000, "the echo");
      assert.equal(side.error, undefined);
      assert.deepEqual(concat(side.chunks), payload);
      assert.equal(client.tls?.serverName, "localhost");
    } finally {
      await peer.close();
    }
  });
}

for (const server of STARTTLS_SERVERS) {
  test(`a ${detectRuntime()} client upgrades with STARTTLS against a ${server} server`, async () => {
    const peer = await startTlsPeer(server, "starttls");
    try {
      const transport = await defaultTransport();
      const client = await transport.connect({ hostname: "127.0.0.1", port: peer.port, timeoutMs: 10_000 });
      const info = await within(
        startTlsAsClient(client, { ...trustingClient, serverName: "localhost" }),
        15_000,
        "the upgrade",
      );
      assert.equal(info.serverName, "localhost");
      const side = observe(client);
      const payload = randomBytes(256 * 1024);
      client.write(payload);
      client.end();
      await within(side.closed, 30_000, "the encrypted echo");
      assert.equal(side.error, undefined);
      assert.deepEqual(concat(side.chunks), payload);
    } finally {
      await peer.close();
    }
  });
}
