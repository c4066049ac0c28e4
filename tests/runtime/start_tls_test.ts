/**
 * STARTTLS: a plain stream upgraded to TLS in place, on every transport that has TLS here.
 * The server's side runs in this process where the transport can upgrade an accepted stream,
 * and is proven refused where it cannot.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { availableTransports, detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import type { Listener, Stream, Transport } from "../../src/runtime/types.ts";
import { concat, expectNetError, observe, randomBytes, within } from "../helpers/net.ts";
import { goodServer, trustingClient } from "../helpers/tls.ts";
import { startTlsAsClient } from "../helpers/start_tls_client.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The server side of the exchange in startTlsAsClient: echoes lines until STARTTLS, answers
 * GO and upgrades (or, with `upgrade: false`, stays silent), then echoes over TLS.
 */
async function startTlsServer(
  transport: Transport,
  options: { upgrade?: boolean; afterGo?: string } = {},
): Promise<{ listener: Listener; upgrades: Promise<unknown>[]; accepted: Stream[]; silent: { bytesAfterGo: number } }> {
  const upgrades: Promise<unknown>[] = [];
  const accepted: Stream[] = [];
  const silent = { bytesAfterGo: 0 };
  const listener = await transport.listen({
    hostname: HOST,
    port: 0,
    onAccept(stream) {
      accepted.push(stream);
      let text = "";
      stream.setHandlers({
        onData(chunk) {
          if (text === "STARTTLS\n") {
            silent.bytesAfterGo += chunk.length;
            return;
          }
          text += decoder.decode(chunk, { stream: true });
          if (text === "hello\n") {
            text = "";
            stream.write(encoder.encode("hello\n"));
          } else if (text === "STARTTLS\n") {
            stream.write(encoder.encode("GO\n" + (options.afterGo ?? "")));
            if (options.upgrade === false) return;
            const upgraded = stream.startTls(goodServer).then((info) => {
              stream.setHandlers({ onData: (c) => stream.write(c), onEnd: () => stream.end() });
              return info;
            });
            upgraded.catch(() => {});
            upgrades.push(upgraded);
          }
        },
      });
    },
  });
  return { listener, upgrades, accepted, silent };
}

const transports: Transport[] = [];
for (const name of availableTransports()) {
  const transport = await loadTransport(name);
  if (transport.capabilities.tls) transports.push(transport);
  else {
    test(`STARTTLS on the ${name} transport on ${detectRuntime()}: refused, as it has no TLS`, async () => {
      const listener = await transport.listen({ hostname: HOST, port: 0, onAccept: (s) => s.setHandlers({}) });
      const stream = await transport.connect({ hostname: HOST, port: listener.addr.port });
      await expectNetError(stream.startTls(trustingClient), "ENOTSUP");
      assert.equal(stream.closed, false, "a refused upgrade leaves the stream as it was");
      stream.reset();
      await listener.close();
    });
  }
}

for (const transport of transports) {
  describe(`STARTTLS on the ${transport.name} transport on ${detectRuntime()}`, () => {
    if (transport.capabilities.serverStartTls) {
      test("plaintext, then the upgrade on both sides, then 512 KiB echoed over TLS", async () => {
        const server = await startTlsServer(transport);
        const client = await transport.connect({ hostname: HOST, port: server.listener.addr.port });
        assert.equal(client.tls, undefined, "a plain stream reports no TLS");
        const info = await within(
          startTlsAsClient(client, { ...trustingClient, serverName: "localhost" }),
          10_000,
          "the upgrade",
        );
        assert.equal(info.serverName, "localhost");
        assert.equal(client.tls, info, "tls reports the handshake from then on");
        const serverInfo = await within(server.upgrades[0], 10_000, "the server's upgrade");
        assert.ok(serverInfo, "the server's startTls resolves too");
        if (transport.name !== "deno") assert.match(info.protocol ?? "", /^TLSv1\.[23]$/);
        const side = observe(client);
        const payload = randomBytes(512 * 1024);
        client.write(payload);
        client.end();
        await within(side.closed, 20_000, "the echo");
        assert.equal(side.error, undefined);
        assert.deepEqual(concat(side.chunks), payload);
        await server.listener.close();
      });

      test("bytes written right after startTls() wait for the handshake and go out encrypted", async () => {
        const server = await startTlsServer(transport);
        const client = await transport.connect({ hostname: HOST, port: server.listener.addr.port });
        const chunks: Uint8Array[] = [];
        let upgrading: Promise<unknown> | undefined;
        let text = "";
        const closed = new Promise<Error | undefined>((resolve) =>
          client.setHandlers({
            onData(chunk) {
              if (upgrading) return void chunks.push(chunk);
              text += decoder.decode(chunk);
              if (text === "hello\n") client.write(encoder.encode("STARTTLS\n"));
              if (text === "hello\nGO\n") {
                upgrading = client.startTls({ ...trustingClient, serverName: "localhost" });
                client.write(encoder.encode("sealed before the handshake"));
                assert.ok(client.bufferedAmount > 0, "the write is held, and counted");
                client.end();
              }
            },
            onClose: resolve,
          })
        );
        client.write(encoder.encode("hello\n"));
        assert.equal(await within(closed, 10_000, "the echo"), undefined);
        await upgrading;
        assert.equal(decoder.decode(concat(chunks)), "sealed before the handshake");
        await server.listener.close();
      });
    } else {
      test("an accepted stream cannot upgrade: ENOTSUP, and it goes on in plaintext", async () => {
        const results: Promise<unknown>[] = [];
        const listener = await transport.listen({
          hostname: HOST,
          port: 0,
          onAccept(stream) {
            const refused = stream.startTls(goodServer);
            refused.catch(() => {}); // Asserted below.
            results.push(refused);
            stream.setHandlers({ onData: (c) => stream.write(c), onEnd: () => stream.end() });
          },
        });
        const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
        const side = observe(client);
        client.write(encoder.encode("still plain"));
        client.end();
        await within(side.closed, 10_000, "the plain echo");
        const error = await expectNetError(results[0], "ENOTSUP");
        assert.match(error.message, /cannot upgrade an accepted connection/);
        assert.equal(decoder.decode(concat(side.chunks)), "still plain");
        await listener.close();
      });
    }

    test("a server that never answers the handshake: TLS_HANDSHAKE_TIMEOUT, and the stream closes", async () => {
      const server = await startTlsServer(transport, { upgrade: false });
      const client = await transport.connect({ hostname: HOST, port: server.listener.addr.port });
      const upgrade = startTlsAsClient(client, { ...trustingClient, handshakeTimeoutMs: 300 });
      await within(expectNetError(upgrade, "TLS_HANDSHAKE_TIMEOUT"), 10_000, "the timeout");
      await within(
        new Promise<void>((resolve) => {
          const wait = () => (client.closed ? resolve() : setTimeout(wait, 5));
          wait();
        }),
        5000,
        "the close",
      );
      for (const s of server.accepted) s.reset();
      await server.listener.close();
    });

    test("a server that answers in plaintext after GO fails the upgrade with a TLS code", async () => {
      const server = await startTlsServer(transport, { upgrade: false });
      const client = await transport.connect({ hostname: HOST, port: server.listener.addr.port });
      const upgrade = startTlsAsClient(client, { ...trustingClient, serverName: "localhost" });
      // Once the ClientHello arrives, the client is in its handshake: talk plaintext at it.
      await within(
        new Promise<void>((resolve) => {
          const wait = () => (server.silent.bytesAfterGo > 0 ? resolve() : setTimeout(wait, 5));
          wait();
        }),
        5000,
        "the ClientHello",
      );
      server.accepted[0].write(encoder.encode("250 this is not TLS at all\r\n".repeat(4)));
      const error = await within(expectNetError(upgrade, "TLS_PROTOCOL"), 10_000, "the failure");
      assert.ok(error.message.length > 0);
      for (const s of server.accepted) s.reset();
      await server.listener.close();
    });

    test("a certificate for another name: CERT_NAME_MISMATCH", async () => {
      if (!transport.capabilities.serverStartTls) return; // The cross-runtime test covers Deno's client.
      const server = await startTlsServer(transport);
      const client = await transport.connect({ hostname: HOST, port: server.listener.addr.port });
      const upgrade = startTlsAsClient(client, { ...trustingClient, serverName: "not-localhost.test" });
      await within(expectNetError(upgrade, "CERT_NAME_MISMATCH"), 10_000, "the failure");
      for (const s of server.accepted) s.reset();
      await server.listener.close();
    });

    test("misuse: twice at once, after end(), on a TLS stream, and without a certificate", async () => {
      const serverSide: Promise<unknown>[] = [];
      const listener = await transport.listen({
        hostname: HOST,
        port: 0,
        onAccept(s) {
          s.setHandlers({});
          const refused = s.startTls({ cert: "not a certificate" } as never);
          refused.catch(() => {}); // Asserted below.
          serverSide.push(refused);
        },
      });
      const plain = await transport.connect({ hostname: HOST, port: listener.addr.port });
      plain.setHandlers({});
      const first = plain.startTls({ ...trustingClient, handshakeTimeoutMs: 200 });
      first.catch(() => {});
      await expectNetError(plain.startTls(trustingClient), "EALREADY");
      plain.reset();
      await assert.rejects(serverSide[0], (error: Error) => {
        assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
        assert.match(error.message, /TLS cert must be PEM text or its bytes, got "not a certificate"/);
        return true;
      });
      const ended = await transport.connect({ hostname: HOST, port: listener.addr.port });
      ended.end();
      await expectNetError(ended.startTls(trustingClient), "EPIPE");
      ended.reset();
      await listener.close();

      const tlsListener = await transport.listen({
        hostname: HOST,
        port: 0,
        tls: goodServer,
        onAccept: (s) => s.setHandlers({}),
      });
      const secure = await transport.connect({ hostname: HOST, port: tlsListener.addr.port, tls: trustingClient });
      await expectNetError(secure.startTls(trustingClient), "EALREADY");
      secure.reset();
      await tlsListener.close();
    });
  });
}
