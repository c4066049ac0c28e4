/**
 * The models benchmark: every model's echo server (`sockmodels serve echo --model …`) in a
 * process of its own, under each runtime, under the same load (see `load_client.ts`), at each
 * connection count. This is the measured version of seed 003's comparison of the models.
 *
 * @module
 */

import type { HostModel } from "../hosts/mod.ts";
import type { RuntimeName } from "../runtime/detect.ts";
import { startProcess } from "../platform/process.ts";
import { cliCommandLine } from "./cli_location.ts";
import { runLoad } from "./load_client.ts";

/**
 * Options of {@linkcode runModelsBench}.
 *
 * @example
 * ```ts
 * const options: ModelsBenchOptions = {
 *   runtimes: ["deno"],
 *   connections: [10],
 *   models: ["select", "iocp"],
 *   seconds: 1,
 *   warmupMs: 200,
 *   framing: "raw",
 * };
 * ```
 */
export interface ModelsBenchOptions {
  /** The runtimes that run the servers. */
  runtimes: RuntimeName[];
  /** The connection counts. */
  connections: number[];
  /** The models; `"adapter"` is the bare adapter echo, the baseline. */
  models: HostModel[];
  /** How long each cell is measured, in seconds. */
  seconds: number;
  /** How long each cell runs before it is measured, in milliseconds. */
  warmupMs: number;
  /** The servers' framing: raw (chunks) or lp4 (the load's own frames). */
  framing: "raw" | "lp4";
  /** How many times every cell runs, the cells of one round taking turns. Default 1. */
  rounds?: number;
  /** Frames in flight on each connection. Default 16. */
  inFlight?: number;
  /** Payload bytes of each frame. Default 64. */
  payloadSize?: number;
  /** Receives a line after each cell. */
  onProgress?(line: string): void;
}

/**
 * One measured cell.
 *
 * @example
 * ```ts
 * declare const rows: ModelsBenchRow[];
 * const row: ModelsBenchRow = rows[0];
 * console.log(row.model, row.msgsPerSec, row.cpuUsPerMsg);
 * ```
 */
export interface ModelsBenchRow {
  /** The runtime of the server. */
  runtime: RuntimeName;
  /** The model, or `"adapter"`. */
  model: HostModel;
  /** The round this row was measured in, from 1; in {@linkcode medianRows}' rows, how many rounds. */
  round: number;
  /** Open connections. */
  connections: number;
  /** Echoed messages per second. */
  msgsPerSec: number;
  /** Median round trip, µs. */
  p50us: number;
  /** 99th percentile round trip, µs. */
  p99us: number;
  /** Server CPU time per message, µs. */
  cpuUsPerMsg: number;
  /** Server memory per connection: the growth of its resident memory under load, divided. */
  memoryPerConnectionBytes: number;
  /** Wrong frames and failed connections. */
  byteErrors: number;
  /** Why the cell could not run, if it could not. */
  error?: string;
}

const LISTENING = /listening on .*:(\d+)/;

/** Starts a server and resolves with its port once it prints `listening on HOST:PORT`. */
function startServer(runtime: RuntimeName, model: HostModel, framing: string) {
  const { command, args } = cliCommandLine(runtime, [
    "serve",
    "echo",
    "--model",
    model,
    "--framing",
    framing,
    "--port",
    "0",
    "--quiet",
  ]);
  let output = "";
  let onPort!: (port: number) => void;
  const port = new Promise<number>((resolve) => (onPort = resolve));
  let errors = "";
  const child = startProcess(command, args, {
    onStdout(text) {
      output += text;
      const m = LISTENING.exec(output);
      if (m) onPort(Number(m[1]));
    },
    onStderr: (text) => void (errors += text),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ready = Promise.race([
    port,
    child.exited.then((code) => {
      throw new Error(`the server exited with code ${code} before listening: ${errors.trim() || output.trim()}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server did not start within 30 s: ${errors.trim()}`)), 30_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return {
    child,
    ready,
    async stop(): Promise<void> {
      child.kill("SIGKILL");
      await child.exited.catch(() => {});
    },
  };
}

/**
 * Runs every cell and returns the rows, in order: runtime, then connections, then model.
 *
 * @example
 * ```ts
 * const rows = await runModelsBench({
 *   runtimes: ["node"],
 *   connections: [100],
 *   models: ["iocp"],
 *   seconds: 3,
 *   warmupMs: 1000,
 *   framing: "raw",
 * });
 * ```
 */
export async function runModelsBench(options: ModelsBenchOptions): Promise<ModelsBenchRow[]> {
  const rows: ModelsBenchRow[] = [];
  const rounds = options.rounds ?? 1;
  for (let round = 1; round <= rounds; round++) {
    for (const runtime of options.runtimes) {
      for (const connections of options.connections) {
        for (const model of options.models) {
          const row: ModelsBenchRow = {
            runtime,
            model,
            round,
            connections,
            msgsPerSec: Number.NaN,
            p50us: Number.NaN,
            p99us: Number.NaN,
            cpuUsPerMsg: Number.NaN,
            memoryPerConnectionBytes: Number.NaN,
            byteErrors: 0,
          };
          let server: ReturnType<typeof startServer> | undefined;
          try {
            server = startServer(runtime, model, options.framing);
            const port = await server.ready;
            const r = await runLoad({
              port,
              pid: server.child.pid,
              connections,
              inFlight: options.inFlight ?? 16,
              payloadSize: options.payloadSize ?? 64,
              seconds: options.seconds,
              warmupMs: options.warmupMs,
            });
            Object.assign(row, {
              msgsPerSec: r.msgsPerSec,
              p50us: r.p50us,
              p99us: r.p99us,
              cpuUsPerMsg: r.cpuUsPerMsg,
              memoryPerConnectionBytes: Math.max(0, r.rssLoadedBytes - r.rssBeforeBytes) / connections,
              byteErrors: r.byteErrors,
            });
            options.onProgress?.(
              `${rounds > 1 ? `round ${round}: ` : ""}${runtime} ${model} x${connections}: ${
                Math.round(r.msgsPerSec)
              } msgs/s, p99 ${r.p99us.toFixed(0)} µs, ` +
                `${r.cpuUsPerMsg.toFixed(2)} µs CPU/msg, errors ${r.byteErrors}`,
            );
          } catch (error) {
            row.error = (error as Error).message;
            options.onProgress?.(`${runtime} ${model} x${connections}: failed: ${row.error}`);
          } finally {
            await server?.stop();
          }
          rows.push(row);
        }
      }
    }
  }
  return rows;
}

/**
 * One row per runtime, connection count and model: the median of each figure over the
 * rounds (a failed round counts only as a failure), and the errors summed. With one round the
 * rows come back as they are.
 *
 * @example
 * ```ts
 * declare const rows: ModelsBenchRow[];
 * const table = medianRows(rows);
 * ```
 */
export function medianRows(rows: ModelsBenchRow[]): ModelsBenchRow[] {
  const groups = new Map<string, ModelsBenchRow[]>();
  for (const r of rows) {
    const key = `${r.runtime}\u0000${r.connections}\u0000${r.model}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  const median = (xs: number[]): number => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    if (s.length === 0) return Number.NaN;
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  };
  return [...groups.values()].map((group) => {
    const ok = group.filter((r) => r.error === undefined);
    const pick = (f: (r: ModelsBenchRow) => number) => median(ok.map(f));
    const failed = group.find((r) => r.error !== undefined);
    return {
      ...group[0],
      round: group.length,
      msgsPerSec: pick((r) => r.msgsPerSec),
      p50us: pick((r) => r.p50us),
      p99us: pick((r) => r.p99us),
      cpuUsPerMsg: pick((r) => r.cpuUsPerMsg),
      memoryPerConnectionBytes: pick((r) => r.memoryPerConnectionBytes),
      byteErrors: group.reduce((n, r) => n + r.byteErrors, 0),
      ...(failed ? { error: failed.error } : {}),
    };
  });
}
