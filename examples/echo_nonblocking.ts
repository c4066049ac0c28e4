/**
 * The non-blocking polling echo of seed 003. The server is `startNonBlockingEcho` in
 * src/apps/echo_nonblocking.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_nonblocking.ts --port 9000 --framing lp4
 */
import { startNonBlockingEcho } from "../src/apps/echo_nonblocking.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startNonBlockingEcho = startNonBlockingEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_nonblocking", startEcho);
