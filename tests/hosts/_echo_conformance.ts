/**
 * The shared echo conformance suite. Every host running the echo must pass it on every
 * transport of the runtime (its own, node:net, memory, memory with 1-byte chunks, and its own
 * over TLS), with raw bytes and with 4-byte length frames.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { availableTransports, detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { withTls } from "../helpers/tls.ts";
import { MemoryTransport } from "../../src/runtime/memory.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import type { EchoFraming, EchoServer, EchoServerOptions } from "../../src/apps/echo.ts";
import { concat, observe, randomBytes, sha256, sleep, within } from "../helpers/net.ts";
import { setImmediate } from "node:timers";

type StartEcho = (options: EchoServerOptions) => Promise<EchoServer>;

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

/** Sends `wire` and returns everything echoed until the server closes after our FIN. */
async function roundTrip(
  transport: Transport,
  port: number,
  wire: Uint8Array,
  send: (s: Stream, wire: Uint8Array) => Promise<void> | void = (s, w) => void s.write(w),
  timeoutMs = 30_000,
): Promise<Uint8Array> {
  const client = await transport.connect({ hostname: "127.0.0.1", port, allowHalfOpen: true });
  const side = observe(client);
  await send(client, wire);
  client.end();
  const error = await within(side.closed, timeoutMs, "the echo to finish");
  assert.equal(error, undefined, `the connection failed: ${error?.message}`);
  assert.equal(side.endCount, 1, "the server closes after echoing everything");
  return concat(side.chunks);
}

async function byteByByte(s: Stream, wire: Uint8Array): Promise<void> {
  for (let i = 0; i < wire.byteLength; i++) {
    s.write(wire.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
}

/** Registers the suite for one echo example. */
export function echoConformance(model: string, startEcho: StartEcho): void {
  const transports: [string, () => Promise<Transport>][] = availableTransports().map((name) => [
    name,
    () => name === "memory" ? Promise.resolve(new MemoryTransport()) : loadTransport(name),
  ]);
  transports.push(["memory (1-byte chunks)", () => Promise.resolve(new MemoryTransport({ chunkSize: 1 }))]);
  // Every model gets TLS from the transport it is given, without knowing of it.
  transports.push([`${detectRuntime()} over TLS`, async () => withTls(await loadTransport(detectRuntime()))]);

  for (const [transportName, makeTransport] of transports) {
    const oneByte = transportName.includes("1-byte");
    for (const framing of ["raw", "lp4"] as EchoFraming[]) {
      describe(`${model} echo, ${framing}, ${transportName} transport`, () => {
        const encode = (payloads: Uint8Array[]) => framing === "lp4" ? concat(payloads.map(frame)) : concat(payloads);

        const withServer = async (body: (t: Transport, port: number) => Promise<void>) => {
          const transport = await makeTransport();
          const server = await startEcho({ transport, hostname: "127.0.0.1", port: 0, framing });
          try {
            await body(transport, server.addr.port);
          } finally {
            await within(server.close(), 10_000, "the server to close");
          }
        };

        test("frames split at every byte", async () => {
          await withServer(async (t, port) => {
            const wire = encode([randomBytes(5), new Uint8Array(0), randomBytes(1), randomBytes(200)]);
            const echoed = await roundTrip(t, port, wire, byteByByte);
            assert.deepEqual(echoed, wire);
          });
        });

        test("many frames in one write, and zero-length frames", async () => {
          await withServer(async (t, port) => {
            const payloads = Array.from({ length: 300 }, (_, i) => randomBytes(i % 10 === 0 ? 0 : i % 97));
            const wire = encode(payloads);
            assert.deepEqual(await roundTrip(t, port, wire), wire);
          });
        });

        if (!oneByte) {
          test("8 MiB frames", async () => {
            await withServer(async (t, port) => {
              const wire = encode([randomBytes(8 << 20), randomBytes(3)]);
              const echoed = await roundTrip(t, port, wire, undefined, 60_000);
              assert.equal(echoed.byteLength, wire.byteLength);
              assert.equal(await sha256(echoed), await sha256(wire));
            });
          });

          test("a slow reader gets everything once it reads", async () => {
            await withServer(async (t, port) => {
              const client = await t.connect({ hostname: "127.0.0.1", port, allowHalfOpen: true });
              client.pause();
              const side = observe(client);
              const wire = encode(Array.from({ length: 96 }, () => randomBytes(64 * 1024)));
              client.write(wire);
              await sleep(300);
              assert.equal(side.bytes, 0);
              client.resume();
              client.end();
              assert.equal(await within(side.closed, 30_000, "echo"), undefined);
              assert.equal(await sha256(side.chunks), await sha256(wire));
            });
          });

          test("200 concurrent clients", async () => {
            await withServer(async (t, port) => {
              await Promise.all(Array.from({ length: 200 }, async (_, i) => {
                const wire = encode([randomBytes(i), randomBytes(100)]);
                assert.deepEqual(await roundTrip(t, port, wire), wire);
              }));
            });
          });
        }

        test("half-close: everything sent before FIN comes back, then the server closes", async () => {
          await withServer(async (t, port) => {
            const wire = encode([randomBytes(70_000), randomBytes(10)]);
            const echoed = await roundTrip(t, port, wire, (s, w) => {
              s.write(w.subarray(0, 1000));
              s.write(w.subarray(1000));
            });
            assert.deepEqual(echoed, wire);
          });
        });

        test("a reset client does not disturb the others", async () => {
          await withServer(async (t, port) => {
            const victim = await t.connect({ hostname: "127.0.0.1", port });
            const victimSide = observe(victim);
            victim.write(encode([randomBytes(50_000)]).subarray(0, 30_000));
            await sleep(20);
            victim.reset();
            await within(victimSide.closed, 5000, "reset");
            const wire = encode([randomBytes(1000)]);
            assert.deepEqual(await roundTrip(t, port, wire), wire);
          });
        });
      });
    }
  }
}
