/**
 * The models benchmark: every model's echo example against the adapter echo
 * (examples/raw_echo.ts) on each runtime, under the same load, at each connection count.
 * The figure that matters is the server's CPU per echoed message, as a ratio to the adapter
 * echo measured in the same run. The select echo runs with its raised set size.
 *
 * With `--rounds N`, every cell runs N times, the adapter and the models taking turns in each
 * round, and the table shows medians: the ratio is the median model CPU over the median
 * adapter CPU, so one noisy round moves neither much.
 *
 * Usage: deno run -A scripts/bench/models.ts [--runtime deno,bun,node]
 *        [--connections 100,1000] [--models blocking,nonblocking,...] [--seconds 3]
 *        [--rounds 1] [--framing raw] [--json out.json]
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { argList, argNumber, commandFor, root, type Runtime, startServer } from "./bench_util.ts";
import { type LoadResult, runLoad } from "./load_client.ts";

const ALL_MODELS = [
  "blocking",
  "nonblocking",
  "select",
  "poll",
  "selector",
  "event_select",
  "async_select",
  "iocp",
  "engine",
];

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connectionCounts = argList("connections", "100,1000").map(Number);
const models = argList("models", ALL_MODELS.join(",")).filter((m) => existsSync(join(root, `examples/echo_${m}.ts`)));
const seconds = argNumber("seconds", 3);
const rounds = argNumber("rounds", 1);
const framing = argList("framing", "raw")[0];
const jsonPath = process.argv.includes("--json") ? process.argv[process.argv.indexOf("--json") + 1] : "";

interface Row extends LoadResult {
  runtime: Runtime;
  model: string;
  round: number;
}

const rows: Row[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const runtime of runtimes) {
    for (const connections of connectionCounts) {
      for (const model of ["adapter", ...models]) {
        const file = model === "adapter" ? "examples/raw_echo.ts" : `examples/echo_${model}.ts`;
        const args = ["--port", "0", ...(model === "adapter" ? [] : ["--framing", framing])];
        const srv = await startServer(commandFor(runtime, file, args));
        try {
          const r = await runLoad({ port: srv.port, pid: srv.child.pid!, connections, inFlight: 16, payloadSize: 64, seconds });
          rows.push({ runtime, model, round, ...r });
          console.error(
            `round ${round} ${runtime} ${connections} ${model}: ${Math.round(r.msgsPerSec)} msgs/s, ` +
              `${r.cpuUsPerMsg.toFixed(2)} us CPU/msg, p99 ${r.p99us.toFixed(0)} us, errors ${r.byteErrors}`,
          );
        } finally {
          await srv.stop();
        }
      }
    }
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** One row per runtime, connection count and model: the medians over the rounds. */
const cells: Row[] = [];
for (const runtime of runtimes) {
  for (const connections of connectionCounts) {
    for (const model of ["adapter", ...models]) {
      const rs = rows.filter((r) => r.runtime === runtime && r.connections === connections && r.model === model);
      if (rs.length === 0) continue;
      cells.push({
        runtime,
        connections,
        model,
        round: rs.length,
        msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
        p50us: median(rs.map((r) => r.p50us)),
        p99us: median(rs.map((r) => r.p99us)),
        cpuUsPerMsg: median(rs.map((r) => r.cpuUsPerMsg)),
        byteErrors: rs.reduce((n, r) => n + r.byteErrors, 0),
      });
    }
  }
}

console.log(
  `\nModels echo: 16 frames in flight, 64 B payloads, ${seconds} s per cell, framing ${framing}, ` +
    `median of ${rounds} round(s)\n`,
);
console.log("| runtime | connections | model | msgs/s | p50 µs | p99 µs | server CPU µs/msg | vs adapter echo | errors |");
console.log("|---|---:|---|---:|---:|---:|---:|---:|---:|");
for (const runtime of runtimes) {
  for (const connections of connectionCounts) {
    const base = cells.find((r) => r.runtime === runtime && r.connections === connections && r.model === "adapter");
    for (const r of cells.filter((r) => r.runtime === runtime && r.connections === connections)) {
      console.log(
        `| ${runtime} | ${connections} | ${r.model} | ${Math.round(r.msgsPerSec)} | ${r.p50us.toFixed(0)} | ` +
          `${r.p99us.toFixed(0)} | ${r.cpuUsPerMsg.toFixed(2)} | ` +
          `${base ? (r.cpuUsPerMsg / base.cpuUsPerMsg).toFixed(2) + "x" : "-"} | ${r.byteErrors} |`,
      );
    }
  }
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(rows, null, 2));
process.exit(rows.some((r) => r.byteErrors > 0) ? 1 : 0);
