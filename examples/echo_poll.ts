/**
 * The poll echo of seed 004, with its per-connection state machine. The server is the echo application on the host of
 * src/hosts/poll.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_poll.ts --port 9000 --framing lp4
 */
import { type EchoServer, type EchoServerOptions, isMain, runEchoCli, startModelEcho } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export function startEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  return startModelEcho("poll", options);
}

if (isMain(import.meta.url)) await runEchoCli("echo_poll", startEcho);
