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
 * `--with copy,fifo,hop` (raw framing, no TLS) adds the adapter's pieces one at a time, to
 * measure what each costs (scripts/bench/echo.ts --pieces):
 *
 * - `copy`: every chunk read is copied into a buffer of its own before it is echoed, as the
 *   adapter does on Deno so that its consumer owns what it is handed;
 * - `fifo`: writes go through the adapter's write queue (`ByteQueue`, small chunks joined);
 * - `hop`: the queue is written out in a microtask, as the adapter's pump is.
 *
 * Usage: <runtime> scripts/bench/raw_echo_server.ts [--port 0] [--read-buffer 65536]
 *        [--framing raw|lp4] [--tls-cert FILE --tls-key FILE] [--with copy,fifo,hop]
 */
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { ByteQueue } from "../../src/_internal/byte_queue.ts";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "read-buffer": { type: "string", default: "65536" },
    framing: { type: "string", default: "raw" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    with: { type: "string", default: "" },
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
const pieces = new Set(values.with!.split(",").filter((p) => p !== ""));
for (const piece of pieces) {
  if (!["copy", "fifo", "hop"].includes(piece)) throw new Error(`Pieces are copy, fifo and hop, got ${piece}`);
}
if (pieces.size > 0 && (framed || tlsFiles)) throw new Error("--with works with --framing raw and no TLS");

/** The adapter's write queue's joining limits (src/runtime/stream_base.ts). */
const JOIN_BELOW = 16 * 1024;
const JOIN_MAX = 64 * 1024;

/**
 * Wraps a connection's echo of one chunk with the pieces asked for: `write` is the runtime's
 * own write of bytes (which must not be called twice at once on Deno: `flush` serializes it).
 */
function withPieces(write: (bytes: Uint8Array) => void | Promise<void>): (chunk: Uint8Array) => void | Promise<void> {
  const copy = pieces.has("copy");
  if (!pieces.has("fifo") && !pieces.has("hop")) return copy ? (chunk) => write(chunk.slice()) : write;
  const queue = pieces.has("fifo") ? new ByteQueue() : undefined;
  const held: Uint8Array[] = [];
  let scheduled = false;
  const pump = async (): Promise<void> => {
    scheduled = false;
    if (queue) {
      for (
        let chunk = queue.shiftJoined(JOIN_BELOW, JOIN_MAX);
        chunk;
        chunk = queue.shiftJoined(JOIN_BELOW, JOIN_MAX)
      ) {
        await write(chunk);
      }
    } else {
      for (let chunk = held.shift(); chunk; chunk = held.shift()) await write(chunk);
    }
  };
  const hop = pieces.has("hop");
  let pumped: Promise<void> | undefined;
  // The promise settles once the chunk is written (Deno reuses its read buffer until then).
  return (chunk) => {
    const bytes = copy ? chunk.slice() : chunk;
    if (queue) queue.write(bytes);
    else held.push(bytes);
    if (!hop) return pump();
    if (!scheduled) {
      scheduled = true;
      pumped = new Promise<void>((resolve) => queueMicrotask(() => pump().then(resolve)));
    }
    return pumped;
  };
}

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
        socket.data = {
          echo: framed ? lp4Echo(true) : undefined,
          unsent: undefined,
          raw: pieces.size > 0 ? withPieces((bytes) => send(socket, bytes)) : undefined,
        };
      },
      data(socket: any, data: Uint8Array) {
        const echo = socket.data.echo;
        if (socket.data.raw !== undefined) return void socket.data.raw(data);
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
    const raw = pieces.size > 0 ? withPieces((bytes) => writeAll(conn, bytes)) : undefined;
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (raw !== undefined) {
          // The read buffer is reused: without copy, the echo must be out before the next read.
          await raw(buffer.subarray(0, n));
          continue;
        }
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
  // `for await` over the listener ends at the first failed accept, which a connection reset
  // while it waited in the backlog causes: such an error fails that connection only.
  while (true) {
    let conn: any;
    try {
      conn = await listener.accept();
    } catch (error) {
      const perConnection = error instanceof Deno.errors.NotConnected || error instanceof Deno.errors.ConnectionReset;
      if (!perConnection) await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    serve(conn);
  }
} else {
  const onSocket = (socket: net.Socket) => {
    if (framed) {
      // Node holds the written buffer until the kernel takes it: no reuse.
      const echo = lp4Echo(false);
      socket.on("data", (data: Uint8Array) => {
        const out = echo(data);
        if (out !== undefined) socket.write(out);
      });
    } else if (pieces.size > 0) {
      const raw = withPieces((bytes) => void socket.write(bytes));
      socket.on("data", (data: Uint8Array) => raw(data));
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
