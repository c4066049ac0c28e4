/**
 * The engine echo: `serve()` from sockmodels/engine with a handler that sends every frame back,
 * on the event loop or, with `--threads N`, in a pool of threads that run
 * examples/echo_thread_handler.ts.
 *
 *   deno run -A examples/echo_engine.ts --port 9000 --framing lp4 --workers 4 [--threads 2]
 *
 * With `--framing raw` there are no frames: every chunk read is one message.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { moduleUrl, serve } from "../src/engine/mod.ts";
import { rawChunks } from "../src/framing/mod.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, isMain, runEchoCli } from "./echo_common.ts";

/** Options of the engine echo. */
export interface EngineEchoOptions extends EchoServerOptions {
  /** Concurrent handlers (the engine's `workers`). */
  workers?: number;
  /** Echo every frame in a pool of this many threads instead of on the event loop. */
  threads?: number;
}

/** Starts the engine echo; the name every echo example exports. */
export async function startEcho(options: EngineEchoOptions = {}): Promise<EchoServer> {
  return await serve({
    transport: options.transport,
    host: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    framer: echoCodec(options.framing) ?? rawChunks(),
    workers: options.workers,
    threads: options.threads
      ? { module: moduleUrl("./echo_thread_handler.ts", import.meta.url), size: options.threads }
      : undefined,
    // The handler keeps nothing of a frame past its return: `send` copies it into the reply.
    loanFrames: true,
    onMessage(conn, frame) {
      conn.send(frame);
    },
  });
}

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
