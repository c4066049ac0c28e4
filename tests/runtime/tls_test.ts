/**
 * TLS on every transport that has it here: what a handshake reports, and one error code for
 * each way a handshake fails, produced by real bad certificates on real sockets.
 */
import { describe, test } from "node:test";
import { spawn } from "node:child_process";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { availableTransports, detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import type { Listener, Stream, TlsClientOptions, TlsServerOptions, Transport } from "../../src/runtime/types.ts";
import { concat, observe, randomBytes, sleep, within } from "../helpers/net.ts";
import { certPair, fixtureFile, goodServer, testCa, trustingClient } from "../helpers/tls.ts";

const caFile = fixtureFile("ca.pem");

const HOST = "127.0.0.1";

interface Server {
  listener: Listener;
  accepted: Stream[];
  errors: NetError[];
}

async function echoServer(transport: Transport, tls: TlsServerOptions): Promise<Server> {
  const accepted: Stream[] = [];
  const errors: NetError[] = [];
  const listener = await transport.listen({
    hostname: HOST,
    port: 0,
    tls,
    onAccept(s) {
      accepted.push(s);
      s.setHandlers({ onData: (c) => s.write(c), onEnd: () => s.end() });
    },
    onError: (e) => errors.push(e),
  });
  return { listener, accepted, errors };
}

async function connectFails(
  transport: Transport,
  port: number,
  tls: TlsClientOptions,
  code: string,
): Promise<NetError> {
  try {
    const s = await transport.connect({ hostname: HOST, port, tls, timeoutMs: 5000 });
    s.reset();
  } catch (error) {
    assert.ok(error instanceof NetError, `expected a NetError, got ${String(error)}`);
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    assert.ok(
      error.cause !== undefined || code === "TLS_HANDSHAKE_TIMEOUT",
      "the runtime's error is kept as the cause",
    );
    return error;
  }
  assert.fail(`expected ${code}, but the handshake succeeded`);
}

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const transports: Transport[] = [];
for (const name of availableTransports()) {
  if (name === "memory") continue;
  const transport = await loadTransport(name);
  if (transport.capabilities.tls) transports.push(transport);
}

test(`TLS is available on ${detectRuntime()}'s own transport`, () => {
  assert.ok(transports.some((t) => t.name === detectRuntime()), `no TLS on the ${detectRuntime()} transport`);
});

for (const transport of transports) {
  describe(`TLS on the ${transport.name} transport on ${detectRuntime()}`, () => {
    test("an echo of 1 MiB each way reports protocol, ALPN and the server name", async () => {
      const server = await echoServer(transport, { ...goodServer, alpnProtocols: ["chat/2", "chat/1"] });
      const client = await transport.connect({
        hostname: HOST,
        port: server.listener.addr.port,
        tls: { ...trustingClient, serverName: "localhost", alpnProtocols: ["chat/1"] },
      });
      const side = observe(client);
      const payload = randomBytes(1 << 20);
      client.write(payload);
      client.end();
      await within(side.closed, 20_000, "the echo");
      assert.equal(side.error, undefined);
      assert.deepEqual(concat(side.chunks), payload);
      assert.equal(client.tls?.alpnProtocol, "chat/1");
      assert.equal(client.tls?.serverName, "localhost");
      assert.equal(server.accepted[0].tls?.alpnProtocol, "chat/1");
      if (transport.name !== "deno") {
        assert.match(client.tls?.protocol ?? "", /^TLSv1\.[23]$/);
        assert.ok(client.tls?.cipher, "a cipher is reported");
        assert.equal(client.tls?.peerCertificate?.subject, "CN=localhost");
        assert.ok(client.tls?.peerCertificate?.subjectAltNames.includes("DNS:localhost"));
        assert.ok(client.tls!.peerCertificate!.validTo.getTime() > Date.now());
      }
      await server.listener.close();
    });

    test("openssl s_client, a real peer, negotiates ALPN and gets its bytes echoed", async () => {
      const server = await echoServer(transport, { ...goodServer, alpnProtocols: ["chat/1"] });
      const child = spawn("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${server.listener.addr.port}`,
        "-servername",
        "localhost",
        "-verify_return_error",
        "-alpn",
        "chat/1",
        "-CAfile",
        caFile,
        "-quiet",
      ], { stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      const exited = new Promise<number | null>((resolve) => {
        child.on("error", (e) => {
          err += `${e.message} (the test set-up installs openssl: see .ci/run)`;
          resolve(-1);
        });
        child.on("exit", (code) => resolve(code));
      });
      child.stdin.write("hello from openssl\n");
      await waitFor(() => out.includes("hello from openssl") || err.includes("openssl"), `the echo; stderr: ${err}`);
      // -quiet implies -ign_eof: s_client stays until it is told to go.
      child.kill();
      await within(exited, 5000, "openssl to exit");
      assert.match(out, /hello from openssl/, err);
      assert.equal(server.accepted[0]?.tls?.alpnProtocol, "chat/1");
      await server.listener.close();
    });

    test("a plain stream has no tls", async () => {
      const listener = await transport.listen({ hostname: HOST, port: 0, onAccept: (s) => s.close() });
      const client = await transport.connect({ hostname: HOST, port: listener.addr.port });
      assert.equal(client.tls, undefined);
      client.reset();
      await listener.close();
    });

    const failures: [string, TlsServerOptions, TlsClientOptions, string][] = [
      ["a CA the client does not trust", goodServer, { alpnProtocols: ["x"] }, "CERT_UNTRUSTED"],
      ["a certificate for another name", certPair("other_name"), trustingClient, "CERT_NAME_MISMATCH"],
      ["an expired certificate", certPair("expired"), trustingClient, "CERT_EXPIRED"],
      ["a self-signed certificate", certPair("self_signed"), trustingClient, "CERT_SELF_SIGNED"],
      [
        "no common ALPN protocol",
        { ...goodServer, alpnProtocols: ["a"] },
        { ...trustingClient, alpnProtocols: ["b"] },
        "ALPN_MISMATCH",
      ],
    ];
    for (const [what, serverTls, clientTls, code] of failures) {
      test(`${what} fails the connect with ${code}`, async () => {
        const server = await echoServer(transport, serverTls);
        await connectFails(transport, server.listener.addr.port, clientTls, code);
        assert.equal(server.accepted.filter((s) => !s.closed && s.tls?.alpnProtocol === "b").length, 0);
        await server.listener.close();
      });
    }

    test("the server names the certificate it was asked for by serverName", async () => {
      const server = await echoServer(transport, certPair("other_name"));
      const client = await transport.connect({
        hostname: HOST,
        port: server.listener.addr.port,
        tls: { ca: testCa, serverName: "other.example" },
      });
      assert.equal(client.tls?.serverName, "other.example");
      await client.close();
      await server.listener.close();
    });

    test("a server whose client never sends a ClientHello closes it with TLS_HANDSHAKE_TIMEOUT", async () => {
      const plain = await loadTransport(transport.name);
      const server = await echoServer(transport, { ...goodServer, handshakeTimeoutMs: 300 });
      const silent = await plain.connect({ hostname: HOST, port: server.listener.addr.port });
      const side = observe(silent);
      await waitFor(() => server.errors.length > 0, "the server's error");
      assert.equal(server.errors[0].code, "TLS_HANDSHAKE_TIMEOUT");
      assert.equal(server.accepted.length, 0);
      if (transport.name === "deno") {
        // Deno 2.9 does not close a TLS connection's socket while its handshake is pending
        // (docs/tls.md): the connection is given up and reported, and its socket stays open
        // until the client sends or leaves.
        silent.reset();
      } else {
        await within(side.closed, 5000, "the server to close the silent client");
      }
      await server.listener.close();
    });

    test("a server that never answers fails the connect with TLS_HANDSHAKE_TIMEOUT", async () => {
      const held: Stream[] = [];
      const listener = await transport.listen({ hostname: HOST, port: 0, onAccept: (s) => held.push(s) });
      const started = Date.now();
      await connectFails(
        transport,
        listener.addr.port,
        { ...trustingClient, handshakeTimeoutMs: 300 },
        "TLS_HANDSHAKE_TIMEOUT",
      );
      assert.ok(Date.now() - started < 3000, "the handshake deadline, not a longer one, ended it");
      for (const s of held) s.reset();
      await listener.close();
    });

    test("a plaintext client gets TLS_PROTOCOL at the server, and a TLS client of a plain server too", async () => {
      const plain = await loadTransport(transport.name);
      const server = await echoServer(transport, goodServer);
      const client = await plain.connect({ hostname: HOST, port: server.listener.addr.port });
      observe(client);
      client.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
      await waitFor(() => server.errors.length > 0, "the server's error");
      assert.equal(server.errors[0].code, "TLS_PROTOCOL");
      client.reset();
      await server.listener.close();

      const listener = await plain.listen({
        hostname: HOST,
        port: 0,
        onAccept(s) {
          s.setHandlers({});
          s.write(new TextEncoder().encode("220 plain greeting, not TLS\r\n"));
        },
      });
      await connectFails(transport, listener.addr.port, trustingClient, "TLS_PROTOCOL");
      await listener.close();
    });

    if (transport.capabilities.tlsClientCert) {
      test("mTLS: a client certificate is verified and reported to the server", async () => {
        const server = await echoServer(transport, { ...goodServer, ca: testCa, requestClientCert: true });
        const client = await transport.connect({
          hostname: HOST,
          port: server.listener.addr.port,
          tls: { ...trustingClient, ...certPair("client") },
        });
        const side = observe(client);
        client.write(new Uint8Array([1, 2, 3]));
        await waitFor(() => side.bytes === 3, "the echo");
        await waitFor(() => server.accepted.length === 1, "the accept");
        assert.equal(server.accepted[0].tls?.peerCertificate?.subject, "CN=test client");
        await client.close();
        await server.listener.close();
      });

      test("mTLS: a client without a certificate is refused with CERT_REQUIRED", async () => {
        const server = await echoServer(transport, { ...goodServer, ca: testCa, requestClientCert: true });
        // In TLS 1.3 the client may finish its side before the server refuses it: the refusal
        // then ends the stream instead of the connect.
        let clientError: NetError | undefined;
        try {
          const client = await transport.connect({
            hostname: HOST,
            port: server.listener.addr.port,
            tls: trustingClient,
          });
          const side = observe(client);
          client.write(new Uint8Array([1]));
          await within(side.closed, 5000, "the refusal");
          clientError = side.error;
        } catch (error) {
          clientError = error as NetError;
        }
        assert.equal(clientError?.code, "CERT_REQUIRED", String(clientError));
        await waitFor(() => server.errors.length > 0, "the server's error");
        assert.equal(server.errors[0].code, "CERT_REQUIRED");
        assert.equal(server.accepted.length, 0);
        await server.listener.close();
      });
    } else {
      test("a listener that cannot ask for client certificates refuses requestClientCert with ENOTSUP", async () => {
        await assert.rejects(
          transport.listen({ port: 0, tls: { ...goodServer, ca: testCa, requestClientCert: true }, onAccept() {} }),
          (e: unknown) => e instanceof NetError && e.code === "ENOTSUP",
        );
      });
    }

    if (transport.name === "deno") {
      test("insecure is refused with ENOTSUP, since Deno verifies every connection", async () => {
        await assert.rejects(
          transport.connect({ hostname: HOST, port: 1, tls: { insecure: true } }),
          (e: unknown) => e instanceof NetError && e.code === "ENOTSUP" && /unsafely-ignore/.test(e.message),
        );
      });
    } else {
      test("insecure skips verification of a self-signed server", async () => {
        const server = await echoServer(transport, certPair("self_signed"));
        const client = await transport.connect({
          hostname: HOST,
          port: server.listener.addr.port,
          tls: { insecure: true },
        });
        assert.equal(client.tls?.peerCertificate?.issuer, "CN=localhost");
        await client.close();
        await server.listener.close();
      });
    }

    test("bad TLS options get clear errors before anything is bound", async () => {
      await assert.rejects(
        transport.listen({ port: 0, tls: { cert: "not a pem", key: goodServer.key }, onAccept() {} }),
        /TLS cert must be PEM text or its bytes, got "not a pem"/,
      );
      await assert.rejects(
        transport.connect({ hostname: HOST, port: 1, tls: { alpnProtocols: [] } }),
        /ALPN protocols must be a non-empty list/,
      );
      await assert.rejects(
        transport.connect({ hostname: HOST, port: 1, tls: { cert: goodServer.cert } }),
        /needs both cert and key/,
      );
    });
  });
}
