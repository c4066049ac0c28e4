/**
 * TLS benchmark: the engine's lp4 echo over TLS (examples/echo_engine.ts with `--tls-cert`)
 * against the hand-written lp4 echo on each runtime's own TLS API
 * (scripts/bench/raw_echo_server.ts with `--tls-cert`), in alternating rounds, with the load
 * client connecting over TLS. Reports server CPU per message and p99 latency, and the ratio of
 * the engine to the hand-written floor within the run. The certificate is the ECDSA P-256
 * test leaf of tests/fixtures/tls.
 *
 * Usage: deno run -A scripts/bench/tls.ts [--runtime deno,bun,node] [--connections 100]
 *        [--seconds 3] [--rounds 3]
 */
import process from "node:process";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { argList, argNumber, commandFor, loadServer, median, root, type Runtime } from "./bench_util.ts";
import type { LoadResult } from "./load_client.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const seconds = argNumber("seconds", 3);
const rounds = argNumber("rounds", 3);

const certs = join(root, "tests/fixtures/tls");
const tlsArgs = ["--tls-cert", join(certs, "localhost.pem"), "--tls-key", join(certs, "localhost.key")];
const tls = { ca: readFileSync(join(certs, "ca.pem"), "utf8") };

const servers = {
  "raw-lp4-tls": ["scripts/bench/raw_echo_server.ts", ["--framing", "lp4", ...tlsArgs]],
  "engine-tls": ["examples/echo_engine.ts", ["--framing", "lp4", ...tlsArgs]],
} as const;

const results: (LoadResult & { runtime: Runtime; server: string })[] = [];
for (let round = 0; round < rounds; round++) {
  for (const runtime of runtimes) {
    for (const [server, [file, extra]] of Object.entries(servers)) {
      const r = await loadServer(commandFor(runtime, file, ["--port", "0", ...extra]), { connections, seconds, tls });
      results.push({ runtime, server, ...r });
      console.error(
        `round ${round + 1} ${runtime} ${server}: ${r.cpuUsPerMsg.toFixed(2)} us/msg, p99 ${
          r.p99us.toFixed(0)
        } us, errors ${r.byteErrors}`,
      );
    }
  }
}

console.log(
  `\nlp4 echo over TLS: ${connections} connections, 16 in flight, 64 B, ${seconds} s x ${rounds} rounds (median)\n`,
);
console.log(
  "| runtime | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | CPU vs floor | p99 vs floor | errors |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
for (const runtime of runtimes) {
  const pick = (s: string) => results.filter((r) => r.runtime === runtime && r.server === s);
  const floorCpu = median(pick("raw-lp4-tls").map((r) => r.cpuUsPerMsg));
  const floorP99 = median(pick("raw-lp4-tls").map((r) => r.p99us));
  for (const server of Object.keys(servers)) {
    const rs = pick(server);
    const cpu = median(rs.map((r) => r.cpuUsPerMsg));
    const p99 = median(rs.map((r) => r.p99us));
    console.log(
      `| ${runtime} | ${server} | ${Math.round(median(rs.map((r) => r.msgsPerSec)))} | ${
        median(rs.map((r) => r.p50us)).toFixed(0)
      } | ${p99.toFixed(0)} | ${cpu.toFixed(2)} | ${(cpu / floorCpu).toFixed(3)}x | ${(p99 / floorP99).toFixed(3)}x | ${
        rs.reduce((a, r) => a + r.byteErrors, 0)
      } |`,
    );
  }
}
process.exit(results.some((r) => r.byteErrors > 0) ? 1 : 0);
