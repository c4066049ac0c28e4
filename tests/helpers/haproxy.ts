/**
 * A real HAProxy (Debian's `haproxy` package) in front of a test server: TCP mode, listening on
 * an ephemeral port of 127.0.0.1 and ::1, sending a PROXY header to the backend. The test's
 * set-up installs the package (scripts/test_matrix.ts); without it the test fails and says how
 * to install it.
 */
import { spawn } from "node:child_process";
import { requireServer } from "./servers.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultTransport } from "../../src/runtime/detect.ts";

/** How HAProxy speaks to the backend. */
export interface HaproxyOptions {
  backendPort: number;
  /** `send-proxy` (v1) or `send-proxy-v2`. */
  send: "send-proxy" | "send-proxy-v2";
  /** For v2: `crc32c,unique-id`, say. */
  v2Options?: string;
}

/** A running HAProxy: the port it listens on (both addresses), and how to stop it. */
export interface Haproxy {
  port: number;
  stop(): Promise<void>;
}

/** Throws with the install command if the `haproxy` binary is missing. */
export function requireHaproxy(): void {
  requireServer("haproxy", ["-v"], "haproxy");
}

/** An ephemeral port free on both 127.0.0.1 and ::1 a moment ago. */
async function freePort(): Promise<number> {
  const transport = await defaultTransport();
  for (let attempt = 0; attempt < 20; attempt++) {
    const v4 = await transport.listen({ hostname: "127.0.0.1", port: 0, onAccept: (s) => s.reset() });
    const port = v4.addr.port;
    try {
      const v6 = await transport.listen({ hostname: "::1", port, onAccept: (s) => s.reset() });
      await v6.close();
      return port;
    } catch {
      // Taken on ::1; try another.
    } finally {
      await v4.close();
    }
  }
  throw new Error("No port was free on both 127.0.0.1 and ::1 in 20 tries");
}

/** Starts HAProxy in the foreground and waits until it accepts connections. */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  requireHaproxy();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "sockmodels-haproxy-"));
  const config = join(dir, "haproxy.cfg");
  const send = options.v2Options ? `${options.send} proxy-v2-options ${options.v2Options}` : options.send;
  writeFileSync(
    config,
    [
      "defaults",
      "  mode tcp",
      "  timeout connect 5s",
      "  timeout client 30s",
      "  timeout server 30s",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      `  bind [::1]:${port}`,
      "  unique-id-format %{+X}o%ci:%cp_%Ts_%rt",
      "  default_backend be",
      "backend be",
      `  server s1 127.0.0.1:${options.backendPort} ${send}`,
      "",
    ].join("\n"),
  );
  const child = spawn("haproxy", ["-db", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const transport = await defaultTransport();
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`haproxy exited with ${child.exitCode}: ${stderr}`);
    }
    try {
      const probe = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 1000 });
      probe.reset();
      return { port, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not listen on ${port} within 10 s: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
