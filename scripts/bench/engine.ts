/**
 * Engine benchmark: the engine echo with 4-byte length frames (examples/echo_engine.ts
 * --framing lp4) against two baselines on the runtime's own API, on each runtime, in
 * alternating rounds (scripts/bench/raw_echo_server.ts):
 *
 * - `raw`: every chunk read is written back, without parsing frames;
 * - `raw-lp4`: the least a framed echo can do, by hand: frames cut as views, each reply
 *   encoded into a batch, one write per read. No library can do less and still hand frames
 *   to a handler, so it is the floor for the engine.
 *
 * Reports server CPU per message and p99 latency as ratios to `raw` and to `raw-lp4`, within
 * the run: the ratio of the medians, and against `raw-lp4` also the median of each round's
 * ratio. Memory per idle connection with the engine is measured by
 * scripts/bench/idle.ts --servers engine.
 *
 * Usage: deno run -A scripts/bench/engine.ts [--runtime deno,bun,node] [--connections 100]
 *        [--seconds 5] [--rounds 3] [--in-flight 16]
 */
import process from "node:process";
import { argList, argNumber, medianOf, pairedRatio, runRounds, type Runtime } from "./bench_util.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const seconds = argNumber("seconds", 5);
const rounds = argNumber("rounds", 3);
const inFlight = argNumber("in-flight", 16);

const servers = {
  raw: ["scripts/bench/raw_echo_server.ts", []],
  "raw-lp4": ["scripts/bench/raw_echo_server.ts", ["--framing", "lp4"]],
  engine: ["examples/echo_engine.ts", ["--framing", "lp4"]],
} as const;

const results = await runRounds(servers, runtimes, rounds, { connections, seconds, inFlight });

console.log(
  `\nEngine echo (lp4) vs raw runtime echo: ${connections} connections, ${inFlight} in flight, 64 B, ${seconds} s x ${rounds} rounds (median)\n`,
);
console.log(
  "| runtime | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | CPU vs raw | p99 vs raw | CPU vs raw-lp4 | p99 vs raw-lp4 | " +
    "CPU vs raw-lp4, per round | p99 vs raw-lp4, per round | errors |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const runtime of runtimes) {
  const raw = medianOf(results, runtime, "raw");
  const floor = medianOf(results, runtime, "raw-lp4");
  for (const server of Object.keys(servers)) {
    const m = medianOf(results, runtime, server);
    console.log(
      `| ${runtime} | ${server} | ${Math.round(m.msgsPerSec)} | ${m.p50us.toFixed(0)} | ${m.p99us.toFixed(0)} | ` +
        `${m.cpuUsPerMsg.toFixed(2)} | ${(m.cpuUsPerMsg / raw.cpuUsPerMsg).toFixed(3)}x | ` +
        `${(m.p99us / raw.p99us).toFixed(3)}x | ${(m.cpuUsPerMsg / floor.cpuUsPerMsg).toFixed(3)}x | ` +
        `${(m.p99us / floor.p99us).toFixed(3)}x | ` +
        `${pairedRatio(results, runtime, server, "raw-lp4", (r) => r.cpuUsPerMsg).toFixed(3)}x | ` +
        `${pairedRatio(results, runtime, server, "raw-lp4", (r) => r.p99us).toFixed(3)}x | ${m.byteErrors} |`,
    );
  }
}
process.exit(results.some((r) => r.byteErrors > 0) ? 1 : 0);
