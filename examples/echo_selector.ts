/**
 * An echo server on the edge-triggered Selector, with seed 004's drain pattern. The server is `startSelectorEcho` in
 * src/apps/echo_selector.ts; this example runs it from the command line.
 *
 *   deno run -A examples/echo_selector.ts --port 9000 --framing lp4
 */
import { startSelectorEcho } from "../src/apps/echo_selector.ts";
import { isMain, runEchoCli } from "./echo_common.ts";

/** Starts the server; the name every echo example exports. */
export const startEcho: typeof startSelectorEcho = startSelectorEcho;

if (isMain(import.meta.url)) await runEchoCli("echo_selector", startEcho);
