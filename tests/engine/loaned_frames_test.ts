/**
 * `serve({ loanFrames: true })`: frames are lent to the handler, and the engine copies what
 * outlives it. The memory transport overwrites a loaned chunk with 0xa5 once `onData` returns,
 * so a frame the engine forgot to copy arrives corrupted here.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { serve, type ServeOptions } from "../../src/engine/server.ts";
import { moduleUrl } from "../../src/engine/thread_pool.ts";
import { delimited, type FrameCodec, lengthPrefixed } from "../../src/framing/mod.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Transport } from "../../src/runtime/types.ts";
import { concat, observe, sleep, within } from "../helpers/net.ts";

const lp4 = lengthPrefixed({ lengthFieldLength: 4 });

/** An lp4 echo that lends its frames, with `options` over those defaults. */
function serveLent(transport: Transport, options: Partial<ServeOptions> = {}) {
  return serve({
    transport,
    port: 0,
    framer: lp4,
    loanFrames: true,
    onMessage: (conn, frame) => void conn.send(frame),
    ...options,
  });
}

/** A payload of `size` bytes that says which frame it is. */
function payload(index: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (index * 31 + i * 7 + 1) & 0xff;
  return bytes;
}

/** Sends `payloads` framed with `codec` on a new connection and returns what comes back, decoded. */
async function exchange(transport: Transport, port: number, codec: FrameCodec, payloads: Uint8Array[]) {
  const client = await transport.connect({ hostname: "127.0.0.1", port, allowHalfOpen: true });
  const side = observe(client);
  for (const p of payloads) client.write(codec.encode(p));
  client.end();
  await within(side.closed, 20_000, "the echo");
  return codec.decoder().push(concat(side.chunks));
}

// Sizes around the read buffer's and the batch's limits, and past the 4 KiB frames that are
// written on their own instead of being copied into a batch.
const sizes = [1, 63, 64, 100, 1000, 2047, 4000, 4096, 5000, 20_000, 70_000];
const payloads = sizes.flatMap((size, i) => [payload(2 * i, size), payload(2 * i + 1, size)]);

for (
  const [name, make] of [
    ["native", () => defaultTransport()],
    ["memory", () => Promise.resolve(createMemoryTransport())],
    ["memory, 7-byte chunks", () => Promise.resolve(createMemoryTransport({ chunkSize: 7 }))],
    // A reply that the peer's window cannot take at once stays queued in the stream.
    ["memory, 8 KiB window", () => Promise.resolve(createMemoryTransport({ receiveWindow: 8192 }))],
  ] as [string, () => Promise<Transport>][]
) {
  describe(`lent frames over the ${name} transport`, () => {
    test("a synchronous echo returns every byte, small frames and large", async () => {
      const transport = await make();
      await using server = await serveLent(transport);
      assert.deepEqual(await exchange(transport, server.addr.port, lp4, payloads), payloads);
    });

    test("frames that wait behind an async handler are copied by the engine", async () => {
      const transport = await make();
      await using server = await serveLent(transport, {
        async onMessage(conn, frame) {
          // Valid until the first await: what the handler needs later, it copies.
          const kept = frame.slice();
          await sleep(1);
          conn.send(kept);
        },
      });
      assert.deepEqual(await exchange(transport, server.addr.port, lp4, payloads), payloads);
    });

    test("a decoder that may keep views of its input is never lent a chunk", async () => {
      const transport = await make();
      const lines = delimited({ delimiter: "\n", maxFrameLength: 100_000 });
      const text = sizes.map((size, i) => new TextEncoder().encode("x".repeat(size - 1) + String(i % 10)));
      await using server = await serveLent(transport, { framer: lines });
      assert.deepEqual(await exchange(transport, server.addr.port, lines, text), text);
    });

    test("frames handed to threads are copies", async () => {
      const transport = await make();
      await using server = await serveLent(transport, {
        workers: 16,
        threads: { module: moduleUrl("./fixtures/frame_echo.ts", import.meta.url), size: 2 },
      });
      const small = payloads.filter((p) => p.byteLength < 5000);
      const echoed = await exchange(transport, server.addr.port, lp4, small);
      // The thread appends its id to each frame it echoes.
      assert.deepEqual(echoed.map((frame) => frame.subarray(0, frame.byteLength - 1)), small);
    });
  });
}

test("a lent frame sent on its own is copied while the peer's window holds it back", async () => {
  const transport = createMemoryTransport({ receiveWindow: 65_536 });
  await using server = await serveLent(transport);
  const client = await transport.connect({ hostname: "127.0.0.1", port: server.addr.port, allowHalfOpen: true });
  const side = observe(client);
  client.pause();
  // The first reply fills the client's window, so most of the second one waits in the server's
  // stream after its handler returned. It is too large to go into a batch, or to be joined
  // with other small writes, so the stream holds the very array it was given.
  const first = payload(1, 65_000);
  const second = payload(2, 20_000);
  client.write(lp4.encode(first));
  while (server.stats.framesOut < 1) await sleep(1);
  client.write(lp4.encode(second));
  while (server.stats.framesOut < 2) await sleep(1);
  await sleep(10);
  client.resume();
  const expected = 8 + first.byteLength + second.byteLength;
  const received = async () => {
    while (side.chunks.reduce((n, chunk) => n + chunk.byteLength, 0) < expected) await sleep(2);
  };
  await within(received(), 10_000, "the echo");
  client.reset();
  assert.deepEqual(lp4.decoder().push(concat(side.chunks)), [first, second]);
});

test("over the memory transport a lent frame is overwritten once the handler returns", async () => {
  const transport = createMemoryTransport();
  const kept: Uint8Array[] = [];
  await using server = await serveLent(transport, {
    onMessage(conn, frame) {
      kept.push(frame); // wrong on purpose: a lent frame must be copied to be kept
      conn.send(frame);
    },
  });
  const sent = [payload(1, 10), payload(2, 10)];
  assert.deepEqual(await exchange(transport, server.addr.port, lp4, sent), sent);
  assert.equal(kept.length, 2);
  for (const frame of kept) assert.deepEqual(frame, new Uint8Array(10).fill(0xa5));
});

test("without loanFrames the handler owns its frames", async () => {
  const transport = createMemoryTransport();
  const kept: Uint8Array[] = [];
  await using server = await serveLent(transport, {
    loanFrames: false,
    onMessage(conn, frame) {
      kept.push(frame);
      conn.send(frame);
    },
  });
  const sent = [payload(1, 10), payload(2, 10)];
  assert.deepEqual(await exchange(transport, server.addr.port, lp4, sent), sent);
  assert.deepEqual(kept, sent);
});
