/**
 * The process around a CLI command, as one object: standard output and error, whether
 * output is a terminal, standard input lines, and the request to stop (Ctrl-C). Tests give
 * commands an object of their own.
 *
 * @module
 */

import {
  exitProcess,
  onTerminationSignal,
  readStdinLines,
  stdoutIsTerminal,
  writeStderr,
  writeStdout,
} from "../platform/process.ts";
import { groupWorker } from "../process_group/process_group.ts";

/**
 * What a command uses of its process.
 *
 * @example
 * ```ts
 * const io: CliIo = processIo();
 * io.stdout("hello\n");
 * ```
 */
export interface CliIo {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Standard output is a terminal. */
  readonly terminal: boolean;
  /** Resolves with the signal's name once the user asks the program to stop (Ctrl-C). */
  stopRequested(): Promise<string>;
  /** Reads standard input line by line; the returned function stops reading. */
  readLines(onLine: (line: string) => void, onEnd: () => void): () => void;
}

/**
 * The real process: its standard streams, and SIGINT or SIGTERM as the request to stop (a
 * second one ends the process at once, with code 130). A worker of a process group stops on
 * SIGTERM only.
 *
 * @example
 * ```ts
 * import { runCli } from "./run_cli.ts";
 * const code = await runCli(["serve", "chat"], processIo());
 * ```
 */
export function processIo(): CliIo {
  let stop: Promise<string> | undefined;
  return {
    stdout: writeStdout,
    stderr: writeStderr,
    terminal: stdoutIsTerminal(),
    stopRequested() {
      return stop ??= new Promise((resolve) => {
        let asked = false;
        const inGroup = groupWorker() !== undefined;
        onTerminationSignal((signal) => {
          // Ctrl-C reaches every process of the terminal's group, and a service manager may
          // send SIGTERM to every process of the service as well as the supervisor: a worker of
          // a process group drains on its first SIGTERM and ignores the rest (the supervisor
          // kills a worker that takes too long).
          if (inGroup && (signal === "SIGINT" || asked)) return;
          if (asked) exitProcess(130);
          asked = true;
          resolve(signal);
        });
      });
    },
    readLines: readStdinLines,
  };
}
