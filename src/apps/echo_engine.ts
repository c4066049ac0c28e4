/**
 * The engine echo: `serve()` with an echo handler.
 *
 *   sockmodels serve echo --model engine --port 9000 --framing lp4
 *
 * With `--framing raw` there are no frames: every chunk read is one message.
 *
 * @module
 */
import { serve } from "../engine/server.ts";
import { moduleUrl } from "../engine/thread_pool.ts";
import { echoCodec, type EchoServer, type EchoServerOptions, rawChunkCodec } from "./echo_framing.ts";

/**
 * Options of the engine echo.
 *
 * @example
 * ```ts
 * const options: EngineEchoOptions = { port: 0, framing: "lp4", workers: 4, threads: 2 };
 * ```
 */
export interface EngineEchoOptions extends EchoServerOptions {
  /** Concurrent handlers (the engine's `workers`). */
  workers?: number;
  /** Echo every frame in a pool of this many threads instead of on the event loop. */
  threads?: number;
}

/**
 * Starts the engine echo.
 *
 * @example
 * ```ts
 * const server = await startEngineEcho({ port: 0, framing: "lp4" });
 * console.log(`listening on ${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function startEngineEcho(options: EngineEchoOptions = {}): Promise<EchoServer> {
  return await serve({
    transport: options.transport,
    host: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    framer: echoCodec(options.framing) ?? rawChunkCodec(),
    workers: options.workers,
    // With threads, each frame is echoed by echo_thread_handler.ts in a thread.
    threads: options.threads
      ? { module: moduleUrl("./echo_thread_handler.ts", import.meta.url), size: options.threads }
      : undefined,
    onMessage(conn, frame) {
      conn.send(frame);
    },
  });
}
