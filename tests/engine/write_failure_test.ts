/**
 * A stream that refuses a write (it failed, or is being reset) ends its own connection only:
 * nothing is thrown to the process, from a handler, a broadcast or a microtask.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Connection, serve } from "../../src/engine/server.ts";
import { delimited } from "../../src/framing/mod.ts";
import { NetError } from "../../src/runtime/errors.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import { DelegatingStream } from "../../src/runtime/delegating_stream.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import { waitFor } from "../cli/_helpers.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { within } from "../helpers/net.ts";

/** A stream whose writes throw once `broken` is set, as a stream does once it failed. */
class BreakableStream extends DelegatingStream {
  broken = false;
  override write(bytes: Uint8Array): boolean {
    if (this.broken) throw new NetError("EPIPE", `Cannot write ${bytes.byteLength} bytes: the stream is closed`);
    return super.write(bytes);
  }
}

function breakableTransport(inner: Transport, accepted: BreakableStream[]): Transport {
  return {
    ...inner,
    name: inner.name,
    capabilities: inner.capabilities,
    connect: (o) => inner.connect(o),
    bindDatagram: (o) => inner.bindDatagram(o),
    listen: (options) =>
      inner.listen({
        ...options,
        onAccept(stream: Stream) {
          const wrapped = new BreakableStream(stream);
          accepted.push(wrapped);
          options.onAccept(wrapped);
        },
      }),
  };
}

const text = new TextEncoder();

async function lines(
  transport: Transport,
  port: number,
): Promise<{ got: string[]; stream: Stream; closed: () => boolean }> {
  const stream = await transport.connect({ hostname: "127.0.0.1", port });
  const got: string[] = [];
  let rest = "";
  let closed = false;
  stream.setHandlers({
    onData(chunk) {
      rest += new TextDecoder().decode(chunk);
      const parts = rest.split("\n");
      rest = parts.pop()!;
      got.push(...parts);
    },
    onClose: () => void (closed = true),
  });
  return { got, stream, closed: () => closed };
}

describe("engine: a write the stream refuses", () => {
  for (const where of ["memory", "real sockets"] as const) {
    test(`ends only that connection, in a broadcast and in the batch flush (${where})`, async () => {
      const transport = where === "memory" ? createMemoryTransport({ latencyMs: 1 }) : await defaultTransport();
      const accepted: BreakableStream[] = [];
      const conns = new Set<Connection>();
      const closeReasons: (Error | undefined)[] = [];
      const server = await serve({
        transport: breakableTransport(transport, accepted),
        port: 0,
        framer: delimited(),
        onOpen: (conn) => void conns.add(conn),
        onClose: (conn, error) => {
          conns.delete(conn);
          closeReasons.push(error);
        },
        onMessage(_from, frame) {
          // A broadcast: the broken stream's batch fails when it is flushed (in a microtask for
          // the others, at the end of the dispatch for the sender).
          for (const conn of conns) if (conn.writable) conn.send(frame);
        },
      });
      try {
        const a = await lines(transport, server.addr.port);
        const b = await lines(transport, server.addr.port);
        await waitFor(() => accepted.length === 2, "both connections");
        a.stream.write(text.encode("one\n"));
        await waitFor(() => b.got.length === 1 && a.got.length === 1, "the first broadcast");
        accepted[1].broken = true; // b's server-side stream now refuses writes
        a.stream.write(text.encode("two\n"));
        await waitFor(() => b.closed(), "the broken connection to close");
        a.stream.write(text.encode("three\n"));
        await waitFor(() => a.got.length === 3, "the sender to go on");
        assert.deepEqual(a.got, ["one", "two", "three"]);
        assert.deepEqual(b.got, ["one"]);
        assert.equal(closeReasons.length, 1);
        assert.equal((closeReasons[0] as NetError).code, "EPIPE");
        assert.equal(server.stats.errors.EPIPE, 1);
        // And when the sender's own stream breaks, in the middle of its own dispatch.
        accepted[0].broken = true;
        a.stream.write(text.encode("four\n"));
        await waitFor(() => a.closed(), "the sender's connection to close");
        assert.equal(server.stats.connections, 0);
      } finally {
        await within(server.close(), 10_000, "the server to close");
      }
    });
  }

  test("Connection.reset() aborts at once, and send after it is refused at the call", async () => {
    const transport = createMemoryTransport();
    let conn: Connection | undefined;
    const server = await serve({
      transport,
      port: 0,
      framer: delimited(),
      onOpen: (c) => void (conn = c),
      onMessage() {},
    });
    try {
      const client = await lines(transport, server.addr.port);
      await waitFor(() => conn !== undefined, "the connection");
      assert.equal(conn!.writable, true);
      conn!.send(text.encode("queued"));
      conn!.reset();
      assert.equal(conn!.writable, false);
      assert.throws(() => conn!.send(text.encode("late")), (e: NetError) => e.code === "EPIPE");
      await waitFor(() => client.closed(), "the client to see the reset");
      assert.deepEqual(client.got, []);
    } finally {
      await server.close();
    }
  });
});
