/**
 * TLS benchmark: the engine's lp4 echo over TLS (examples/echo_engine.ts with `--tls-cert`)
 * against the hand-written lp4 echo on each runtime's own TLS API
 * (scripts/bench/raw_echo_server.ts with `--tls-cert`), in alternating rounds, in three parts:
 *
 * - `cpu`: the echo load over TLS; server CPU per message and p99 latency.
 * - `handshakes`: full handshakes per second, a fresh connection each (connect, TLS 1.3
 *   handshake, one echoed byte, reset), 16 at a time from a Node client
 *   (tls_handshake_client.ts), and the server's CPU per handshake.
 * - `idle`: server memory per TLS connection after one exchange, at `--idle-connections`.
 *
 * Each reports the engine against the hand-written floor within the run. The certificate is
 * the ECDSA P-256 test leaf of tests/fixtures/tls.
 *
 * Usage: deno run -A scripts/bench/tls.ts [--runtime deno,bun,node] [--parts cpu,handshakes,idle]
 *        [--connections 100] [--seconds 3] [--rounds 3] [--idle-connections 2000]
 */
import process from "node:process";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { lengthPrefixed } from "../../src/framing/mod.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import {
  argList,
  argNumber,
  commandFor,
  cpuSeconds,
  median,
  medianOf,
  receiveBytes,
  root,
  rssBytes,
  runRounds,
  type Runtime,
  settledRss,
  sleep,
  startServer,
} from "./bench_util.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const seconds = argNumber("seconds", 3);
const rounds = argNumber("rounds", 3);
const parts = argList("parts", "cpu,handshakes,idle");
const idleConnections = argNumber("idle-connections", 2000);

const certs = join(root, "tests/fixtures/tls");
const tlsArgs = ["--tls-cert", join(certs, "localhost.pem"), "--tls-key", join(certs, "localhost.key")];
const tls = { ca: readFileSync(join(certs, "ca.pem"), "utf8") };

const servers = {
  "raw-lp4-tls": ["scripts/bench/raw_echo_server.ts", ["--framing", "lp4", ...tlsArgs]],
  "engine-tls": ["examples/echo_engine.ts", ["--framing", "lp4", ...tlsArgs]],
} as const;

let failed = false;
if (parts.includes("cpu")) {
  const results = await runRounds(servers, runtimes, rounds, { connections, seconds, tls });

  console.log(
    `\nlp4 echo over TLS: ${connections} connections, 16 in flight, 64 B, ${seconds} s x ${rounds} rounds (median)\n`,
  );
  console.log(
    "| runtime | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | CPU vs floor | p99 vs floor | errors |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const runtime of runtimes) {
    const floor = medianOf(results, runtime, "raw-lp4-tls");
    for (const server of Object.keys(servers)) {
      const m = medianOf(results, runtime, server);
      console.log(
        `| ${runtime} | ${server} | ${Math.round(m.msgsPerSec)} | ${m.p50us.toFixed(0)} | ${m.p99us.toFixed(0)} | ` +
          `${m.cpuUsPerMsg.toFixed(2)} | ${(m.cpuUsPerMsg / floor.cpuUsPerMsg).toFixed(3)}x | ` +
          `${(m.p99us / floor.p99us).toFixed(3)}x | ${m.byteErrors} |`,
      );
    }
  }
  if (results.some((r) => r.byteErrors > 0)) failed = true;
}

const transport = await defaultTransport();
const lp4 = lengthPrefixed({ lengthFieldLength: 4 });

/**
 * Runs the handshake client (scripts/bench/tls_handshake_client.ts, on Node) against `port`
 * for `ms`: a fresh connection each, 16 at a time.
 */
function handshakeLoad(port: number, ms: number): Promise<{ done: number; errors: number; seconds: number }> {
  const cmd = commandFor("node", "scripts/bench/tls_handshake_client.ts", [
    "--port",
    String(port),
    "--ca",
    join(certs, "ca.pem"),
    "--ms",
    String(ms),
  ]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    child.once("exit", (code) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`The handshake client exited with ${code}: ${out}`));
    });
  });
}

if (parts.includes("handshakes")) {
  const runs: { runtime: Runtime; server: string; perSec: number; cpuUs: number; errors: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const runtime of runtimes) {
      for (const [server, [file, extra]] of Object.entries(servers)) {
        const srv = await startServer(commandFor(runtime, file, ["--port", "0", ...extra]));
        try {
          await handshakeLoad(srv.port, 300); // warm up
          const cpu0 = cpuSeconds(srv.child.pid!);
          const { done, errors, seconds: elapsed } = await handshakeLoad(srv.port, seconds * 1000);
          const cpuUs = (cpuSeconds(srv.child.pid!) - cpu0) * 1e6 / Math.max(1, done);
          runs.push({ runtime, server, perSec: done / elapsed, cpuUs, errors });
          console.error(
            `round ${round + 1} ${runtime} ${server}: ${(done / elapsed).toFixed(0)} handshakes/s, ` +
              `${cpuUs.toFixed(0)} us CPU each, ${errors} errors`,
          );
        } finally {
          await srv.stop();
        }
      }
    }
  }
  console.log(
    `\nFull TLS handshakes (TLS 1.3, ECDSA P-256), a fresh connection each, 16 at a time, ${seconds} s x ${rounds} rounds (median)\n`,
  );
  console.log("| runtime | server | handshakes/s | server CPU µs/handshake | rate vs floor | CPU vs floor | errors |");
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const runtime of runtimes) {
    const of = (server: string) => runs.filter((r) => r.runtime === runtime && r.server === server);
    const floor = median(of("raw-lp4-tls").map((r) => r.perSec));
    const floorCpu = median(of("raw-lp4-tls").map((r) => r.cpuUs));
    for (const server of Object.keys(servers)) {
      const rs = of(server);
      const perSec = median(rs.map((r) => r.perSec));
      const cpuUs = median(rs.map((r) => r.cpuUs));
      const errors = rs.reduce((n, r) => n + r.errors, 0);
      if (errors > 0) failed = true;
      console.log(
        `| ${runtime} | ${server} | ${perSec.toFixed(0)} | ${cpuUs.toFixed(0)} | ` +
          `${(perSec / floor).toFixed(3)}x | ${(cpuUs / floorCpu).toFixed(3)}x | ${errors} |`,
      );
    }
  }
}

/** Opens `count` TLS connections, 100 at a time, each echoing one lp4 frame; they stay open. */
async function openTalkedConnections(port: number, count: number): Promise<Stream[]> {
  const streams: Stream[] = [];
  const frame = lp4.encode(new Uint8Array(64));
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, count - i) }, async () => {
      const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 30_000, tls });
      const echoed = receiveBytes(stream, frame.byteLength);
      stream.write(frame);
      await echoed;
      stream.setHandlers({});
      return stream;
    }));
    streams.push(...batch);
  }
  return streams;
}

if (parts.includes("idle")) {
  const rows: { runtime: Runtime; server: string; kib: number }[] = [];
  for (const runtime of runtimes) {
    for (const [server, [file, extra]] of Object.entries(servers)) {
      const srv = await startServer(commandFor(runtime, file, ["--port", "0", ...extra]));
      let streams: Stream[] = [];
      try {
        await sleep(1000);
        const before = rssBytes(srv.child.pid!);
        streams = await openTalkedConnections(srv.port, idleConnections);
        const kib = (await settledRss(srv.child.pid!) - before) / idleConnections / 1024;
        rows.push({ runtime, server, kib });
        console.error(`${runtime} ${server}: ${kib.toFixed(2)} KiB per idle TLS connection`);
      } finally {
        for (const s of streams) s.reset();
        await srv.stop();
        await sleep(500);
      }
    }
  }
  console.log(
    `\nMemory per idle TLS connection after one exchange, ${idleConnections} connections (server RSS delta)\n`,
  );
  console.log("| runtime | server | KiB per connection | vs floor |");
  console.log("|---|---|---:|---:|");
  for (const runtime of runtimes) {
    const floor = rows.find((r) => r.runtime === runtime && r.server === "raw-lp4-tls")!.kib;
    for (const r of rows.filter((r) => r.runtime === runtime)) {
      console.log(`| ${runtime} | ${r.server} | ${r.kib.toFixed(2)} | ${(r.kib / floor).toFixed(2)}x |`);
    }
  }
}
process.exit(failed ? 1 : 0);
