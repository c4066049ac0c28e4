/**
 * The WSAEventSelect echo of seeds 001 and 003. The server is `startEventSelectEcho` in
 * src/apps/echo_event_select.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_event_select.ts --port 9000 --framing lp4
 */
import { startEventSelectEcho } from "../src/apps/echo_event_select.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startEventSelectEcho = startEventSelectEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_event_select", startEcho);
