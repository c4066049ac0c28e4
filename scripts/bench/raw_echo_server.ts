// deno-lint-ignore-file no-explicit-any -- the raw baselines use each runtime's API untyped.
/**
 * The baselines of the echo benchmarks, on the runtime's own API with no adapter:
 * `Bun.listen`, a Deno `conn.read()` loop, or `node:net`. It prints `listening on HOST:PORT`
 * when ready.
 *
 * - `--framing raw` (default): every chunk read is written straight back, without parsing.
 * - `--framing lp4`: the least a framed echo can do, written by hand: 4-byte big-endian
 *   length frames are cut from each chunk as views, handed to an echo function that encodes
 *   its reply into a per-connection batch, and the batch is written once per read. It is the
 *   floor for any library that hands frames to a handler (scripts/bench/engine.ts).
 *
 * With `--tls-cert FILE --tls-key FILE` it serves TLS on the same API's TLS form
 * (`Bun.listen({ tls })`, `Deno.listenTls`, `node:tls`): the floor of a TLS echo.
 *
 * Usage: <runtime> scripts/bench/raw_echo_server.ts [--port 0] [--read-buffer 65536]
 *        [--framing raw|lp4] [--tls-cert FILE --tls-key FILE]
 */
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "read-buffer": { type: "string", default: "65536" },
    framing: { type: "string", default: "raw" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
  },
});
const tlsFiles = values["tls-cert"] && values["tls-key"]
  ? { cert: readFileSync(values["tls-cert"], "utf8"), key: readFileSync(values["tls-key"], "utf8") }
  : undefined;
const host = values.host!;
const port = Number(values.port);
const framed = values.framing === "lp4";
if (!framed && values.framing !== "raw") throw new Error(`Framing must be raw or lp4, got ${values.framing}`);
const g = globalThis as Record<string, any>;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.byteLength + b.byteLength);
  joined.set(a);
  joined.set(b, a.byteLength);
  return joined;
}

/**
 * One connection's lp4 echo: `push(chunk)` returns the replies to every whole frame of the
 * chunk as one buffer (a view of the batch), or undefined. A frame split across chunks is
 * kept until it is whole.
 */
function lp4Echo(reuseBatch: boolean): (chunk: Uint8Array) => Uint8Array | undefined {
  let partial: Uint8Array | undefined;
  let batch = new Uint8Array(16 * 1024);
  let used = 0;
  const reply = (frame: Uint8Array) => {
    const n = frame.byteLength;
    if (used + 4 + n > batch.byteLength) {
      const bigger = new Uint8Array(Math.max(batch.byteLength * 2, used + 4 + n));
      bigger.set(batch.subarray(0, used));
      batch = bigger;
    }
    batch[used] = n >>> 24;
    batch[used + 1] = (n >>> 16) & 0xff;
    batch[used + 2] = (n >>> 8) & 0xff;
    batch[used + 3] = n & 0xff;
    batch.set(frame, used + 4);
    used += 4 + n;
  };
  return (chunk) => {
    let bytes = chunk;
    if (partial !== undefined) {
      bytes = concat(partial, chunk);
      partial = undefined;
    }
    const end = bytes.byteLength;
    let at = 0;
    while (end - at >= 4) {
      const n = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
      if (end - at - 4 < n) break;
      reply(new Uint8Array(bytes.buffer, bytes.byteOffset + at + 4, n));
      at += 4 + n;
    }
    if (at < end) partial = bytes.slice(at);
    if (used === 0) return undefined;
    const out = batch.subarray(0, used);
    // Where the write may still hold the bytes, the next batch starts after them.
    if (!reuseBatch) batch = used > batch.byteLength >> 1 ? new Uint8Array(16 * 1024) : batch.subarray(used);
    used = 0;
    return out;
  };
}

if (g.Bun) {
  // Bun's write() returns how many bytes the kernel took; the rest is kept and written on drain.
  const send = (socket: any, bytes: Uint8Array) => {
    const state = socket.data;
    if (state.unsent !== undefined) {
      state.unsent = concat(state.unsent, bytes);
      return;
    }
    const written = socket.write(bytes);
    if (written < bytes.byteLength) state.unsent = bytes.slice(Math.max(0, written));
  };
  const server = g.Bun.listen({
    hostname: host,
    port,
    ...(tlsFiles ? { tls: tlsFiles } : {}),
    socket: {
      open(socket: any) {
        socket.data = { echo: framed ? lp4Echo(true) : undefined, unsent: undefined };
      },
      data(socket: any, data: Uint8Array) {
        const echo = socket.data.echo;
        if (echo === undefined) return send(socket, data);
        const out = echo(data);
        if (out !== undefined) send(socket, out);
      },
      drain(socket: any) {
        const state = socket.data;
        const unsent = state.unsent;
        if (unsent === undefined) return;
        state.unsent = undefined;
        send(socket, unsent);
      },
      error() {},
    },
  });
  console.log(`listening on ${host}:${server.port}`);
} else if (g.Deno) {
  const Deno = g.Deno;
  const size = Number(values["read-buffer"]);
  const listener = tlsFiles
    ? Deno.listenTls({ hostname: host, port, ...tlsFiles })
    : Deno.listen({ hostname: host, port });
  console.log(`listening on ${host}:${listener.addr.port}`);
  const writeAll = async (conn: any, bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
  };
  const serve = async (conn: any) => {
    conn.setNoDelay?.(true); // absent on TLS connections
    const buffer = new Uint8Array(size);
    // Each write is awaited before the next read, so the batch is reused.
    const echo = framed ? lp4Echo(true) : undefined;
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (echo === undefined) {
          await writeAll(conn, buffer.subarray(0, n));
          continue;
        }
        const out = echo(buffer.subarray(0, n));
        if (out !== undefined) await writeAll(conn, out);
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
  const onSocket = (socket: net.Socket) => {
    if (framed) {
      // Node holds the written buffer until the kernel takes it: no reuse.
      const echo = lp4Echo(false);
      socket.on("data", (data: Uint8Array) => {
        const out = echo(data);
        if (out !== undefined) socket.write(out);
      });
    } else {
      socket.on("data", (data) => socket.write(data));
    }
    socket.on("error", () => {});
  };
  const server = tlsFiles
    ? tls.createServer({ ...tlsFiles, noDelay: true } as tls.TlsOptions, onSocket)
    : net.createServer({ noDelay: true }, onSocket);
  server.listen(port, host, () => {
    console.log(`listening on ${host}:${(server.address() as net.AddressInfo).port}`);
  });
}
