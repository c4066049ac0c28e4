/**
 * The resilience kit over TLS, on real sockets: connectWithTimeout, happyEyeballs and
 * ReconnectingClient pass `tls` down, check the certificate against the name they were given
 * (not the address it resolved to), and do not retry a certificate error.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectWithTimeout } from "../../src/resilience/connect.ts";
import { ReconnectingClient } from "../../src/resilience/reconnect.ts";
import type { Resolver } from "../../src/resilience/resolve.ts";
import { isRetryableError } from "../../src/resilience/retry.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { NetError } from "../../src/runtime/errors.ts";
import type { Listener, Stream, TlsServerOptions } from "../../src/runtime/types.ts";
import { certPair, trustingClient } from "../helpers/tls.ts";
import { concat, observe, within } from "../helpers/net.ts";

const transport = await defaultTransport();
const otherName: TlsServerOptions = certPair("other_name");
/** Resolves the certificate's name to the loopback address, as DNS would. */
const toLoopback: Resolver = (_hostname, { family }) => Promise.resolve(family === 4 ? ["127.0.0.1"] : []);

/** An echo server with `tls`; `accepted` counts the handshakes that finished. */
async function tlsEcho(tls: TlsServerOptions): Promise<{ listener: Listener; accepted: Stream[] }> {
  const accepted: Stream[] = [];
  const listener = await transport.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    onAccept(stream) {
      accepted.push(stream);
      stream.setHandlers({ onData: (chunk) => stream.write(chunk), onEnd: () => stream.end() });
    },
  });
  return { listener, accepted };
}

/** The NetError code of `error`, or of the only attempt an AggregateError holds. */
function codeOf(error: unknown): string | undefined {
  if (error instanceof NetError) return error.code;
  if (error instanceof AggregateError && error.errors.length > 0) return codeOf(error.errors[0]);
  return undefined;
}

describe(`resilience over TLS on ${transport.name}`, () => {
  test("connectWithTimeout verifies the name it was given, not the address it resolved to", async () => {
    const server = await tlsEcho(otherName);
    const port = server.listener.addr.port;
    const options = { transport, resolver: toLoopback, timeoutMs: 10_000, tls: trustingClient };
    const stream = await connectWithTimeout("other.example", port, options);
    assert.ok(stream.tls, "the stream speaks TLS");
    const side = observe(stream);
    stream.write(new TextEncoder().encode("over tls"));
    stream.end();
    await within(side.closed, 10_000, "the echo");
    assert.equal(new TextDecoder().decode(concat(side.chunks)), "over tls");

    // The same address under a name the certificate does not hold fails as a name mismatch.
    const wrongName = connectWithTimeout("wrong.example", port, options);
    const error = await wrongName.then(() => undefined, (e: unknown) => e);
    assert.equal(codeOf(error), "CERT_NAME_MISMATCH", String(error));
    assert.equal(isRetryableError(error), false, "a certificate error is not retried");
    for (const s of server.accepted) s.reset();
    await server.listener.close();
  });

  test("ReconnectingClient talks over TLS, and gives up at once on an untrusted certificate", async () => {
    const server = await tlsEcho(otherName);
    const port = server.listener.addr.port;
    const received: string[] = [];
    const client = new ReconnectingClient({
      addresses: [{ hostname: "other.example", port }],
      transport,
      resolver: toLoopback,
      tls: trustingClient,
      onMessage: (chunk) => received.push(new TextDecoder().decode(chunk)),
    });
    client.start();
    await within(client.connected(), 10_000, "the TLS connection");
    client.send(new TextEncoder().encode("ping"));
    await within(
      new Promise<void>((resolve) => {
        const wait = () => (received.join("") === "ping" ? resolve() : setTimeout(wait, 5));
        wait();
      }),
      10_000,
      "the echo",
    );
    await client.stop();

    // Without the test CA the certificate is untrusted: one attempt, no backoff loop.
    const untrusting = new ReconnectingClient({
      addresses: [{ hostname: "other.example", port }],
      transport,
      resolver: toLoopback,
      tls: {},
      backoff: { baseMs: 1, capMs: 2 },
    });
    untrusting.start();
    const failure = await within(untrusting.finished, 10_000, "the give-up");
    assert.equal(codeOf(failure), "CERT_UNTRUSTED", String(failure));
    assert.equal(untrusting.stats.connectFailures, 1);
    for (const s of server.accepted) s.reset();
    await server.listener.close();
  });
});
