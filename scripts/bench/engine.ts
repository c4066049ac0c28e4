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
 * the run. Memory per idle connection with the engine is measured by
 * scripts/bench/idle.ts --servers engine.
 *
 * Usage: deno run -A scripts/bench/engine.ts [--runtime deno,bun,node] [--connections 100]
 *        [--seconds 5] [--rounds 3]
 */
import process from "node:process";
import { argList, argNumber, commandFor, loadServer, median, type Runtime } from "./bench_util.ts";
import type { LoadResult } from "./load_client.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const seconds = argNumber("seconds", 5);
const rounds = argNumber("rounds", 3);

const servers = {
  raw: ["scripts/bench/raw_echo_server.ts", []],
  "raw-lp4": ["scripts/bench/raw_echo_server.ts", ["--framing", "lp4"]],
  engine: ["examples/echo_engine.ts", ["--framing", "lp4"]],
} as const;

const results: (LoadResult & { runtime: Runtime; server: string })[] = [];
for (let round = 0; round < rounds; round++) {
  for (const runtime of runtimes) {
    for (const [server, [file, extra]] of Object.entries(servers)) {
      const r = await loadServer(commandFor(runtime, file, ["--port", "0", ...extra]), { connections, seconds });
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
  `\nEngine echo (lp4) vs raw runtime echo: ${connections} connections, 16 in flight, 64 B, ${seconds} s x ${rounds} rounds (median)\n`,
);
console.log(
  "| runtime | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | CPU vs raw | p99 vs raw | CPU vs raw-lp4 | p99 vs raw-lp4 | errors |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const runtime of runtimes) {
  const pick = (s: string) => results.filter((r) => r.runtime === runtime && r.server === s);
  const rawCpu = median(pick("raw").map((r) => r.cpuUsPerMsg));
  const rawP99 = median(pick("raw").map((r) => r.p99us));
  const floorCpu = median(pick("raw-lp4").map((r) => r.cpuUsPerMsg));
  const floorP99 = median(pick("raw-lp4").map((r) => r.p99us));
  for (const server of Object.keys(servers)) {
    const rs = pick(server);
    const cpu = median(rs.map((r) => r.cpuUsPerMsg));
    const p99 = median(rs.map((r) => r.p99us));
    console.log(
      `| ${runtime} | ${server} | ${Math.round(median(rs.map((r) => r.msgsPerSec)))} | ${
        median(rs.map((r) => r.p50us)).toFixed(0)
      } | ` +
        `${p99.toFixed(0)} | ${cpu.toFixed(2)} | ${(cpu / rawCpu).toFixed(3)}x | ${(p99 / rawP99).toFixed(3)}x | ` +
        `${(cpu / floorCpu).toFixed(3)}x | ${(p99 / floorP99).toFixed(3)}x | ` +
        `${rs.reduce((a, r) => a + r.byteErrors, 0)} |`,
    );
  }
}
process.exit(results.some((r) => r.byteErrors > 0) ? 1 : 0);
