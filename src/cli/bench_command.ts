/**
 * `sockmodels bench models`: runs the models benchmark and writes its table, JSON and chart.
 *
 * @module
 */

import { HOST_MODELS, type HostModel, MODELS } from "../hosts/mod.ts";
import type { RuntimeName } from "../runtime/detect.ts";
import { absolutePath, writeTextFile } from "../platform/process.ts";
import {
  choiceListValue,
  choiceValue,
  describeOptions,
  didYouMean,
  integerListValue,
  noExtraArguments,
  numberValue,
  type OptionDefinition,
  parseOptions,
  UsageError,
} from "./arguments.ts";
import { benchJson, benchMarkdown, type BenchSetup, benchSvg } from "./bench_report.ts";
import type { CliIo } from "./cli_io.ts";
import { cliCommandLine } from "./cli_location.ts";
import { runModelsBench } from "./models_bench.ts";

const RUNTIMES: readonly RuntimeName[] = ["deno", "bun", "node"];

const OPTIONS: Record<string, OptionDefinition> = {
  connections: { type: "string", value: "N,N", default: "100,1000", help: "connection counts, comma-separated" },
  seconds: { type: "string", value: "N", default: "3", help: "seconds measured per cell" },
  warmup: { type: "string", value: "N", default: "1", help: "seconds of warm-up per cell" },
  runtime: {
    type: "string",
    value: "deno,bun,node",
    default: "deno,bun,node",
    help: "the runtimes that run the servers",
  },
  models: { type: "string", value: "M,M", default: MODELS.join(","), help: "the models" },
  baseline: { type: "boolean", help: "also run the bare adapter echo, and give each model's CPU as a ratio to it" },
  rounds: {
    type: "string",
    value: "N",
    default: "1",
    help: "runs of every cell, taking turns; the table shows medians",
  },
  framing: { type: "string", value: "raw|lp4", default: "raw", help: "the servers' framing" },
  out: {
    type: "string",
    value: "DIR",
    default: "sockmodels-bench",
    help: "where models.md, models.json and models.svg go",
  },
  json: { type: "boolean", help: "print the measurements as JSON (as models.json holds them) instead of the table" },
  help: { type: "boolean", short: "h", help: "show this help" },
};

/**
 * The usage of `sockmodels bench`.
 *
 * @example
 * ```ts
 * console.log(benchUsage());
 * ```
 */
export function benchUsage(): string {
  return "Usage: sockmodels bench models [options]\n\n" +
    "Runs every model's echo server on each runtime under the same load (16 pipelined frames of 64 B per\n" +
    "connection, every byte checked) and reports msgs/s, p50 and p99 latency, server CPU per message and\n" +
    "memory per connection: a Markdown table on standard output, and models.md, models.json and models.svg.\n" +
    "With --baseline the bare adapter echo runs too, and each model's CPU per message is given as a ratio to\n" +
    "it; with --rounds N every cell runs N times, in turns, and the table shows medians.\n" +
    "Server CPU and memory are read from /proc (Linux).\n\n" +
    `Options:\n${describeOptions(OPTIONS)}`;
}

/**
 * Runs `sockmodels bench …`; returns the exit code (1 when a cell failed or bytes came back
 * wrong).
 *
 * @example
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * const code = await runBench(["models", "--connections", "10", "--seconds", "1"], processIo());
 * ```
 */
export async function runBench(args: string[], io: CliIo): Promise<number> {
  const what = args[0];
  if (what === undefined) throw new UsageError("Bench needs a benchmark: models", "bench");
  if (what === "--help" || what === "-h" || what === "help") {
    io.stdout(benchUsage() + "\n");
    return 0;
  }
  if (what !== "models") {
    throw new UsageError(
      `Unknown benchmark ${JSON.stringify(what)}: use models${didYouMean(what, ["models"])}`,
      "bench",
    );
  }
  const command = "bench models";
  const { values, positionals } = parseOptions(args.slice(1), OPTIONS, command);
  if (values.help) {
    io.stdout(benchUsage() + "\n");
    return 0;
  }
  noExtraArguments(positionals, command);
  const connections = integerListValue(values.connections as string, "Connections", command, 1, 100_000);
  const seconds = numberValue(values.seconds as string, "Seconds", command, { min: 0.1, max: 3600 });
  const warmupMs = numberValue(values.warmup as string, "Warm-up", command, { min: 0, max: 600 }) * 1000;
  const runtimes = choiceListValue(values.runtime as string, RUNTIMES, "Runtime", command);
  const chosen = choiceListValue(values.models as string, HOST_MODELS, "Model", command) as HostModel[];
  const models: HostModel[] = values.baseline === true && !chosen.includes("adapter") ? ["adapter", ...chosen] : chosen;
  const rounds = numberValue(values.rounds as string, "Rounds", command, { min: 1, max: 100, integer: true });
  const framing = choiceValue(values.framing as string, ["raw", "lp4"] as const, "Framing", command);
  const out = values.out as string;
  if (out === "") throw new UsageError('Output directory must not be empty, got ""', command);

  for (const runtime of runtimes) {
    try {
      cliCommandLine(runtime, []);
    } catch (error) {
      io.stderr(`sockmodels: ${(error as Error).message}\n`);
      return 1;
    }
  }
  const setup: BenchSetup = {
    seconds,
    warmupMs,
    framing,
    inFlight: 16,
    payloadSize: 64,
    rounds,
    date: new Date().toISOString(),
  };
  const rows = await runModelsBench({
    runtimes,
    connections,
    models,
    seconds,
    warmupMs,
    framing,
    rounds,
    onProgress: (line) => io.stderr(line + "\n"),
  });
  const markdown = benchMarkdown(rows, setup);
  const json = benchJson(rows, setup);
  io.stdout(values.json === true ? json : markdown);
  const files = {
    md: absolutePath(out, "models.md"),
    json: absolutePath(out, "models.json"),
    svg: absolutePath(out, "models.svg"),
  };
  writeTextFile(files.md, markdown);
  writeTextFile(files.json, json);
  writeTextFile(files.svg, benchSvg(rows));
  io.stderr(`wrote ${files.md}, ${files.json} and ${files.svg}\n`);
  return rows.some((r) => r.error !== undefined || r.byteErrors > 0) ? 1 : 0;
}
