/**
 * Helpers shared by the benchmarks: starting a server under a chosen runtime, reading its CPU
 * time and memory from /proc, and percentiles.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import type { Stream, TlsClientOptions } from "../../src/runtime/types.ts";
import { processResidentBytes } from "../../src/platform/process.ts";
import { type LoadMeasurement, runLoad } from "../../src/cli/load_client.ts";

export const root: string = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export type Runtime = "deno" | "bun" | "node";

/** The command that runs `file` (a path like `examples/raw_echo.ts`) under `runtime`. */
export function commandFor(runtime: Runtime, file: string, args: string[]): string[] {
  switch (runtime) {
    case "deno":
      return [join(root, "node_modules/.bin/deno"), "run", "-A", join(root, file), ...args];
    case "bun":
      return [join(root, "node_modules/.bin/bun"), join(root, file), ...args];
    case "node": {
      const built = join(root, "npm/esm", file.replace(/\.ts$/, ".js"));
      if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
      return ["node", built, ...args];
    }
  }
}

export interface Server {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Starts a server that prints `listening on HOST:PORT` and resolves with its port. */
export async function startServer(cmd: string[]): Promise<Server> {
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"], cwd: root });
  const port = await new Promise<number>((resolvePort, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} did not start in 20 s`)), 20_000);
    child.stdout!.on("data", (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const m = /listening on .*:(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd.join(" ")} exited with ${code} before listening`));
    });
  });
  return {
    child,
    port,
    stop: () => stopChild(child, "SIGKILL"),
  };
}

/** Sends `signal` to a child process (unless it has ended) and resolves once it has exited. */
export function stopChild(child: ChildProcess, signal: "SIGKILL" | "SIGTERM"): Promise<void> {
  return new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once("exit", () => done());
    child.kill(signal);
  });
}

/** CPU seconds (user + system, all threads) the process has used, and its resident memory. */
export { processCpuSeconds as cpuSeconds, processResidentBytes as rssBytes } from "../../src/platform/process.ts";

/** The p-th percentile (0..100) of sorted numbers. */
export { percentile } from "../../src/cli/load_client.ts";

/** The load of {@linkcode loadServer}: how many connections, and for how long. */
export interface ServerLoad {
  connections: number;
  seconds: number;
  /** Frames kept in flight per connection. Default 16. */
  inFlight?: number;
  /** Payload bytes per frame. Default 64. */
  payloadSize?: number;
  /** Connect with TLS. */
  tls?: TlsClientOptions;
}

/** Starts the echo server `cmd`, runs the echo load against it, and stops it. */
export async function loadServer(cmd: string[], load: ServerLoad): Promise<LoadMeasurement> {
  const server = await startServer(cmd);
  try {
    return await runLoad({
      port: server.port,
      pid: server.child.pid!,
      connections: load.connections,
      inFlight: load.inFlight ?? 16,
      payloadSize: load.payloadSize ?? 64,
      seconds: load.seconds,
      tls: load.tls,
    });
  } finally {
    await server.stop();
  }
}

/** One run of {@linkcode runRounds}: which runtime and server, and what it measured. */
export interface RoundResult extends LoadMeasurement {
  runtime: Runtime;
  server: string;
}

/**
 * Runs every server (name → file and extra arguments) on every runtime, `rounds` times in
 * alternation, under the same load, and logs each run to stderr.
 */
export async function runRounds(
  servers: Record<string, readonly [string, readonly string[]]>,
  runtimes: Runtime[],
  rounds: number,
  load: ServerLoad,
): Promise<RoundResult[]> {
  const results: RoundResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const runtime of runtimes) {
      for (const [server, [file, extra]] of Object.entries(servers)) {
        const r = await loadServer(commandFor(runtime, file, ["--port", "0", ...extra]), load);
        results.push({ runtime, server, ...r });
        console.error(
          `round ${round + 1} ${runtime} ${server}: ${r.cpuUsPerMsg.toFixed(2)} us/msg, p99 ${
            r.p99us.toFixed(0)
          } us, errors ${r.byteErrors}`,
        );
      }
    }
  }
  return results;
}

/** The medians of one runtime's runs of one server, and their byte errors in all. */
export function medianOf(
  results: RoundResult[],
  runtime: Runtime,
  server: string,
): { msgsPerSec: number; p50us: number; p99us: number; cpuUsPerMsg: number; byteErrors: number } {
  const rs = results.filter((r) => r.runtime === runtime && r.server === server);
  return {
    msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
    p50us: median(rs.map((r) => r.p50us)),
    p99us: median(rs.map((r) => r.p99us)),
    cpuUsPerMsg: median(rs.map((r) => r.cpuUsPerMsg)),
    byteErrors: rs.reduce((n, r) => n + r.byteErrors, 0),
  };
}

/**
 * The median over rounds of `server`'s figure divided by `base`'s in the same round, on one
 * runtime. The machine's speed drifts from round to round, and a round's two servers ran
 * next to each other, so this ratio moves less than the ratio of the two medians.
 */
export function pairedRatio<T extends { runtime: Runtime; server: string }>(
  results: T[],
  runtime: Runtime,
  server: string,
  base: string,
  figure: (r: T) => number,
): number {
  const of = (name: string) => results.filter((r) => r.runtime === runtime && r.server === name);
  const mine = of(server);
  const theirs = of(base);
  return median(mine.slice(0, theirs.length).map((r, i) => figure(r) / figure(theirs[i])));
}

/** The median of some numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function argList(name: string, fallback: string): string[] {
  const i = process.argv.indexOf(`--${name}`);
  return (i >= 0 ? process.argv[i + 1] : fallback).split(",").filter(Boolean);
}

export function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Resolves once `stream` has received `bytes` bytes; rejects if it closes first. */
export function receiveBytes(stream: Stream, bytes: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let received = 0;
    stream.setHandlers({
      onData: (chunk) => {
        received += chunk.byteLength;
        if (received >= bytes) resolve();
      },
      onClose: (error) => reject(error ?? new Error("The server closed before echoing")),
    });
  });
}

/** The resident memory of `pid` once it has settled: two samples 500 ms apart within 64 KiB (10 s at most). */
export async function settledRss(pid: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const now = processResidentBytes(pid);
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  return processResidentBytes(pid);
}
