/**
 * How to run the `sockmodels` CLI under each runtime: the runtime's executable (the running
 * one, or `node_modules/.bin/<name>` above the package or the working directory, or `PATH`)
 * and the CLI's entry file (`main.ts` beside this module, or the compiled `main.js` for Node).
 *
 * @module
 */

import { detectRuntime, type RuntimeName } from "../runtime/detect.ts";
import {
  absolutePath,
  currentExecutable,
  filePathOf,
  findExecutable,
  parentDirectory,
  pathExists,
  workingDirectory,
} from "../platform/process.ts";

/**
 * A command line: the executable and its arguments.
 *
 * @example
 * ```ts
 * const c: CommandLine = { command: "/usr/bin/node", args: ["main.js", "--help"] };
 * ```
 */
export interface CommandLine {
  /** The executable. */
  command: string;
  /** Its arguments. */
  args: string[];
}

function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir;; d = parentDirectory(d)) {
    out.push(d);
    if (parentDirectory(d) === d) return out;
  }
}

/**
 * The executable of a runtime. Throws an Error that says where it looked when there is none.
 *
 * @example
 * ```ts
 * console.log(runtimeExecutable("bun")); // e.g. /work/app/node_modules/.bin/bun
 * ```
 */
export function runtimeExecutable(runtime: RuntimeName): string {
  if (runtime === detectRuntime()) return currentExecutable();
  const here = parentDirectory(filePathOf(import.meta.url));
  const roots = runtime === "node" ? [] : [...ancestors(here), workingDirectory()];
  const found = findExecutable(runtime, roots);
  if (found === undefined) {
    const where = runtime === "node"
      ? "on PATH"
      : `as node_modules/.bin/${runtime} above ${here} or ${workingDirectory()}, or on PATH`;
    throw new Error(`Cannot run ${runtime}: it is not installed (looked ${where})`);
  }
  return found;
}

/**
 * The command that runs the CLI with `args` under a runtime. Node runs the compiled CLI; from
 * a source checkout that is `npm/esm/src/cli/main.js`, made by `npm run build`. `denoFlags`
 * go to `deno run` (such as `--unstable-net`).
 *
 * @example
 * ```ts
 * const { command, args } = cliCommandLine("deno", ["serve", "echo", "--port", "0"]);
 * ```
 */
export function cliCommandLine(runtime: RuntimeName, args: string[], denoFlags: string[] = []): CommandLine {
  const file = filePathOf(import.meta.url);
  const dir = parentDirectory(file);
  const compiled = file.endsWith(".js");
  let entry = absolutePath(dir, compiled ? "main.js" : "main.ts");
  if (runtime === "node" && !compiled) {
    entry = absolutePath(dir, "..", "..", "npm", "esm", "src", "cli", "main.js");
    if (!pathExists(entry)) {
      throw new Error(
        `Cannot run the CLI under node: it runs the compiled ${entry}, which is missing; run npm run build first`,
      );
    }
  }
  const command = runtimeExecutable(runtime);
  return { command, args: runtime === "deno" ? ["run", "-A", ...denoFlags, entry, ...args] : [entry, ...args] };
}
