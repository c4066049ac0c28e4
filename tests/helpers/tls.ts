/**
 * The TLS test fixtures (tests/fixtures/tls, written by scripts/make_test_certs.ts), and a
 * transport that adds TLS to every listen and connect of another, so that a suite written for
 * plain streams runs again over TLS.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TlsClientOptions, TlsServerOptions, Transport } from "../../src/runtime/types.ts";
import { tlsTransport } from "../../src/runtime/tls_transport.ts";
import type { RuntimeName } from "../../src/runtime/detect.ts";
import { runtimeExecutable } from "../../src/cli/cli_location.ts";

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

/** A tls_peer.ts process: its port, and `close()` to end it. */
export interface TlsPeer {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts tests/helpers/tls_peer.ts under `runtime` in `mode` ("tls" or "starttls"). Deno and
 * Bun run the source; Node runs the npm build, which the test run makes first.
 */
export async function startTlsPeer(runtime: RuntimeName, mode: "tls" | "starttls"): Promise<TlsPeer> {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.endsWith(".js");
  const root = compiled ? join(dirname(here), "..", "..", "..", "..") : join(dirname(here), "..", "..");
  const entry = runtime === "node"
    ? join(root, "npm", "esm", "tests", "helpers", "tls_peer.js")
    : join(root, "tests", "helpers", "tls_peer.ts");
  const command = runtimeExecutable(runtime);
  const args = runtime === "deno" ? ["run", "-A", entry, mode] : [entry, mode];
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  child.stderr.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const until = Date.now() + 20_000;
  while (!/^\d+\n/.test(out)) {
    if (Date.now() > until || child.exitCode !== null) {
      child.kill();
      throw new Error(`The ${runtime} TLS peer did not start: ${err || out || "no output"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    port: Number.parseInt(out, 10),
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
