/**
 * The IOCP echo server of seeds 002 and 003. The server is the echo application on the host of
 * src/hosts/iocp.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_iocp.ts --port 9000 --framing lp4
 */
import { type EchoServer, type EchoServerOptions, isMain, runEchoCli, startModelEcho } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export function startEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  return startModelEcho("iocp", options);
}

if (isMain(import.meta.url)) await runEchoCli("echo_iocp", startEcho);
