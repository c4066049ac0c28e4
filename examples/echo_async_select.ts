/**
 * The WSAAsyncSelect echo in MFC's CAsyncSocket shape (seed 000). The server is `startAsyncSelectEcho` in
 * src/apps/echo_async_select.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_async_select.ts --port 9000 --framing lp4
 */
import { startAsyncSelectEcho } from "../src/apps/echo_async_select.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startAsyncSelectEcho = startAsyncSelectEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_async_select", startEcho);
