/**
 * The poll echo of seed 004, with its per-connection state machine. The server is `startPollEcho` in
 * src/apps/echo_poll.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_poll.ts --port 9000 --framing lp4
 */
import { startPollEcho } from "../src/apps/echo_poll.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startPollEcho = startPollEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_poll", startEcho);
