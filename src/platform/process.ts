/**
 * The process around a program: its command line, standard streams, signals, exit code,
 * child processes, files, and the CPU time and memory of a process. Every runtime provides
 * these through `node:process` and its companions, so one module serves Deno, Bun and Node.
 * The command-line interface uses it; nothing else in sockmodels needs the process.
 *
 * @module
 */

import process from "node:process";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { setImmediate } from "node:timers";
import { availableParallelism, hostname } from "node:os";

/**
 * The arguments the program was started with, without the runtime and the script.
 *
 * @example
 * ```ts
 * const args: string[] = commandLineArguments(); // e.g. ["serve", "chat", "--port", "9000"]
 * ```
 */
export function commandLineArguments(): string[] {
  return process.argv.slice(2);
}

/**
 * The options a command accepts, for {@linkcode parseCommandLine}.
 *
 * @example
 * ```ts
 * const spec: OptionSpec = { port: { type: "string" }, help: { type: "boolean", short: "h" } };
 * ```
 */
export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

/**
 * One option or positional argument as it was written on the command line.
 *
 * @example
 * ```ts
 * const token: CommandLineToken = { kind: "option", name: "port", rawName: "--port", value: "9000", inlineValue: false };
 * ```
 */
export interface CommandLineToken {
  /** An option (`--port`, `-h`) or a positional argument. */
  kind: "option" | "positional";
  /** The option's name without dashes, or the positional argument itself. */
  name: string;
  /** How the option was written (`--port`, `-h`); the argument itself for a positional one. */
  rawName: string;
  /** The value that came with the option, if any. */
  value: string | undefined;
  /** The value was written as `--name=value`. */
  inlineValue: boolean;
}

/**
 * What {@linkcode parseCommandLine} found.
 *
 * @example
 * ```ts
 * const parsed: ParsedCommandLine = parseCommandLine(["chat", "--port", "9000"], { port: { type: "string" } });
 * console.log(parsed.positionals, parsed.tokens.length); // ["chat"] 2
 * ```
 */
export interface ParsedCommandLine {
  /** The arguments that are not options, in order. */
  positionals: string[];
  /** Every option and positional argument, in order, including options the spec does not know. */
  tokens: CommandLineToken[];
}

/**
 * Splits a command line with `node:util`'s `parseArgs` (leniently: unknown options and missing
 * values are reported as tokens, so the caller can word its own errors the same way on every
 * runtime).
 *
 * @example
 * ```ts
 * const { tokens } = parseCommandLine(["--port=9000", "--json"], { port: { type: "string" }, json: { type: "boolean" } });
 * console.log(tokens.map((t) => `${t.name}=${t.value}`)); // ["port=9000", "json=undefined"]
 * ```
 */
export function parseCommandLine(args: string[], spec: OptionSpec): ParsedCommandLine {
  const { positionals, tokens } = parseArgs({
    args,
    options: spec,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  return {
    positionals,
    tokens: tokens.flatMap((t): CommandLineToken[] => {
      if (t.kind === "option") {
        return [{
          kind: "option",
          name: t.name,
          rawName: t.rawName,
          value: t.value,
          inlineValue: t.inlineValue ?? false,
        }];
      }
      if (t.kind === "positional") {
        return [{ kind: "positional", name: t.value, rawName: t.value, value: t.value, inlineValue: false }];
      }
      return [];
    }),
  };
}

/**
 * Writes text to standard output. What is written in one turn of the event loop goes out in
 * one write at the end of that turn (at once past 64 KiB); {@linkcode flushOutput} and
 * {@linkcode exitProcess} write out what waits.
 *
 * @example
 * ```ts
 * writeStdout("listening on 127.0.0.1:9000\n");
 * ```
 */
export function writeStdout(text: string): void {
  if (text === "") return;
  // Lines written in one turn of the event loop go out in one write: a server that logs every
  // connection makes two writes per connection otherwise, a syscall each on Node.
  if (pendingStdout === "") setImmediate(flushPendingStdout);
  pendingStdout += text;
  if (pendingStdout.length >= STDOUT_BATCH_LIMIT) flushPendingStdout();
}

/** The most text that waits for the end of the turn before it is written. */
const STDOUT_BATCH_LIMIT = 64 * 1024;
let pendingStdout = "";

function flushPendingStdout(): void {
  if (pendingStdout === "") return;
  const text = pendingStdout;
  pendingStdout = "";
  process.stdout.write(text);
}

process.once("exit", flushPendingStdout);

/**
 * Writes text to standard error.
 *
 * @example
 * ```ts
 * writeStderr("Port must be 0 to 65535, got 70000\n");
 * ```
 */
export function writeStderr(text: string): void {
  process.stderr.write(text);
}

/**
 * Whether standard output is a terminal (so a live status line may be redrawn in place).
 *
 * @example
 * ```ts
 * if (stdoutIsTerminal()) writeStdout("\r\x1b[2K3 connections");
 * ```
 */
export function stdoutIsTerminal(): boolean {
  return process.stdout.isTTY === true;
}

/**
 * The width of the terminal on standard output, or 80 when it is not a terminal.
 *
 * @example
 * ```ts
 * const line = "x".repeat(terminalColumns() - 1);
 * ```
 */
export function terminalColumns(): number {
  const columns = process.stdout.columns;
  return typeof columns === "number" && columns > 0 ? columns : 80;
}

/**
 * Reads standard input line by line. `onLine` gets each line without its line ending, and
 * `onEnd` is called once standard input ends. The returned function stops reading.
 *
 * @example
 * ```ts
 * const stop = readStdinLines((line) => console.log("you typed", line), () => console.log("bye"));
 * ```
 */
export function readStdinLines(onLine: (line: string) => void, onEnd?: () => void): () => void {
  const lines = createInterface({ input: process.stdin, terminal: false });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd?.();
  };
  lines.on("line", onLine);
  lines.on("close", end);
  return () => {
    lines.off("close", end);
    lines.close();
    process.stdin.pause();
  };
}

/**
 * The signals that ask a program to stop: Ctrl-C and `kill`.
 *
 * @example
 * ```ts
 * const signal: TerminationSignal = "SIGINT";
 * ```
 */
export type TerminationSignal = "SIGINT" | "SIGTERM";

/**
 * Calls `handler` on SIGINT (Ctrl-C) and SIGTERM instead of letting them end the process.
 * The returned function removes the handler.
 *
 * @example
 * ```ts
 * const off = onTerminationSignal((signal) => console.log(`${signal}: shutting down`));
 * off();
 * ```
 */
export function onTerminationSignal(handler: (signal: TerminationSignal) => void): () => void {
  const onInt = () => handler("SIGINT");
  const onTerm = () => handler("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return () => {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  };
}

/**
 * Calls `handler` on SIGHUP instead of letting it end the process: the signal that asks a
 * server to reload (a process group replaces its workers). The returned function removes it.
 *
 * @example
 * ```ts
 * const off = onHangUpSignal(() => console.log("SIGHUP: replacing the workers"));
 * off();
 * ```
 */
export function onHangUpSignal(handler: () => void): () => void {
  process.on("SIGHUP", handler);
  return () => {
    process.off("SIGHUP", handler);
  };
}

/**
 * Sends a signal to a process by its id. A process that has already ended is not an error.
 *
 * @example
 * ```ts
 * declare const workerPid: number;
 * signalProcess(workerPid, "SIGTERM");
 * ```
 */
export function signalProcess(pid: number, signal: "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP"): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as { code?: string }).code !== "ESRCH") throw error;
  }
}

/**
 * The id of this process.
 *
 * @example
 * ```ts
 * console.log(`pid ${processId()}`);
 * ```
 */
export function processId(): number {
  return process.pid;
}

/**
 * Calls `handler` once when standard output can no longer be written (its reader is gone:
 * EPIPE), instead of letting the write error end the process; later writes then fail quietly.
 * The returned function stops watching, unless it has fired.
 *
 * @example
 * ```ts
 * const stop = onStdoutClosed(() => console.error("nobody reads our output any more"));
 * stop();
 * ```
 */
export function onStdoutClosed(handler: () => void): () => void {
  let called = false;
  const onError = () => {
    if (called) return;
    called = true;
    handler();
  };
  process.stdout.on("error", onError);
  return () => {
    // Once it has fired, the listener stays, so that later writes fail quietly.
    if (!called) process.stdout.off("error", onError);
  };
}

/**
 * The id of the process that started this one (or of the one that adopted it, once that
 * ended).
 *
 * @example
 * ```ts
 * const parent = parentProcessId();
 * ```
 */
export function parentProcessId(): number {
  return process.ppid;
}

/**
 * How many processes can run in parallel here: the CPUs this process may use.
 *
 * @example
 * ```ts
 * const workers = cpuCount(); // 2 on a two-core machine
 * ```
 */
export function cpuCount(): number {
  return availableParallelism();
}

/**
 * This machine's host name.
 *
 * @example
 * ```ts
 * const node = `${hostName()}-${processId()}`;
 * ```
 */
export function hostName(): string {
  return hostname();
}

/**
 * An environment variable, or undefined when it is not set (or cannot be read, as on Deno
 * without `--allow-env`).
 *
 * @example
 * ```ts
 * const url = environmentVariable("REDIS_URL") ?? "redis://127.0.0.1:6379";
 * ```
 */
export function environmentVariable(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}

/**
 * Resolves once everything written to standard output and error so far has been handed to
 * the OS, so that exiting then loses none of it (writes to a pipe are not synchronous on every
 * runtime).
 *
 * @example
 * ```ts
 * writeStdout("bye\n");
 * await flushOutput();
 * exitProcess(0);
 * ```
 */
export async function flushOutput(): Promise<void> {
  flushPendingStdout();
  await Promise.all([process.stdout, process.stderr].map((stream) =>
    new Promise<void>((resolve) => {
      try {
        stream.write("", () => resolve());
      } catch {
        resolve();
      }
    })
  ));
}

/**
 * Ends the process with an exit code, once standard output and error are written out.
 *
 * @example
 * ```ts
 * exitProcess(2); // bad arguments
 * ```
 */
export function exitProcess(code: number): never {
  flushPendingStdout();
  process.exit(code);
}

/**
 * The path of the runtime executable running this program (deno, bun or node).
 *
 * @example
 * ```ts
 * console.log(currentExecutable()); // e.g. /usr/bin/node
 * ```
 */
export function currentExecutable(): string {
  return process.execPath;
}

/**
 * The working directory.
 *
 * @example
 * ```ts
 * console.log(workingDirectory());
 * ```
 */
export function workingDirectory(): string {
  return process.cwd();
}

/**
 * Whether the module at `moduleUrl` is the program being run (its script argument).
 *
 * @example
 * ```ts
 * if (isMainModule(import.meta.url)) console.log("run directly");
 * ```
 */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(fileURLToPath(moduleUrl)) === realpathSync(script);
  } catch {
    return false;
  }
}

/**
 * The file path of a `file:` URL, such as `import.meta.url`.
 *
 * @example
 * ```ts
 * const here: string = filePathOf(import.meta.url);
 * ```
 */
export function filePathOf(url: string | URL): string {
  return fileURLToPath(url);
}

/**
 * Joins path segments and makes the result absolute (against the working directory).
 *
 * @example
 * ```ts
 * const out = absolutePath("bench-results", "models.json");
 * ```
 */
export function absolutePath(...segments: string[]): string {
  return resolve(...segments);
}

/**
 * The directory part of a path.
 *
 * @example
 * ```ts
 * console.log(parentDirectory("/a/b/c.txt")); // "/a/b"
 * ```
 */
export function parentDirectory(path: string): string {
  return dirname(path);
}

/**
 * Whether a file or directory exists.
 *
 * @example
 * ```ts
 * if (!pathExists("npm/esm/src/cli/main.js")) console.log("run npm run build first");
 * ```
 */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

/**
 * Writes a text file, creating its directory if needed.
 *
 * @example
 * ```ts
 * writeTextFile("out/models.json", JSON.stringify({ rows: [] }));
 * ```
 */
export function writeTextFile(path: string, text: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, text);
}

/**
 * Reads a text file, such as a PEM certificate.
 *
 * @example
 * ```ts
 * const cert = readTextFile("server.pem");
 * ```
 */
export function readTextFile(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * Finds an executable: first as `node_modules/.bin/<name>` under each of `roots`, then on
 * `PATH`. Returns its path, or undefined when there is none.
 *
 * @example
 * ```ts
 * const bun = findExecutable("bun", [workingDirectory()]);
 * if (!bun) console.error("Bun is not installed");
 * ```
 */
export function findExecutable(name: string, roots: string[]): string | undefined {
  const candidates = roots.map((root) => join(root, "node_modules", ".bin", name));
  const path = process.env.PATH ?? "";
  for (const dir of path.split(delimiter)) if (dir && isAbsolute(dir)) candidates.push(join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * A child process started by {@linkcode startProcess}.
 *
 * @example
 * ```ts
 * const child: ChildHandle = startProcess("node", ["--version"], { onStdout: (t) => console.log(t) });
 * console.log(await child.exited);
 * ```
 */
export interface ChildHandle {
  /** The process id. */
  readonly pid: number;
  /** Resolves with the exit code (or null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** The signal that ended the process, once it has ended by one. */
  readonly exitSignal: string | null;
  /** Bytes written to its standard input and not yet taken by it (with `input`). */
  readonly queuedInputBytes: number;
  /** Writes text to its standard input (with `input`); false once it has ended or closed it. */
  writeInput(text: string): boolean;
  /** Whether the process has ended. */
  readonly hasExited: boolean;
  /** Sends a signal. */
  kill(signal?: "SIGTERM" | "SIGKILL" | "SIGINT"): void;
}

/**
 * Options of {@linkcode startProcess}.
 *
 * @example
 * ```ts
 * const options: StartProcessOptions = { cwd: "/tmp", onStdout: (text) => console.log(text) };
 * ```
 */
export interface StartProcessOptions {
  /** The working directory of the child. */
  cwd?: string;
  /** Receives the child's standard output as text, as it comes. Ignored when absent. */
  onStdout?(text: string): void;
  /** Receives the child's standard error as text. Without it, standard error is inherited. */
  onStderr?(text: string): void;
  /** Variables added to the child's environment (which is otherwise this process's). */
  env?: Record<string, string>;
  /** Give the child a standard input to write to with {@linkcode ChildHandle.writeInput}. */
  input?: boolean;
}

/**
 * Starts a child process with no standard input.
 *
 * @example
 * ```ts
 * const child = startProcess(currentExecutable(), ["--version"], { onStdout: (t) => console.log(t) });
 * await child.exited;
 * ```
 */
export function startProcess(command: string, args: string[], options: StartProcessOptions = {}): ChildHandle {
  const child = spawn(command, args, {
    cwd: options.cwd,
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    stdio: [
      options.input ? "pipe" : "ignore",
      options.onStdout ? "pipe" : "ignore",
      options.onStderr ? "pipe" : "inherit",
    ],
  });
  return childHandle(child, command, options);
}

/**
 * Whether this process is a worker that `node:cluster` started (Node only; false elsewhere).
 *
 * @example
 * ```ts
 * if (isClusterWorker()) console.log("listening through the cluster's primary");
 * ```
 */
export function isClusterWorker(): boolean {
  return typeof process.send === "function" && process.env.NODE_UNIQUE_ID !== undefined;
}

/**
 * Starts `script` under Node as a `node:cluster` worker of this process, so that the ports it
 * listens on are shared with the other workers through this process (the cluster's primary):
 * how a group of Node processes shares a port without `SO_REUSEPORT`. Node only.
 *
 * @example
 * ```ts
 * const worker = await startClusterWorker("main.js", ["serve", "echo"], { onStdout: (t) => console.log(t) });
 * await worker.exited;
 * ```
 */
export async function startClusterWorker(
  script: string,
  args: string[],
  options: StartProcessOptions = {},
): Promise<ChildHandle> {
  const { default: cluster } = await import("node:cluster");
  cluster.setupPrimary({ exec: script, args, silent: true, ...(options.cwd ? { cwd: options.cwd } : {}) });
  const worker = cluster.fork(options.env);
  const child = worker.process;
  if (!options.onStdout) child.stdout?.resume();
  if (!options.onStderr) child.stderr?.on("data", (d: Uint8Array) => process.stderr.write(d));
  const handle = childHandle(child, script, options);
  return {
    get pid() {
      return handle.pid;
    },
    get exited() {
      return handle.exited;
    },
    get hasExited() {
      return handle.hasExited;
    },
    get exitSignal() {
      return handle.exitSignal;
    },
    get queuedInputBytes() {
      return handle.queuedInputBytes;
    },
    writeInput: (text) => handle.writeInput(text),
    kill(signal = "SIGTERM") {
      // Stop handing the worker connections first: disconnect() takes it out of the
      // round robin at once, and the connections already on their way reach it before the
      // disconnect does, so none is lost between the two.
      if (signal === "SIGTERM" && worker.isConnected()) worker.disconnect();
      handle.kill(signal);
    },
  };
}

/**
 * In a `node:cluster` worker: resolves once the primary has disconnected it (every
 * connection the primary handed it has arrived), or after `timeoutMs`. Resolves at once
 * elsewhere.
 *
 * @example
 * ```ts
 * await clusterDisconnected(5000);
 * exitProcess(0);
 * ```
 */
export function clusterDisconnected(timeoutMs: number): Promise<void> {
  if (!isClusterWorker() || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    process.once("disconnect", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function childHandle(child: ChildProcess, command: string, options: StartProcessOptions): ChildHandle {
  let exited = false;
  let exitSignal: string | null = null;
  // The process has ended (it may not be signalled any more: its pid can be reused), even if
  // its output is still being read.
  child.once("exit", () => (exited = true));
  const done = new Promise<number | null>((resolveExit, reject) => {
    child.once("error", (error) => {
      exited = true;
      reject(new Error(`Could not start ${command}: ${error.message}`, { cause: error }));
    });
    // "close" rather than "exit": the last lines the child wrote have been read by then.
    child.once("close", (code, signal) => {
      exited = true;
      exitSignal = signal;
      resolveExit(code);
    });
  });
  done.catch(() => {});
  const decoder = new TextDecoder();
  const errDecoder = new TextDecoder();
  const input = options.input ? child.stdin : null;
  let inputOpen = input !== null;
  let queuedInput = 0;
  // A child that exits or closes its input makes writes fail with EPIPE: that ends the input,
  // and is not an error of this process.
  input?.on("error", () => (inputOpen = false));
  input?.on("close", () => (inputOpen = false));
  if (!options.input) child.stdin?.end();
  child.stdout?.on("data", (d: Uint8Array) => options.onStdout?.(decoder.decode(d, { stream: true })));
  child.stderr?.on("data", (d: Uint8Array) => options.onStderr?.(errDecoder.decode(d, { stream: true })));
  return {
    pid: child.pid ?? -1,
    exited: done,
    get hasExited() {
      return exited;
    },
    get exitSignal() {
      return exitSignal;
    },
    get queuedInputBytes() {
      return queuedInput;
    },
    writeInput(text: string) {
      if (!inputOpen || exited || input === null) return false;
      // Counted here, not read from writableLength, which Bun keeps at 0 while a pipe is full.
      const bytes = Buffer.byteLength(text);
      queuedInput += bytes;
      input.write(text, () => (queuedInput -= bytes));
      return true;
    },
    kill(signal = "SIGTERM") {
      // By pid rather than child.kill(): Deno's ChildProcess sends only the first signal.
      if (!exited && child.pid !== undefined) signalProcess(child.pid, signal);
    },
  };
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * The CPU time (user and system, all threads) a process has used, in seconds, read from
 * `/proc` (Linux only).
 *
 * @example
 * ```ts
 * import type { ChildHandle } from "./process.ts";
 * declare const child: ChildHandle;
 * const before = processCpuSeconds(child.pid);
 * ```
 */
export function processCpuSeconds(pid: number): number {
  const stat = readProcFile(pid, "stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * The resident memory of a process, in bytes, read from `/proc` (Linux only).
 *
 * @example
 * ```ts
 * import type { ChildHandle } from "./process.ts";
 * declare const child: ChildHandle;
 * console.log(processResidentBytes(child.pid) / 1024 / 1024, "MiB");
 * ```
 */
export function processResidentBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readProcFile(pid, "status"));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * The soft limit on open file descriptors of this process (`RLIMIT_NOFILE`), read from
 * `/proc/self/limits`; undefined where it cannot be read (not Linux) or is unlimited.
 *
 * @example
 * ```ts
 * const limit = openFileLimit(); // e.g. 1048576, or 256 under `prlimit --nofile=256`
 * ```
 */
export function openFileLimit(): number | undefined {
  let limits: string;
  try {
    limits = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+)/m.exec(limits);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether Linux hands the connections queued on a closing `SO_REUSEPORT` listener to the other
 * listeners of its port (`net.ipv4.tcp_migrate_req`, Linux 5.14 and later) rather than
 * resetting them; undefined where that cannot be read.
 *
 * @example
 * ```ts
 * if (listenerMigration() === false) console.log("sysctl -w net.ipv4.tcp_migrate_req=1");
 * ```
 */
export function listenerMigration(): boolean | undefined {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "1";
  } catch {
    return undefined;
  }
}

function readProcFile(pid: number, name: string): string {
  try {
    return readFileSync(`/proc/${pid}/${name}`, "utf8");
  } catch (error) {
    throw new Error(
      `Cannot read /proc/${pid}/${name}: process statistics need Linux's /proc (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * Resolves on the next turn of the event loop, after pending I/O callbacks have run (like
 * `setImmediate`), so that a busy loop lets data arrive.
 *
 * @example
 * ```ts
 * declare let polling: boolean;
 * declare function pollOnce(): void;
 * while (polling) {
 *   pollOnce();
 *   await nextEventLoopTurn();
 * }
 * ```
 */
export function nextEventLoopTurn(): Promise<void> {
  return new Promise((done) => setImmediate(done));
}
