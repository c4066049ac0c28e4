/**
 * The blocking echo server of seed 001: one task per client. The server is `startBlockingEcho` in
 * src/apps/echo_blocking.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_blocking.ts --port 9000 --framing lp4
 */
import { startBlockingEcho } from "../src/apps/echo_blocking.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startBlockingEcho = startBlockingEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_blocking", startEcho);
