/**
 * The models benchmark: `sockmodels bench models --baseline`. Every model's echo server runs
 * in a process of its own on each runtime, beside the bare adapter echo (the baseline), under
 * the same load, at each connection count; the figure that matters is each model's server CPU
 * per message as a ratio to the adapter's in the same run. Any option of `sockmodels bench
 * models` applies (`--rounds 3` takes medians). The table, JSON and chart go to `--out`,
 * `npm/bench` by default. Node runs the compiled CLI: `npm run build` first.
 *
 * Usage: deno run -A scripts/bench/models.ts [--runtime deno,bun,node]
 *        [--connections 100,1000] [--models blocking,nonblocking,...] [--seconds 3]
 *        [--rounds 1] [--framing raw|lp4] [--out DIR]
 */
import process from "node:process";
import { runCli } from "../../src/cli/run_cli.ts";

const args = process.argv.slice(2);
if (!args.includes("--out")) args.push("--out", "npm/bench");
process.exit(await runCli(["bench", "models", "--baseline", ...args]));
