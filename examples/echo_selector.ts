/**
 * An echo server on the edge-triggered Selector, with seed 004's drain pattern. The server is the echo application on the host of
 * src/hosts/selector.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_selector.ts --port 9000 --framing lp4
 */
import { type EchoServer, type EchoServerOptions, isMain, runEchoCli, startModelEcho } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export function startEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  return startModelEcho("selector", options);
}

if (isMain(import.meta.url)) await runEchoCli("echo_selector", startEcho);
