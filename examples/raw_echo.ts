/**
 * An echo server over the runtime adapter. It runs unchanged on every runtime:
 *
 *   deno run -A examples/raw_echo.ts --host 127.0.0.1 --port 9000
 *   bun run examples/raw_echo.ts --port 9000 --transport node
 *   node npm/esm/examples/raw_echo.js --port 0
 *
 * It prints `listening on HOST:PORT` once it is ready, and shuts down on SIGINT or SIGTERM.
 * The server itself is the echo on the bare adapter host (src/hosts/adapter.ts), the models' baseline.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { availableTransports, detectRuntime, loadTransport } from "../src/runtime/detect.ts";
import type { TransportName } from "../src/runtime/types.ts";
import { startEcho } from "../src/apps/echo.ts";
import { formatHostPort } from "../src/runtime/errors.ts";

const USAGE = `usage: raw_echo [--host 127.0.0.1] [--port 9000] [--transport ${availableTransports().join("|")}]`;

function fail(message: string): never {
  console.error(`raw_echo: ${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "9000" },
      transport: { type: "string", default: detectRuntime() },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port must be 0 to 65535, got ${values.port}`);
const name = values.transport as TransportName;
if (!availableTransports().includes(name) || name === "memory") {
  fail(`transport ${JSON.stringify(values.transport)} is not available here`);
}

const transport = await loadTransport(name);
const server = await startEcho("adapter", { transport, hostname: values.host, port }).catch((error) =>
  fail(error.message)
);
console.log(`listening on ${formatHostPort(server.addr.hostname, server.addr.port)}`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  console.log("stopped");
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
