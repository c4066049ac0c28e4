/**
 * The `sockmodels` command line: `serve`, `client` and `bench`. Bad arguments print a
 * sentence that names the bad value and exit with code 2; every command has `--help`.
 *
 * @module
 */

import { runBench } from "./bench_command.ts";
import { type CliIo, processIo } from "./cli_io.ts";
import { runClient } from "./client_command.ts";
import { didYouMean, UsageError } from "./arguments.ts";
import { runServe } from "./serve_command.ts";

/**
 * The version the CLI reports.
 *
 * @example
 * ```ts
 * console.log(CLI_VERSION);
 * ```
 */
export const CLI_VERSION = "0.1.0";

/**
 * The top-level usage.
 *
 * @example
 * ```ts
 * console.log(CLI_USAGE);
 * ```
 */
export const CLI_USAGE = `Usage: sockmodels <command> [options]

Commands:
  serve chat     a chat server with rooms (try it with nc 127.0.0.1 9000)
  serve echo     an echo server on any of the I/O models
  serve omok     two-player omok (gomoku) on a 15x15 board
  client chat    an interactive chat client
  client echo    an interactive echo client
  client omok    play omok in the terminal
  bench models   every model's echo under the same load: a table, JSON and an SVG chart

Options:
  -h, --help     show help; "sockmodels <command> --help" shows a command's options
  --version      print the version

Examples:
  sockmodels serve chat --port 9000
  sockmodels serve echo --model iocp --framing lp4
  sockmodels bench models --connections 100,1000 --seconds 3 --runtime deno,bun,node`;

/**
 * Runs the CLI with `args` (without the runtime and script) and returns the exit code: 0 on
 * success, 1 when the command failed, 2 for bad arguments.
 *
 * @example
 * ```ts
 * const code = await runCli(["serve", "echo", "--model", "select", "--port", "0"]);
 * ```
 */
export async function runCli(args: string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case undefined:
        throw new UsageError("A command is needed: serve, client or bench");
      case "help":
        // "help serve chat" is "serve chat --help".
        if (rest.length > 0) return await runCli([...rest, "--help"], io);
        io.stdout(CLI_USAGE + "\n");
        return 0;
      case "-h":
      case "--help":
        io.stdout(CLI_USAGE + "\n");
        return 0;
      case "--version":
        io.stdout(`sockmodels ${CLI_VERSION}\n`);
        return 0;
      case "serve":
        return await runServe(rest, io);
      case "client":
        return await runClient(rest, io);
      case "bench":
        return await runBench(rest, io);
      default:
        throw new UsageError(
          command.startsWith("-")
            ? `Unknown option ${command}: options come after the command`
            : `Unknown command ${JSON.stringify(command)}: use serve, client or bench` +
              didYouMean(command, ["serve", "client", "bench", "help"]),
        );
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const help = error.command ? `sockmodels ${error.command} --help` : "sockmodels --help";
    io.stderr(`sockmodels: ${error.message}\nRun "${help}" for usage.\n`);
    return 2;
  }
}
