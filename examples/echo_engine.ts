/**
 * The engine echo: `serve()` with an echo handler (`startEngineEcho` in src/apps/echo_engine.ts).
 *
 *   deno run -A examples/echo_engine.ts --port 9000 --framing lp4 --workers 4 [--threads 2]
 *
 * With `--framing raw` there are no frames: every chunk read is one message.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { startEngineEcho } from "../src/apps/echo_engine.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the engine echo; the name every echo example exports. */
export const startEcho: typeof startEngineEcho = startEngineEcho;

if (isMain(import.meta.url)) {
  // --workers and --threads are this example's own flags; the rest is the shared echo command line.
  const { values } = parseArgs({
    options: { workers: { type: "string" }, threads: { type: "string" } },
    strict: false,
  });
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  for (const flag of ["--workers", "--threads"]) {
    const i = process.argv.indexOf(flag);
    if (i >= 0) process.argv.splice(i, 2);
  }
  await runEchoCli("echo_engine", (o) => startEcho({ ...o, workers, threads }));
}
