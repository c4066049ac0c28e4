/**
 * The engine echo: `serve()` with an echo handler.
 *
 *   deno run -A examples/echo_engine.ts --port 9000 --framing lp4 --workers 4 [--threads 2]
 *
 * With `--framing raw` there are no frames: every chunk read is one message.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { serve } from "../src/engine/server.ts";
import { moduleUrl } from "../src/engine/thread_pool.ts";
import type { FrameCodec, FrameDecoder } from "../src/framing/mod.ts";
import { type EchoServer, type EchoServerOptions, isMain, lp4, runEchoCli } from "./echo_common.ts";

/** Every chunk is one message: the engine's framer for `--framing raw`. */
const RAW: FrameCodec = {
  name: "raw",
  trailer: new Uint8Array(0),
  decoder(): FrameDecoder {
    return {
      push: (chunk: Uint8Array) => [chunk],
      end() {},
      buffered: 0,
      error: undefined,
    };
  },
  encode: (payload: Uint8Array) => payload,
  encodeHeader: () => new Uint8Array(0),
};

/** Starts the engine echo. */
export async function startEcho(
  options: EchoServerOptions & { workers?: number; threads?: number } = {},
): Promise<EchoServer> {
  return await serve({
    transport: options.transport,
    host: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    framer: options.framing === "lp4" ? lp4() : RAW,
    workers: options.workers,
    // With threads, each frame is echoed by examples/echo_thread_handler.ts in a thread.
    threads: options.threads
      ? { module: moduleUrl("./echo_thread_handler.ts", import.meta.url), size: options.threads }
      : undefined,
    onMessage(conn, frame) {
      conn.send(frame);
    },
  });
}

if (isMain(import.meta.url)) {
  // --workers is this example's own flag; the rest is the shared echo command line.
  const { values } = parseArgs({ options: { workers: { type: "string" }, threads: { type: "string" } }, strict: false });
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  for (const flag of ["--workers", "--threads"]) {
    const i = process.argv.indexOf(flag);
    if (i >= 0) process.argv.splice(i, 2);
  }
  await runEchoCli("echo_engine", (o) => startEcho({ ...o, workers, threads }));
}
