/**
 * The models benchmark's results as a Markdown table, a JSON document and an SVG chart of
 * throughput and CPU per message, per model and per runtime.
 *
 * @module
 */

import { medianRows, type ModelsBenchRow } from "./models_bench.ts";
import { type BarChart, barChartsSvg } from "./svg_chart.ts";

/**
 * How the benchmark ran, for the reports.
 *
 * @example
 * ```ts
 * const setup: BenchSetup = {
 *   seconds: 3,
 *   warmupMs: 1000,
 *   framing: "raw",
 *   inFlight: 16,
 *   payloadSize: 64,
 *   date: new Date().toISOString(),
 * };
 * ```
 */
export interface BenchSetup {
  /** Seconds measured per cell. */
  seconds: number;
  /** Warm-up per cell, in milliseconds. */
  warmupMs: number;
  /** The servers' framing. */
  framing: string;
  /** Frames in flight per connection. */
  inFlight: number;
  /** Payload bytes per frame. */
  payloadSize: number;
  /** Runs of every cell; the table and chart show medians. Default 1. */
  rounds?: number;
  /** When it ran (ISO 8601). */
  date: string;
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/**
 * The Markdown table: one row per runtime, connection count and model, with the medians over
 * the rounds. When the adapter baseline ran, a column gives each row's server CPU per message
 * as a ratio to the adapter's at the same runtime and connection count.
 *
 * @example
 * ```ts
 * import type { ModelsBenchRow } from "./models_bench.ts";
 * declare const rows: ModelsBenchRow[];
 * declare const setup: BenchSetup;
 * console.log(benchMarkdown(rows, setup));
 * ```
 */
export function benchMarkdown(rows: ModelsBenchRow[], setup: BenchSetup): string {
  const cells = medianRows(rows);
  const baseline = cells.some((r) => r.model === "adapter");
  const rounds = setup.rounds ?? 1;
  const lines = [
    `Every model's echo server under the same load: ${setup.inFlight} frames of ${setup.payloadSize} B in flight per ` +
    `connection, ${setup.seconds} s measured after ${setup.warmupMs / 1000} s of warm-up, framing ${setup.framing}` +
    (rounds > 1 ? `, median of ${rounds} rounds.` : "."),
    "",
    "| runtime | connections | model | msgs/s | p50 µs | p99 µs | server CPU µs/msg |" +
    (baseline ? " CPU vs adapter |" : "") + " memory/conn KiB | errors |",
    "|---|---:|---|---:|---:|---:|---:|" + (baseline ? "---:|" : "") + "---:|---:|",
  ];
  for (const r of cells) {
    if (r.error) {
      lines.push(
        `| ${r.runtime} | ${r.connections} | ${r.model} | failed: ${r.error.replace(/\|/g, "\\|")} | | | |` +
          (baseline ? " |" : "") + " | |",
      );
      continue;
    }
    const base = cells.find((b) => b.model === "adapter" && b.runtime === r.runtime && b.connections === r.connections);
    const ratio = base && !base.error ? `${fixed(r.cpuUsPerMsg / base.cpuUsPerMsg, 2)}x` : "-";
    lines.push(
      `| ${r.runtime} | ${r.connections} | ${r.model} | ${Math.round(r.msgsPerSec)} | ${fixed(r.p50us, 0)} | ` +
        `${fixed(r.p99us, 0)} | ${fixed(r.cpuUsPerMsg, 2)} |` + (baseline ? ` ${ratio} |` : "") +
        ` ${fixed(r.memoryPerConnectionBytes / 1024, 1)} | ${r.byteErrors} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * The JSON document: the setup, the rows of the table (medians over the rounds) and every
 * measurement.
 *
 * @example
 * ```ts
 * import type { ModelsBenchRow } from "./models_bench.ts";
 * declare const rows: ModelsBenchRow[];
 * declare const setup: BenchSetup;
 * const json = JSON.parse(benchJson(rows, setup));
 * console.log(json.rows.length);
 * ```
 */
export function benchJson(rows: ModelsBenchRow[], setup: BenchSetup): string {
  const clean = (list: ModelsBenchRow[]) =>
    list.map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === "number" && !Number.isFinite(v) ? null : v]),
      )
    );
  return JSON.stringify(
    { benchmark: "models", ...setup, rows: clean(medianRows(rows)), measurements: clean(rows) },
    null,
    2,
  ) +
    "\n";
}

/**
 * The SVG chart: for each connection count, throughput and server CPU per message, with a
 * bar per runtime for every model.
 *
 * @example
 * ```ts
 * import type { ModelsBenchRow } from "./models_bench.ts";
 * import { writeTextFile } from "../platform/process.ts";
 * declare const rows: ModelsBenchRow[];
 * writeTextFile("models.svg", benchSvg(rows));
 * ```
 */
export function benchSvg(measured: ModelsBenchRow[]): string {
  const rows = medianRows(measured);
  const runtimes = [...new Set(rows.map((r) => r.runtime))];
  const models = [...new Set(rows.map((r) => r.model))];
  const charts: BarChart[] = [];
  for (const connections of [...new Set(rows.map((r) => r.connections))]) {
    const value = (runtime: string, model: string, pick: (r: ModelsBenchRow) => number) => {
      const row = rows.find((r) => r.runtime === runtime && r.model === model && r.connections === connections);
      return row && !row.error ? pick(row) : Number.NaN;
    };
    charts.push({
      title: `Throughput, ${connections} connections (higher is better)`,
      unit: "msgs/s",
      categories: models,
      series: runtimes.map((rt) => ({ name: rt, values: models.map((m) => value(rt, m, (r) => r.msgsPerSec)) })),
    });
    charts.push({
      title: `Server CPU per message, ${connections} connections (lower is better)`,
      unit: "µs/msg",
      categories: models,
      series: runtimes.map((rt) => ({ name: rt, values: models.map((m) => value(rt, m, (r) => r.cpuUsPerMsg)) })),
    });
  }
  return barChartsSvg(charts);
}
