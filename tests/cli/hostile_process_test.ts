/**
 * `sockmodels serve` in a process of its own under this runtime, attacked the way a crowd of
 * careless clients would: a mass leave, a descriptor limit far below the crowd, and Ctrl-C
 * with frames in flight. Memory per idle connection is a benchmark (scripts/bench/attack.ts).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { processResidentBytes } from "../../src/platform/process.ts";
import { defaultTransport, detectRuntime } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { sleep, within } from "../helpers/net.ts";
import { LineClient, spawnCli, waitFor } from "./_helpers.ts";

type Server = ReturnType<typeof spawnCli>;

async function startServer(
  args: string[],
  prefix: string[] = [],
): Promise<{ server: Server; port: number; pid: number }> {
  const server = spawnCli(["serve", ...args, "--port", "0"], prefix);
  await waitFor(() => /listening on 127\.0\.0\.1:\d+/.test(server.result.out), "the listening line", 30_000);
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(server.result.out)![1]);
  return { server, port, pid: server.result.child.pid! };
}

async function stopServer(server: Server): Promise<void> {
  if (server.result.code !== undefined) return;
  server.result.child.kill("SIGKILL");
  await within(server.exited, 10_000, "the server to exit");
}

/** Connects `count` chat clients, `batch` at a time, each waiting for its welcome. */
async function crowd(port: number, count: number, batch = 50): Promise<LineClient[]> {
  const clients: LineClient[] = [];
  for (let i = 0; i < count; i += batch) {
    clients.push(
      ...await Promise.all(Array.from({ length: Math.min(batch, count - i) }, async () => {
        const client = await LineClient.connect(port);
        await client.expect(/^\* Welcome, /, "the welcome", 30_000);
        return client;
      })),
    );
  }
  return clients;
}

async function timeToWelcome(port: number): Promise<number> {
  const started = Date.now();
  const probe = await LineClient.connect(port);
  await probe.expect(/^\* Welcome, /, "the probe's welcome", 30_000);
  probe.close();
  return Date.now() - started;
}

const MiB = 1024 * 1024;

describe(`serve chat under a crowd (${detectRuntime()})`, () => {
  test("a mass leave of 2,000 clients: RSS grows under 64 MB, and a new client is welcomed within 1 s", async () => {
    const { server, port, pid } = await startServer(["chat", "--quiet"]);
    try {
      const clients = await crowd(port, 2000);
      await sleep(500);
      const before = processResidentBytes(pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, processResidentBytes(pid))), 20);
      for (const c of clients) c.stream.close();
      const welcomeMs = await timeToWelcome(port);
      await sleep(1500);
      clearInterval(sampler);
      peak = Math.max(peak, processResidentBytes(pid));
      assert.ok(welcomeMs < 1000, `the welcome took ${welcomeMs} ms`);
      assert.ok(peak - before < 64 * MiB, `RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB`);
      assert.ok(await timeToWelcome(port) < 1000);
    } finally {
      await stopServer(server);
    }
  });

  test("under a descriptor limit of 256, clients past it are closed at once, and service goes on", async () => {
    const { server, port } = await startServer(["chat"], ["prlimit", "--nofile=256:256"]);
    const transport = await defaultTransport();
    const extra: { stream: Stream; opened: number; closedAt?: number; welcomed: boolean }[] = [];
    let served: LineClient[] = [];
    try {
      // Fill what the server allows, then 200 more that it must turn away.
      served = await crowd(port, 150);
      let failedConnects = 0;
      for (let i = 0; i < 250; i++) {
        const opened = Date.now();
        let stream: Stream;
        try {
          stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 10_000 });
        } catch (error) {
          // Bun's client reports a reset that comes before it saw the connection as a failed connect.
          assert.equal((error as { code?: string }).code, "ECONNRESET");
          assert.ok(Date.now() - opened < 1000);
          failedConnects++;
          continue;
        }
        const entry = { stream, opened, closedAt: undefined as number | undefined, welcomed: false };
        stream.setHandlers({
          onData: () => void (entry.welcomed = true),
          onClose: () => void (entry.closedAt = Date.now()),
        });
        extra.push(entry);
      }
      await waitFor(
        () => extra.every((e) => e.welcomed || e.closedAt !== undefined),
        "every extra client to be served or closed",
        10_000,
      );
      const refused = extra.filter((e) => !e.welcomed);
      assert.ok(
        refused.length + failedConnects >= 100,
        `${refused.length + failedConnects} of 250 extra clients were refused`,
      );
      for (const e of refused) {
        assert.ok(e.closedAt! - e.opened < 1000, `a refused client waited ${e.closedAt! - e.opened} ms`);
      }
      served[0].send("still served");
      await served[1].expect(/^guest\d+: still served$/);
      await waitFor(
        () =>
          /refused \d+ connections?: \d+ clients are connected, the limit \(the descriptor limit of 256/.test(
            server.result.out,
          ),
        "the refusal log line",
      );
      assert.equal(server.result.out.match(/refused \d+ connection/g)!.length, 1, "logged once per interval");
      for (const e of extra) e.stream.reset();
      for (const c of served) c.close();
      served = [];
      await sleep(500);
      assert.ok(await timeToWelcome(port) < 1000, "service recovers");
    } finally {
      for (const e of extra) e.stream.reset();
      for (const c of served) c.close();
      await stopServer(server);
    }
  });
});

describe(`serve echo and Ctrl-C (${detectRuntime()})`, () => {
  test("SIGINT with 512 frames in flight on each of 50 clients loses no reply", async () => {
    const { server, port } = await startServer(["echo", "--framing", "lp4", "--quiet"]);
    const transport = await defaultTransport();
    try {
      const frame = new Uint8Array(4 + 64);
      new DataView(frame.buffer).setUint32(0, 64);
      const clients = await Promise.all(Array.from({ length: 50 }, async () => {
        const stream = await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 10_000 });
        const state = { stream, received: 0, eof: false, closed: false };
        stream.setHandlers({
          onData: (chunk) => void (state.received += chunk.byteLength),
          onEnd: () => void (state.eof = true),
          onClose: () => void (state.closed = true),
        });
        return state;
      }));
      // Every client is being served (its first echo came back) before the 512 go out.
      for (const c of clients) c.stream.write(frame);
      await waitFor(() => clients.every((c) => c.received === frame.byteLength), "the first echo on every client");
      for (const c of clients) c.received = 0;
      const batch = new Uint8Array(frame.byteLength * 512);
      for (let i = 0; i < 512; i++) batch.set(frame, i * frame.byteLength);
      for (const c of clients) c.stream.write(batch);
      await Promise.all(clients.map((c) => c.stream.flush()));
      server.result.child.kill("SIGINT");
      const code = await within(server.exited, 20_000, "the server to stop");
      if (!(detectRuntime() === "deno" && code === null)) assert.equal(code, 0);
      await waitFor(() => clients.every((c) => c.eof || c.closed), "every client to see the end", 10_000);
      const lost = clients.reduce((n, c) => n + (batch.byteLength - c.received) / frame.byteLength, 0);
      assert.equal(lost, 0, `${lost} of ${50 * 512} replies lost`);
      for (const c of clients) c.stream.reset();
    } finally {
      await stopServer(server);
    }
  });
});
