/**
 * What every echo example shares: its command line (`--host`, `--port`, `--framing raw|lp4`,
 * `--transport`), the `listening on HOST:PORT` line, graceful shutdown on SIGINT and SIGTERM,
 * and the frame codec for `lp4` (4-byte big-endian length prefix).
 */
import { parseArgs } from "node:util";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { formatHostPort } from "../src/core/errors.ts";
import { availableTransports, detectRuntime, loadTransport } from "../src/runtime/detect.ts";
import type { Addr, Transport, TransportName } from "../src/runtime/types.ts";
import { lengthPrefixed } from "../src/framing/mod.ts";
import type { FrameCodec } from "../src/framing/mod.ts";

/** Framing of an echo server: raw bytes, or frames with a 4-byte length prefix. */
export type EchoFraming = "raw" | "lp4";

/** Options every echo example's `startEcho` takes. */
export interface EchoServerOptions {
  transport?: Transport;
  hostname?: string;
  port?: number;
  framing?: EchoFraming;
}

/** A running echo server. */
export interface EchoServer {
  readonly addr: Addr;
  close(): Promise<void>;
}

/** The largest lp4 frame the echo examples accept (the conformance suite sends 8 MiB). */
export const MAX_ECHO_FRAME = 16 * 1024 * 1024;

/** The lp4 codec: a 4-byte big-endian length, then the payload. */
export function lp4(): FrameCodec {
  return lengthPrefixed({ lengthFieldLength: 4, maxFrameLength: MAX_ECHO_FRAME });
}

/** Whether the module at `moduleUrl` is the program being run. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(fileURLToPath(moduleUrl)) === realpathSync(script);
  } catch {
    return false;
  }
}

/** Parses the shared arguments, starts the server, prints `listening on`, stops on signals. */
export async function runEchoCli(
  name: string,
  start: (options: EchoServerOptions) => Promise<EchoServer>,
): Promise<void> {
  const usage = `usage: ${name} [--host 127.0.0.1] [--port 9000] [--framing raw|lp4] ` +
    `[--transport ${availableTransports().filter((t) => t !== "memory").join("|")}]`;
  const fail = (message: string): never => {
    console.error(`${name}: ${message}\n${usage}`);
    process.exit(2);
  };
  let values: { host?: string; port?: string; framing?: string; transport?: string; help?: boolean } = {};
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "9000" },
        framing: { type: "string", default: "raw" },
        transport: { type: "string", default: detectRuntime() },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port must be 0 to 65535, got ${values.port}`);
  if (values.framing !== "raw" && values.framing !== "lp4") {
    fail(`framing must be raw or lp4, got ${JSON.stringify(values.framing)}`);
  }
  const transportName = values.transport as TransportName;
  if (!availableTransports().includes(transportName) || transportName === "memory") {
    fail(`transport ${JSON.stringify(values.transport)} is not available here`);
  }
  const transport = await loadTransport(transportName);
  let server: EchoServer;
  try {
    server = await start({ transport, hostname: values.host, port, framing: values.framing as EchoFraming });
  } catch (error) {
    fail((error as Error).message);
  }
  console.log(`listening on ${formatHostPort(server!.addr.hostname, server!.addr.port)}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    console.log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
