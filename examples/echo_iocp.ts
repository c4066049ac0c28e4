/**
 * The IOCP echo server of seeds 002 and 003. The server is `startIocpEcho` in
 * src/apps/echo_iocp.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_iocp.ts --port 9000 --framing lp4
 */
import { startIocpEcho } from "../src/apps/echo_iocp.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startIocpEcho = startIocpEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_iocp", startEcho);
