/**
 * The echo application on one model's host (`src/hosts`), started directly: no connection
 * guard and no traffic counter, as `sockmodels serve` adds them. It is to the hosts what
 * examples/echo_engine.ts is to the engine, so that their memory is measured the same way
 * (scripts/bench/idle.ts). It prints `listening on HOST:PORT` when ready, and stops on SIGINT
 * or SIGTERM.
 *
 * Usage: <runtime> scripts/bench/host_echo_server.ts --model M [--framing lp4] [--port 0]
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { type EchoFraming, startEcho } from "../../src/apps/echo.ts";
import type { HostModel } from "../../src/hosts/mod.ts";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    model: { type: "string" },
    framing: { type: "string", default: "lp4" },
  },
});
if (values.model === undefined) throw new Error("--model is required");
const server = await startEcho(values.model as HostModel, {
  hostname: values.host,
  port: Number(values.port),
  framing: values.framing as EchoFraming,
});
console.log(`listening on ${values.host}:${server.addr.port}`);
const stop = () => void server.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
