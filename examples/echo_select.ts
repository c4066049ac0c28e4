/**
 * The select echo of seed 003 (SelectServer). The server is `startSelectEcho` in
 * src/apps/echo_select.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_select.ts --port 9000 --framing lp4
 */
import { startSelectEcho } from "../src/apps/echo_select.ts";
import { isMain, runEchoCli } from "./echo_common.ts";
export { ECHO_SET_SIZE, type SelectEchoOptions } from "../src/apps/echo_select.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startSelectEcho = startSelectEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_select", startEcho);
