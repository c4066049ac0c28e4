/**
 * A model's echo server from another checkout against this one, driven by one load client:
 * `sockmodels serve echo --model M` from `--before DIR`, then from this tree, in alternating
 * pairs, each under this tree's `runLoad` (16 frames of 64 B in flight per connection, raw
 * framing). `bench models` cannot make this comparison, since each tree's run brings its own
 * load client and a few minutes of drift; here both servers meet the same client, seconds
 * apart, and the figure is the median over the pairs of after / before server CPU per
 * message. A single pair varies by 10-30% on a shared 2-core machine: take 4 pairs or more.
 *
 * The other checkout needs its own build for Node (`deno run -A scripts/build_npm.ts` there)
 * and must have `serve echo --model`. Its Deno and Bun servers run with this tree's runtimes.
 *
 * `--framing lp4` runs the servers with 4-byte length frames, which the load's messages also
 * are: the path of a codec that cuts and writes frames, rather than raw chunks.
 *
 * Usage: deno run -A scripts/bench/models_ab.ts --before DIR [--runtime node]
 *        [--models iocp,poll] [--connections 100,1000] [--pairs 4] [--seconds 2] [--framing raw]
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { argList, argNumber, loadServer, median, root, type Runtime } from "./bench_util.ts";

const ALL_MODELS = "adapter,blocking,nonblocking,select,poll,selector,event-select,async-select,iocp,engine";

function serveCommand(checkout: string, runtime: Runtime, model: string): string[] {
  const args = ["serve", "echo", "--model", model, "--framing", framing, "--port", "0", "--quiet"];
  switch (runtime) {
    case "deno":
      return [join(root, "node_modules/.bin/deno"), "run", "-A", join(checkout, "src/cli/main.ts"), ...args];
    case "bun":
      return [join(root, "node_modules/.bin/bun"), join(checkout, "src/cli/main.ts"), ...args];
    case "node": {
      const built = join(checkout, "npm/esm/src/cli/main.js");
      if (!existsSync(built)) throw new Error(`${built} is missing: build that checkout first`);
      return ["node", built, ...args];
    }
  }
}

/** Server CPU µs per message of one run of `checkout`'s server. */
async function measure(
  checkout: string,
  runtime: Runtime,
  model: string,
  connections: number,
  seconds: number,
): Promise<number> {
  const result = await loadServer(serveCommand(checkout, runtime, model), { connections, seconds });
  if (result.byteErrors > 0) throw new Error(`${checkout} ${model}: ${result.byteErrors} bytes echoed wrong`);
  return result.cpuUsPerMsg;
}

const beforeArg = argList("before", "")[0];
// The load's 64-byte messages are also 4-byte-length frames, so an lp4 echo answers them alike.
const framing = argList("framing", "raw")[0];
if (!beforeArg) {
  console.error("Usage: deno run -A scripts/bench/models_ab.ts --before DIR [--runtime node] [--models ...]");
  process.exit(2);
}
const before = resolve(beforeArg);
const runtimes = argList("runtime", "node") as Runtime[];
const models = argList("models", ALL_MODELS);
const connectionCounts = argList("connections", "100,1000").map(Number);
const pairs = argNumber("pairs", 4);
const seconds = argNumber("seconds", 2);

const table: string[] = [
  "| runtime | connections | model | before µs/msg | after µs/msg | after / before (median) | pairs |",
  "| ------- | ----------: | ----- | ------------: | -----------: | ----------------------: | ----- |",
];
for (const runtime of runtimes) {
  for (const connections of connectionCounts) {
    for (const model of models) {
      const old: number[] = [];
      const now: number[] = [];
      for (let i = 0; i < pairs; i++) {
        old.push(await measure(before, runtime, model, connections, seconds));
        now.push(await measure(root, runtime, model, connections, seconds));
      }
      const ratios = now.map((v, i) => v / old[i]);
      const line =
        `| ${runtime} | ${connections} | ${model} | ${median(old).toFixed(2)} | ${median(now).toFixed(2)} | ` +
        `${median(ratios).toFixed(2)} | ${ratios.map((r) => r.toFixed(2)).join(" · ")} |`;
      console.error(line);
      table.push(line);
    }
  }
}
console.log(table.join("\n"));
process.exit(0);
