/**
 * An echo server over the runtime adapter. It runs unchanged on every runtime:
 *
 *   deno run -A examples/raw_echo.ts --host 127.0.0.1 --port 9000
 *   bun run examples/raw_echo.ts --port 9000 --transport node
 *   node npm/esm/examples/raw_echo.js --port 0
 *
 * It prints `listening on HOST:PORT` once it is ready, and shuts down on SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { availableTransports, detectRuntime, loadTransport } from "../src/runtime/detect.ts";
import type { Stream, TransportName } from "../src/runtime/types.ts";
import { formatHostPort } from "../src/core/errors.ts";

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
const open = new Set<Stream>();

function echo(stream: Stream): void {
  open.add(stream);
  stream.setHandlers({
    onData(chunk) {
      // Stop reading while the peer is slow to read our echo; TCP then slows the sender.
      if (!stream.write(chunk)) stream.pause();
    },
    onDrain: () => stream.resume(),
    onClose: () => open.delete(stream),
  });
}

const listener = await transport.listen({ hostname: values.host, port, onAccept: echo }).catch((error) =>
  fail(error.message)
);
console.log(`listening on ${formatHostPort(listener.addr.hostname, listener.addr.port)}`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await listener.close();
  await Promise.all([...open].map((s) => s.close()));
  console.log("stopped");
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
