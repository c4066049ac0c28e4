/**
 * The WSAEventSelect echo of seeds 001 and 003. The server is the echo application on the host of
 * src/hosts/event_select.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_event_select.ts --port 9000 --framing lp4
 */
import { type EchoServer, type EchoServerOptions, isMain, runEchoCli, startModelEcho } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export function startEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  return startModelEcho("event-select", options);
}

if (isMain(import.meta.url)) await runEchoCli("echo_event_select", startEcho);
