/**
 * The WSAAsyncSelect echo in MFC's CAsyncSocket shape (seed 000). The server is the echo application on the host of
 * src/hosts/async_select.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_async_select.ts --port 9000 --framing lp4
 */
import { type EchoServer, type EchoServerOptions, isMain, runEchoCli, startModelEcho } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export function startEcho(options: EchoServerOptions = {}): Promise<EchoServer> {
  return startModelEcho("async-select", options);
}

if (isMain(import.meta.url)) await runEchoCli("echo_async_select", startEcho);
