#!/usr/bin/env node
/**
 * The `sockmodels` program. From the repository it runs as `deno run -A src/cli/main.ts`,
 * `bun src/cli/main.ts` or, after `npm run build`, `node npm/esm/src/cli/main.js`; installed
 * from npm it is the `sockmodels` command.
 *
 * @module
 */

import { commandLineArguments, exitProcess, flushOutput } from "../platform/process.ts";
import { runCli } from "./run_cli.ts";

let code: number;
try {
  code = await runCli(commandLineArguments());
} catch (error) {
  console.error(`sockmodels: ${(error as Error).stack ?? error}`);
  code = 1;
}
await flushOutput();
exitProcess(code);
