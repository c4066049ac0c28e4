// deno-lint-ignore-file no-explicit-any -- the raw baselines use each runtime's API untyped.
/**
 * The baseline for the echo benchmark: an echo server on the runtime's own API, with no
 * adapter: `Bun.listen`, a Deno `conn.read()` loop, or `node:net`. It prints
 * `listening on HOST:PORT` when ready.
 *
 * Usage: <runtime> scripts/bench/raw_echo_server.ts [--port 0] [--read-buffer 65536]
 */
import { parseArgs } from "node:util";
import * as net from "node:net";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "read-buffer": { type: "string", default: "65536" },
  },
});
const host = values.host!;
const port = Number(values.port);
const g = globalThis as Record<string, any>;

if (g.Bun) {
  const server = g.Bun.listen({
    hostname: host,
    port,
    socket: {
      data(socket: any, data: Uint8Array) {
        socket.write(data);
      },
      error() {},
    },
  });
  console.log(`listening on ${host}:${server.port}`);
} else if (g.Deno) {
  const Deno = g.Deno;
  const size = Number(values["read-buffer"]);
  const listener = Deno.listen({ hostname: host, port });
  console.log(`listening on ${host}:${listener.addr.port}`);
  const serve = async (conn: any) => {
    conn.setNoDelay(true);
    const buffer = new Uint8Array(size);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await conn.write(buffer.subarray(off, n));
      }
    } catch {
      // reset by the client at the end of a run
    }
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  for await (const conn of listener) serve(conn);
} else {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on("data", (data) => socket.write(data));
    socket.on("error", () => {});
  });
  server.listen(port, host, () => {
    console.log(`listening on ${host}:${(server.address() as net.AddressInfo).port}`);
  });
}
