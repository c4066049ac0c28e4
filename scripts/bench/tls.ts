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
import { argList, argNumber, medianOf, root, runRounds, type Runtime } from "./bench_util.ts";

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
process.exit(results.some((r) => r.byteErrors > 0) ? 1 : 0);
