/**
 * Thread pool dispatch against piscina, with 2 threads:
 * - a trivial task (`x + 1`), 64 in flight and all at once;
 * - a 1 ms CPU task (a busy loop), 64 in flight.
 *
 * The parent runs itself as a child under each runtime (Node against the npm build, where
 * piscina runs too, then Deno and Bun) and prints one Markdown table. Each figure is the median
 * of `--repeat` runs after a warm-up; CPU µs per task counts every thread of the process.
 *
 * Usage:
 *   deno run -A scripts/build_npm.ts   # for the Node figures
 *   deno run -A scripts/bench/thread_pool.ts [--runtimes node,deno,bun] [--tasks 100000]
 *     [--cpu-tasks 10000] [--threads 2] [--repeat 3] [--in-flight 64]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { argList, argNumber, commandFor, cpuSeconds, type Runtime } from "./bench_util.ts";
import { moduleUrl, ThreadPool } from "../../src/engine/thread_pool.ts";
import type { BenchTask } from "../../tests/engine/fixtures/bench_task.ts";

const TASKS = argNumber("tasks", 100_000);
const CPU_TASKS = argNumber("cpu-tasks", 10_000);
const THREADS = argNumber("threads", 2);
const REPEAT = argNumber("repeat", 3);
const IN_FLIGHT = argNumber("in-flight", 64);

type Run = (task: BenchTask) => Promise<number>;

interface Figure {
  tasksPerSecond: number;
  cpuMicrosPerTask: number;
}

interface PoolFigures {
  trivialInFlight: Figure;
  trivialAllAtOnce: Figure;
  cpuInFlight: Figure;
}

interface ChildReport {
  runtime: string;
  version: string;
  pools: Record<string, PoolFigures>;
}

async function inFlight(
  run: Run,
  count: number,
  width: number,
  task: (i: number) => BenchTask,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await run(task(i));
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
}

async function allAtOnce(run: Run, count: number): Promise<void> {
  const all = new Array<Promise<number>>(count);
  for (let i = 0; i < count; i++) all[i] = run(i);
  const results = await Promise.all(all);
  if (results[count - 1] !== count) {
    throw new Error(`Wrong result ${results[count - 1]} for task ${count - 1}`);
  }
}

async function once(count: number, body: () => Promise<void>): Promise<Figure> {
  const cpu0 = cpuSeconds(process.pid);
  const t0 = performance.now();
  await body();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(process.pid) - cpu0;
  return { tasksPerSecond: count / seconds, cpuMicrosPerTask: (cpu * 1e6) / count };
}

function median(figures: Figure[]): Figure {
  const sorted = [...figures].sort((a, b) => a.tasksPerSecond - b.tasksPerSecond);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Runs every scenario `REPEAT` times, taking the pools in turn so that noise hits them alike.
 * The CPU scenario is long and bound by the CPU the machine has to spare, so each repeat is cut
 * into slices run in turn as well, so that both pools see the same background load.
 */
async function benchPools(pools: Record<string, Run>): Promise<Record<string, PoolFigures>> {
  const spin = { spinMs: 1 };
  const cpuSlices = Math.max(1, Math.min(5, Math.floor(CPU_TASKS / 1000)));
  const cpuSlice = Math.floor(CPU_TASKS / cpuSlices);
  const scenarios: [keyof PoolFigures, number, number, (run: Run) => Promise<void>][] = [
    ["trivialInFlight", TASKS, 1, (run) => inFlight(run, TASKS, IN_FLIGHT, (i) => i)],
    ["trivialAllAtOnce", TASKS, 1, (run) => allAtOnce(run, TASKS)],
    ["cpuInFlight", cpuSlice, cpuSlices, (run) => inFlight(run, cpuSlice, IN_FLIGHT, () => spin)],
  ];
  for (const run of Object.values(pools)) {
    await inFlight(run, 20_000, IN_FLIGHT, (i) => i);
    await allAtOnce(run, 20_000);
  }
  const runs: Record<string, Record<string, Figure[]>> = {};
  for (const [scenario, count, slices, body] of scenarios) {
    for (let r = 0; r < REPEAT; r++) {
      const sums: Record<string, { seconds: number; cpu: number }> = {};
      for (let slice = 0; slice < slices; slice++) {
        for (const [name, run] of Object.entries(pools)) {
          const f = await once(count, () => body(run));
          const sum = sums[name] ??= { seconds: 0, cpu: 0 };
          sum.seconds += count / f.tasksPerSecond;
          sum.cpu += f.cpuMicrosPerTask * count;
        }
      }
      for (const [name, sum] of Object.entries(sums)) {
        const total = count * slices;
        ((runs[name] ??= {})[scenario] ??= []).push({
          tasksPerSecond: total / sum.seconds,
          cpuMicrosPerTask: sum.cpu / total,
        });
      }
    }
  }
  const out: Record<string, PoolFigures> = {};
  for (const [name, byScenario] of Object.entries(runs)) {
    out[name] = {
      trivialInFlight: median(byScenario.trivialInFlight),
      trivialAllAtOnce: median(byScenario.trivialAllAtOnce),
      cpuInFlight: median(byScenario.cpuInFlight),
    };
  }
  return out;
}

function runtimeInfo(): { runtime: string; version: string } {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno) return { runtime: "deno", version: g.Deno.version.deno };
  if (g.Bun) return { runtime: "bun", version: g.Bun.version };
  return { runtime: "node", version: process.versions.node };
}

async function child(): Promise<void> {
  const taskModule = moduleUrl("../../tests/engine/fixtures/bench_task.ts", import.meta.url);
  const info = runtimeInfo();
  const pool = new ThreadPool<BenchTask, number>({ module: taskModule, size: THREADS });
  await pool.ready();
  const pools: Record<string, Run> = { sockmodels: (task) => pool.run(task) };
  let piscina: { run(task: BenchTask): Promise<number>; destroy(): Promise<void> } | undefined;
  if (info.runtime === "node") {
    const { Piscina } = await import("piscina");
    const p = new Piscina({ filename: fileURLToPath(taskModule), minThreads: THREADS, maxThreads: THREADS });
    piscina = p;
    pools.piscina = (task) => p.run(task);
  }
  const report: ChildReport = { ...info, pools: await benchPools(pools) };
  await pool.close();
  await piscina?.destroy();
  console.log(JSON.stringify(report));
}

function runChild(runtime: Runtime): Promise<ChildReport> {
  const args = [
    "--child",
    "--tasks",
    String(TASKS),
    "--cpu-tasks",
    String(CPU_TASKS),
    "--threads",
    String(THREADS),
    "--repeat",
    String(REPEAT),
    "--in-flight",
    String(IN_FLIGHT),
  ];
  const cmd = commandFor(runtime, "scripts/bench/thread_pool.ts", args);
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    proc.on("exit", (code) => {
      const line = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !line.startsWith("{")) {
        reject(new Error(`${cmd.join(" ")} exited with ${code}: ${out.slice(-500)}`));
      } else resolve(JSON.parse(line));
    });
  });
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function cell(f: Figure, base?: Figure): string {
  const ratio = base ? ` (${(f.tasksPerSecond / base.tasksPerSecond).toFixed(2)}x)` : "";
  return `${fmt(f.tasksPerSecond)}${ratio} · ${f.cpuMicrosPerTask.toFixed(1)} µs`;
}

async function parent(): Promise<void> {
  const runtimes = argList("runtimes", "node,deno,bun") as Runtime[];
  const reports: ChildReport[] = [];
  for (const runtime of runtimes) {
    console.error(`running under ${runtime}...`);
    reports.push(await runChild(runtime));
  }
  const piscina = reports.find((r) => r.pools.piscina)?.pools.piscina;
  console.log(
    `\nThread pool dispatch, ${THREADS} threads; trivial: ${fmt(TASKS)} tasks of x + 1; ` +
      `CPU: ${fmt(CPU_TASKS)} tasks of a 1 ms busy loop; "in flight": ${IN_FLIGHT} at a time. ` +
      `Cells: tasks/s (vs piscina on Node) · process CPU µs per task, median of ${REPEAT}.\n`,
  );
  console.log(
    `| runtime | pool | trivial, ${IN_FLIGHT} in flight | trivial, all at once | 1 ms CPU, ${IN_FLIGHT} in flight |`,
  );
  console.log("|---|---|---|---|---|");
  for (const r of reports) {
    for (const [name, f] of Object.entries(r.pools)) {
      const base = name === "piscina" ? undefined : piscina;
      console.log(
        `| ${r.runtime} ${r.version} | ${name} | ${cell(f.trivialInFlight, base?.trivialInFlight)} | ` +
          `${cell(f.trivialAllAtOnce, base?.trivialAllAtOnce)} | ${cell(f.cpuInFlight, base?.cpuInFlight)} |`,
      );
    }
  }
}

if (process.argv.includes("--child")) await child();
else await parent();
