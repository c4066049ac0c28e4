/**
 * A process group against one process: `sockmodels serve echo --framing lp4` with
 * `--processes 1` and `--processes 2` (the engine model), under the same pipelined echo load.
 * Reports the server's CPU per message (the supervisor and every worker summed), messages
 * per second, latency, and how the connections spread over the workers. Runs alternate in
 * rounds of one run; the figure to compare is the CPU ratio of 2 processes to 1.
 *
 * The load client runs in this process, so on a machine with two cores it takes one of them
 * and throughput cannot double; CPU per message is what this measures.
 *
 * Usage: deno run -A scripts/bench/processes.ts [--runtime deno,bun,node] [--connections 100]
 *        [--in-flight 16] [--seconds 5] [--rounds 3]
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { argList, argNumber, commandFor, median, root, type Runtime, stopChild } from "./bench_util.ts";
import { type LoadResult, runLoad } from "./load_client.ts";

const runtimes = argList("runtime", "deno,bun,node") as Runtime[];
const connections = argNumber("connections", 100);
const inFlight = argNumber("in-flight", 16);
const seconds = argNumber("seconds", 5);
const rounds = argNumber("rounds", 3);

interface GroupServer {
  pid: number;
  port: number;
  workerPids: number[];
  /** Connections opened on each worker so far, from the `open` records. */
  opensByWorker: Map<number, number>;
  stop(): Promise<void>;
}

/** Starts `serve echo` with `--json` and reads its listening line (and, in a group, its workers). */
async function startEcho(runtime: Runtime, processes: number): Promise<GroupServer> {
  const cmd = commandFor(runtime, "src/cli/main.ts", [
    "serve",
    "echo",
    "--framing",
    "lp4",
    "--port",
    "0",
    "--json",
    "--processes",
    String(processes),
  ]);
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"], cwd: root });
  const opensByWorker = new Map<number, number>();
  let text = "";
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} did not start in 30 s`)), 30_000);
    child.stdout!.on("data", (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const lines = text.split("\n");
      text = lines.pop()!;
      for (const line of lines) {
        const record = JSON.parse(line) as Record<string, unknown>;
        if (record.event === "open") {
          const worker = (record.worker as number | undefined) ?? 1;
          opensByWorker.set(worker, (opensByWorker.get(worker) ?? 0) + 1);
        }
        if (record.event === "listening" && record.worker === undefined) {
          clearTimeout(timer);
          resolve(record);
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`${cmd.join(" ")} exited with ${code} before listening`)));
  });
  return {
    pid: child.pid!,
    port: listening.port as number,
    workerPids: ((listening.workers ?? []) as { pid: number }[]).map((w) => w.pid),
    opensByWorker,
    stop: () => stopChild(child, "SIGTERM"),
  };
}

interface Result extends LoadResult {
  runtime: Runtime;
  processes: number;
  spread: number[];
}

const results: Result[] = [];
for (let round = 0; round < rounds; round++) {
  for (const runtime of runtimes) {
    for (const processes of [1, 2]) {
      const server = await startEcho(runtime, processes);
      try {
        const r = await runLoad({
          port: server.port,
          pid: server.pid,
          morePids: server.workerPids,
          connections,
          inFlight,
          payloadSize: 64,
          seconds,
        });
        const spread = [...server.opensByWorker.entries()].sort(([a], [b]) => a - b).map(([, n]) => n);
        results.push({ runtime, processes, spread, ...r });
        console.error(
          `round ${round + 1} ${runtime} --processes ${processes}: ${Math.round(r.msgsPerSec)} msgs/s, ` +
            `${r.cpuUsPerMsg.toFixed(2)} us CPU/msg, p99 ${r.p99us.toFixed(0)} us, spread ${spread.join("/")}, ` +
            `errors ${r.byteErrors}`,
        );
      } finally {
        await server.stop();
      }
    }
  }
}

console.log(
  `\nEngine echo (lp4): ${connections} connections, ${inFlight} frames in flight, 64 B payloads, ` +
    `${seconds} s x ${rounds} rounds (median); CPU of the supervisor and all workers, from /proc\n`,
);
console.log("| runtime | processes | msgs/s | p50 µs | p99 µs | CPU µs/msg | CPU ratio 2/1 | spread | byte errors |");
console.log("|---|---:|---:|---:|---:|---:|---:|---|---:|");
for (const runtime of runtimes) {
  const single = median(results.filter((r) => r.runtime === runtime && r.processes === 1).map((r) => r.cpuUsPerMsg));
  for (const processes of [1, 2]) {
    const rs = results.filter((r) => r.runtime === runtime && r.processes === processes);
    const cpu = median(rs.map((r) => r.cpuUsPerMsg));
    console.log(
      `| ${runtime} | ${processes} | ${Math.round(median(rs.map((r) => r.msgsPerSec)))} | ${
        median(rs.map((r) => r.p50us)).toFixed(0)
      } | ${median(rs.map((r) => r.p99us)).toFixed(0)} | ${cpu.toFixed(2)} | ${
        processes === 1 ? "1.00" : (cpu / single).toFixed(2)
      } | ${rs.map((r) => r.spread.join("/")).join(", ")} | ${rs.reduce((n, r) => n + r.byteErrors, 0)} |`,
    );
  }
}
process.exit(0);
