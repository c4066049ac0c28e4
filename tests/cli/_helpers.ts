/** Helpers for the CLI and apps tests: a line client over real sockets, and a test CliIo. */
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import type { CliIo } from "../../src/cli/cli_io.ts";
import { sleep } from "../helpers/net.ts";
import { spawn } from "node:child_process";
import { cliCommandLine } from "../../src/cli/cli_location.ts";
import { detectRuntime, type RuntimeName } from "../../src/runtime/detect.ts";

/** Waits until `condition()` holds, or fails naming `what`. */
export async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** A client that speaks lines (or lp4 frames) and keeps every line it received. */
export class LineClient {
  readonly lines: string[] = [];
  closed = false;
  closeError: Error | undefined;
  readonly stream: Stream;
  readonly #lp4: boolean;
  #text = "";
  #pending = new Uint8Array(0);
  #decoder = new TextDecoder();

  private constructor(stream: Stream, lp4: boolean) {
    this.stream = stream;
    this.#lp4 = lp4;
    stream.setHandlers({
      onData: (chunk) => (this.#lp4 ? this.#frames(chunk) : this.#chars(chunk)),
      onClose: (error) => {
        this.closed = true;
        this.closeError = error;
      },
    });
  }

  static async connect(port: number, options: { lp4?: boolean } = {}): Promise<LineClient> {
    const transport = await defaultTransport();
    const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 5000 });
    return new LineClient(stream, options.lp4 ?? false);
  }

  #chars(chunk: Uint8Array): void {
    this.#text += this.#decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = this.#text.indexOf("\n")) >= 0) {
      this.lines.push(this.#text.slice(0, nl));
      this.#text = this.#text.slice(nl + 1);
    }
  }

  #frames(chunk: Uint8Array): void {
    const buf = new Uint8Array(this.#pending.byteLength + chunk.byteLength);
    buf.set(this.#pending);
    buf.set(chunk, this.#pending.byteLength);
    let off = 0;
    while (buf.byteLength - off >= 4) {
      const len = new DataView(buf.buffer, buf.byteOffset + off).getUint32(0);
      if (buf.byteLength - off - 4 < len) break;
      this.lines.push(this.#decoder.decode(buf.subarray(off + 4, off + 4 + len)));
      off += 4 + len;
    }
    this.#pending = buf.slice(off);
  }

  send(...lines: string[]): void {
    const text = new TextEncoder();
    for (const line of lines) {
      if (!this.#lp4) {
        this.stream.write(text.encode(line + "\n"));
        continue;
      }
      const body = text.encode(line);
      const frame = new Uint8Array(4 + body.byteLength);
      new DataView(frame.buffer).setUint32(0, body.byteLength);
      frame.set(body, 4);
      this.stream.write(frame);
    }
  }

  /** Waits for a line that matches, and returns it. */
  async expect(match: string | RegExp, what = String(match), ms = 10_000): Promise<string> {
    const test = (l: string) => typeof match === "string" ? l === match : match.test(l);
    await waitFor(() => this.lines.some(test), `${what}; got ${JSON.stringify(this.lines.slice(-5))}`, ms);
    return this.lines.find(test)!;
  }

  /** Waits for a line that matches after those already seen at index `from`, and returns its index. */
  async expectAfter(from: number, match: string | RegExp, ms = 10_000): Promise<number> {
    const test = (l: string) => typeof match === "string" ? l === match : match.test(l);
    await waitFor(
      () => this.lines.slice(from).some(test),
      `${String(match)} after line ${from}; got ${JSON.stringify(this.lines.slice(-5))}`,
      ms,
    );
    return from + this.lines.slice(from).findIndex(test);
  }

  close(): void {
    this.stream.reset();
  }
}

/** A CliIo that records what a command prints; `stop()` is its Ctrl-C. */
export interface TestIo extends CliIo {
  out: string;
  err: string;
  stop(): void;
  /** Types a line on standard input. */
  type(line: string): void;
  /** Ends standard input. */
  endInput(): void;
}

/** Makes a {@linkcode TestIo}; `input` lines are read one by one, then input ends (unless `keepInputOpen`). */
export function testIo(input: string[] = [], options: { keepInputOpen?: boolean; terminal?: boolean } = {}): TestIo {
  let requestStop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (requestStop = resolve));
  let end: (() => void) | undefined;
  let deliver: ((line: string) => void) | undefined;
  const io: TestIo = {
    out: "",
    err: "",
    terminal: options.terminal ?? false,
    stdout(text) {
      io.out += text;
    },
    stderr(text) {
      io.err += text;
    },
    stopRequested: () => stopped,
    stop: () => requestStop("SIGINT"),
    endInput: () => end?.(),
    type: (line) => deliver?.(line),
    readLines(onLine, onEnd) {
      let open = true;
      deliver = (line) => open && onLine(line);
      end = () => {
        if (!open) return;
        open = false;
        onEnd();
      };
      void (async () => {
        for (const line of input) {
          await sleep(20);
          if (!open) return;
          onLine(line);
        }
        if (!options.keepInputOpen) {
          await sleep(20);
          end!();
        }
      })();
      return () => {
        open = false;
      };
    },
  };
  return io;
}

/**
 * Runs the CLI in a process of its own under `runtime` (default: this one), after `prefix`
 * (such as prlimit and its options).
 */
export function spawnCli(args: string[], prefix: string[] = [], runtime: RuntimeName = detectRuntime()) {
  const { command, args: argv } = cliCommandLine(runtime, args);
  const [program, ...programArgs] = [...prefix, command, ...argv];
  const child = spawn(program, programArgs, { stdio: ["ignore", "pipe", "pipe"] });
  const result = {
    out: "",
    err: "",
    code: undefined as number | null | undefined,
    signal: null as string | null,
    child,
  };
  child.stdout!.on("data", (d: Uint8Array) => (result.out += new TextDecoder().decode(d)));
  child.stderr!.on("data", (d: Uint8Array) => (result.err += new TextDecoder().decode(d)));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => {
      result.signal = signal;
      resolve(result.code = code);
    })
  );
  return { result, exited };
}
