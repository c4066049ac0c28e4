/**
 * What every echo and chat example shares: its command line (`--host`, `--port`,
 * `--framing raw|lp4|varint|lines`, `--transport`), the `listening on HOST:PORT` line, and
 * graceful shutdown on SIGINT and SIGTERM. The servers are the apps of src/apps/ on the hosts of src/hosts/.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { formatHostPort } from "../src/runtime/errors.ts";
import { availableTransports, detectRuntime, loadTransport } from "../src/runtime/detect.ts";
import type { TransportName } from "../src/runtime/types.ts";
import { ECHO_FRAMINGS, type EchoFraming, type EchoServer, type EchoServerOptions } from "../src/apps/echo.ts";
import { isMainModule, readTextFile } from "../src/platform/process.ts";
import { tlsTransport } from "../src/runtime/tls_transport.ts";

export {
  echoCodec,
  type EchoFraming,
  type EchoServer,
  type EchoServerOptions,
  lp4,
  MAX_ECHO_FRAME,
  startEcho as startModelEcho,
} from "../src/apps/echo.ts";

/** Whether the module at `moduleUrl` is the program being run. */
export const isMain: (moduleUrl: string) => boolean = isMainModule;

/** Parses the shared arguments, starts the server, prints `listening on`, stops on signals. */
export async function runEchoCli(
  name: string,
  start: (options: EchoServerOptions) => Promise<EchoServer>,
): Promise<void> {
  const usage = `usage: ${name} [--host 127.0.0.1] [--port 9000] [--framing ${ECHO_FRAMINGS.join("|")}] ` +
    `[--transport ${availableTransports().filter((t) => t !== "memory").join("|")}] ` +
    "[--tls-cert FILE --tls-key FILE]";
  const fail = (message: string): never => {
    console.error(`${name}: ${message}\n${usage}`);
    process.exit(2);
  };
  let values: {
    host?: string;
    port?: string;
    framing?: string;
    transport?: string;
    "tls-cert"?: string;
    "tls-key"?: string;
    help?: boolean;
  } = {};
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "9000" },
        framing: { type: "string", default: "raw" },
        transport: { type: "string", default: detectRuntime() },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
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
  if (!ECHO_FRAMINGS.includes(values.framing as EchoFraming)) {
    fail(`framing must be one of ${ECHO_FRAMINGS.join(", ")}, got ${JSON.stringify(values.framing)}`);
  }
  const transportName = values.transport as TransportName;
  if (!availableTransports().includes(transportName) || transportName === "memory") {
    fail(`transport ${JSON.stringify(values.transport)} is not available here`);
  }
  let transport = await loadTransport(transportName);
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if ((cert === undefined) !== (key === undefined)) fail("TLS needs both --tls-cert and --tls-key");
  if (cert !== undefined && key !== undefined) {
    transport = tlsTransport(transport, { server: { cert: readTextFile(cert), key: readTextFile(key) } });
  }
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
