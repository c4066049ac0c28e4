/**
 * Echo benchmark: the adapter's echo (examples/raw_echo.ts) against the runtime's own API
 * echo (scripts/bench/raw_echo_server.ts), on each runtime, under the same load.
 *
 * The load client is written on the adapter. It opens `--connections` connections, keeps
 * `--in-flight` 4-byte-length frames of `--payload` bytes pipelined on each, checks every byte
 * of every echoed frame, and measures round-trip latency. The server's CPU time (user + system,
 * from /proc) per echoed message is the figure to compare; ratios are taken within one run.
 *
 * `--pieces` adds the raw echo with each of the adapter's pieces on its own and with all of them
 * (`raw_echo_server.ts --with copy|fifo|hop`): what the consumer-owned read buffer, the write
 * queue and the microtask before each write cost, measured in the same rounds.
 *
 * Usage: deno run -A scripts/bench/echo.ts [--runtime deno,bun,node] [--connections 100]
 *        [--in-flight 16] [--payload 64] [--seconds 5] [--rounds 2] [--json out.json] [--pieces]
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { argList, argNumber, commandFor, loadServer, median, pairedRatio, type Runtime } from "./bench_util.ts";
import type { LoadResult } from "./load_client.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const inFlight = argNumber("in-flight", 16);
const payloadSize = argNumber("payload", 64);
const seconds = argNumber("seconds", 5);
const rounds = argNumber("rounds", 2);
const jsonPath = process.argv.includes("--json") ? process.argv[process.argv.indexOf("--json") + 1] : "";

interface Result extends LoadResult {
  runtime: Runtime;
  server: string;
}

/** The servers: the raw echo, with the adapter's pieces if asked, and the adapter. */
const servers: [string, string, string[]][] = [["raw", "scripts/bench/raw_echo_server.ts", []]];
if (process.argv.includes("--pieces")) {
  for (const pieces of ["copy", "fifo", "hop", "copy,fifo,hop"]) {
    servers.push([`raw+${pieces.replaceAll(",", "+")}`, "scripts/bench/raw_echo_server.ts", ["--with", pieces]]);
  }
}
servers.push(["adapter", "examples/raw_echo.ts", []]);

const results: Result[] = [];
for (let round = 0; round < rounds; round++) {
  for (const runtime of runtimes) {
    for (const [server, file, extra] of servers) {
      const r = await loadServer(commandFor(runtime, file, ["--port", "0", ...extra]), {
        connections,
        seconds,
        inFlight,
        payloadSize,
      });
      results.push({ runtime, server, ...r });
      console.error(
        `round ${round + 1} ${runtime} ${server}: ${Math.round(r.msgsPerSec)} msgs/s, ` +
          `${r.cpuUsPerMsg.toFixed(2)} us CPU/msg, p99 ${r.p99us.toFixed(0)} us, errors ${r.byteErrors}`,
      );
    }
  }
}

console.log(
  `\nEcho: ${connections} connections, ${inFlight} frames in flight, ${payloadSize} B payloads, ` +
    `${seconds} s x ${rounds} rounds (median); server CPU from /proc\n`,
);
console.log(
  "| runtime | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | CPU vs raw | CPU vs raw, per round | byte errors |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
for (const runtime of runtimes) {
  const pick = (server: string) => results.filter((r) => r.runtime === runtime && r.server === server);
  const rawCpu = median(pick("raw").map((r) => r.cpuUsPerMsg));
  for (const [server] of servers) {
    const rs = pick(server);
    const cpu = median(rs.map((r) => r.cpuUsPerMsg));
    console.log(
      `| ${runtime} | ${server} | ${Math.round(median(rs.map((r) => r.msgsPerSec)))} | ` +
        `${median(rs.map((r) => r.p50us)).toFixed(0)} | ${median(rs.map((r) => r.p99us)).toFixed(0)} | ` +
        `${cpu.toFixed(2)} | ${(cpu / rawCpu).toFixed(3)}x | ` +
        `${pairedRatio(results, runtime, server, "raw", (r) => r.cpuUsPerMsg).toFixed(3)}x | ` +
        `${rs.reduce((a, r) => a + r.byteErrors, 0)} |`,
    );
  }
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
process.exit(results.some((r) => r.byteErrors > 0) ? 1 : 0);
