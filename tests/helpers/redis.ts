/**
 * A real Redis server (Debian's `redis-server` package) for a test: started in the
 * foreground on an ephemeral port of 127.0.0.1, with no persistence, and stopped by the test.
 * The test's set-up installs the package (scripts/test_matrix.ts); without it the test fails
 * and says how to install it.
 */
import { spawn } from "node:child_process";
import { requireServer } from "./servers.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultTransport } from "../../src/runtime/detect.ts";

/** Throws with the install command if the `redis-server` binary is missing. */
export function requireRedis(): void {
  requireServer("redis-server", ["--version"], "redis-server");
}

/** How to start the server. */
export interface RedisServerOptions {
  /** `--requirepass`. */
  password?: string;
  /** Serve TLS only, with these files (PEM paths). */
  tls?: { cert: string; key: string; ca: string };
  /** Reuse this port (to restart a stopped server where clients expect it). */
  port?: number;
  /** More configuration, as `redis-server` arguments (`--client-output-buffer-limit`, …). */
  extraArgs?: string[];
}

/** A running server. */
export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:PORT` (or `rediss://` with TLS, with the password if any). */
  url: string;
  pid: number;
  /** Stops it (SIGTERM, or SIGKILL when `kill`), and waits until it has exited. */
  stop(kill?: boolean): Promise<void>;
}

async function freePort(): Promise<number> {
  const transport = await defaultTransport();
  const listener = await transport.listen({ hostname: "127.0.0.1", port: 0, onAccept: (s) => s.reset() });
  const port = listener.addr.port;
  await listener.close();
  return port;
}

/** Starts `redis-server` and waits until it accepts connections. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  requireRedis();
  const port = options.port ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), "sockmodels-redis-"));
  const args = [
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--loglevel",
    "notice",
    ...(options.password ? ["--requirepass", options.password] : []),
    ...(options.extraArgs ?? []),
    ...(options.tls
      ? [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        options.tls.cert,
        "--tls-key-file",
        options.tls.key,
        "--tls-ca-cert-file",
        options.tls.ca,
        "--tls-auth-clients",
        "no",
      ]
      : ["--port", String(port)]),
  ];
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${log}`)), 10_000);
    const onData = (d: Uint8Array) => {
      log += new TextDecoder().decode(d);
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code} before it was ready:\n${log}`));
    });
  });
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    pid: child.pid!,
    url: `${options.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`,
    async stop(kill = false) {
      if (child.exitCode === null && child.signalCode === null) child.kill(kill ? "SIGKILL" : "SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
