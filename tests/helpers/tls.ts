/**
 * The TLS test fixtures (tests/fixtures/tls, written by scripts/make_test_certs.ts), and a
 * transport that adds TLS to every listen and connect of another, so that a suite written for
 * plain streams runs again over TLS.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TlsClientOptions, TlsServerOptions, Transport } from "../../src/runtime/types.ts";
import { tlsTransport } from "../../src/runtime/tls_transport.ts";

/** The fixtures folder, found from here in the source tree and in the npm build alike. */
function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (true) {
    const candidate = join(dir, "tests", "fixtures", "tls");
    if (existsSync(join(candidate, "ca.pem"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("tests/fixtures/tls is missing: run scripts/make_test_certs.ts");
    dir = parent;
  }
}

const dir = fixturesDir();

/** The path of one fixture file, for a tool such as openssl. */
export function fixtureFile(name: string): string {
  return join(dir, name);
}

/** One fixture file's text, such as `ca.pem`. */
export function fixture(name: string): string {
  return readFileSync(join(dir, name), "utf8");
}

/** The names of the fixture pairs: `localhost` is the good server leaf. */
export type CertName = "localhost" | "other_name" | "expired" | "self_signed" | "client";

/** A certificate and its key. */
export function certPair(name: CertName): { cert: string; key: string } {
  return { cert: fixture(`${name}.pem`), key: fixture(`${name}.key`) };
}

/** The test CA. */
export const testCa: string = fixture("ca.pem");

/** A server that the test CA vouches for, as localhost, 127.0.0.1 and ::1. */
export const goodServer: TlsServerOptions = certPair("localhost");

/** A client that trusts the test CA. */
export const trustingClient: TlsClientOptions = { ca: testCa };

/**
 * `inner` with `server` added to every listen and `client` to every connect; a transport
 * without TLS is returned as it is, so that its refusal can be tested.
 */
export function withTls(
  inner: Transport,
  server: TlsServerOptions = goodServer,
  client: TlsClientOptions = trustingClient,
): Transport {
  if (!inner.capabilities.tls) {
    return {
      name: inner.name,
      capabilities: inner.capabilities,
      listen: (options) => inner.listen({ tls: server, ...options }),
      connect: (options) => inner.connect({ tls: client, ...options }),
      bindDatagram: (options) => inner.bindDatagram(options),
    };
  }
  return tlsTransport(inner, { server, client });
}
