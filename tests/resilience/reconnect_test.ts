import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { FrameTooLargeError } from "../../src/framing/errors.ts";
import { lengthPrefixed } from "../../src/framing/length_prefixed.ts";
import { ManualClock } from "../../src/resilience/clock.ts";
import { RetryError, TimeoutError } from "../../src/resilience/errors.ts";
import { Heartbeat } from "../../src/resilience/heartbeat.ts";
import type { ResilienceEvent } from "../../src/resilience/metrics.ts";
import { ConnectionMetrics } from "../../src/resilience/metrics.ts";
import { seededRandom } from "../../src/resilience/random.ts";
import { ReconnectingClient } from "../../src/resilience/reconnect.ts";
import type { Resolver } from "../../src/resilience/resolve.ts";
import { detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { Listener, Stream, Transport } from "../../src/runtime/types.ts";
import { sleep, within } from "../helpers/net.ts";
import { CountingClock, decoder, encoder, freePort, rejection } from "./_helpers.ts";

const codec = lengthPrefixed({ maxFrameLength: 1024 });
const PING = encoder.encode("PING");
const isPing = (m: Uint8Array) => decoder.decode(m) === "PING";

interface ServerConnection {
  stream: Stream;
  frames: string[];
  answerPings: boolean;
  closed: boolean;
}

/** A length-prefixed server that records every frame and answers pings with the same frame. */
class FrameServer {
  connections: ServerConnection[] = [];
  listener: Listener | undefined;
  answerPings = true;
  constructor(readonly transport: Transport, readonly port: number) {}

  async open(): Promise<void> {
    this.listener = await this.transport.listen({
      hostname: "127.0.0.1",
      port: this.port,
      onAccept: (stream) => {
        const conn: ServerConnection = {
          stream,
          frames: [],
          answerPings: this.answerPings,
          closed: false,
        };
        this.connections.push(conn);
        const d = codec.decoder();
        stream.setHandlers({
          onData: (chunk) => {
            for (const frame of d.push(chunk)) {
              if (isPing(frame)) {
                if (conn.answerPings) stream.write(codec.encode(frame));
              } else {
                conn.frames.push(decoder.decode(frame));
              }
            }
          },
          onClose: () => (conn.closed = true),
        });
      },
    });
  }

  // node:net's close() resolves only once every accepted connection has ended, so callers
  // start it, end the connections they mean to end, and then await it.
  closeListener(): Promise<void> {
    const closing = this.listener?.close() ?? Promise.resolve();
    this.listener = undefined;
    return closing;
  }

  async close(): Promise<void> {
    const closing = this.closeListener();
    for (const c of this.connections) if (!c.closed) c.stream.reset();
    await closing;
  }

  get frames(): string[] {
    return this.connections.flatMap((c) => c.frames);
  }
}

async function until(
  condition: () => boolean,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(5);
  }
}

function states(events: ResilienceEvent[]): string[] {
  return events.flatMap((
    e,
  ) => (e.type === "state" ? [`${e.from}>${e.to}`] : []));
}

async function transportFor(name: "native" | "memory"): Promise<Transport> {
  return name === "memory" ? createMemoryTransport() : await loadTransport(detectRuntime());
}

for (const name of ["native", "memory"] as const) {
  describe(`ReconnectingClient (${name} transport)`, () => {
    test("the server is down, then comes up: reconnects with backoff and delivers buffered sends exactly once, in order", async () => {
      const transport = await transportFor(name);
      const port = await freePort(transport);
      const server = new FrameServer(transport, port);
      const events: ResilienceEvent[] = [];
      const client = new ReconnectingClient({
        addresses: [{ hostname: "127.0.0.1", port }],
        transport,
        framing: codec,
        backoff: {
          baseMs: 20,
          capMs: 80,
          jitter: "equal",
          random: seededRandom(7),
        },
        onEvent: (e) => events.push(e),
      });
      const sent: string[] = [];
      const send = (text: string) => {
        sent.push(text);
        return client.send(encoder.encode(text));
      };
      try {
        client.start();
        for (let i = 0; i < 5; i++) {
          assert.equal(
            send(`early-${i}`),
            false,
            "a send while down must be buffered",
          );
        }
        await until(
          () => events.filter((e) => e.type === "retry").length >= 4,
          5000,
          "four failed attempts",
        );
        for (let i = 0; i < 5; i++) send(`waiting-${i}`);
        assert.equal(
          client.bufferedBytes,
          sent.reduce((n, s) => n + 4 + s.length, 0),
        );
        await server.open();
        await within(client.connected(), 5000, "the reconnect");
        assert.equal(client.bufferedBytes, 0);
        for (let i = 0; i < 5; i++) send(`live-${i}`);
        await until(
          () => server.frames.length >= 15,
          5000,
          "15 frames at the server",
        );
        await sleep(30);
        assert.deepEqual(
          server.frames,
          sent,
          "frames lost, duplicated or reordered",
        );
        assert.equal(server.connections.length, 1);

        // Every failed attempt went through backoff, with delays from the equal-jitter schedule.
        const failures = events.filter((e) => e.type === "state" && e.to === "backoff");
        assert.ok(failures.length >= 4);
        failures.forEach((e, n) => {
          assert.ok(e.type === "state" && e.error instanceof Error);
          const v = Math.min(80, 20 * 2 ** n);
          const delayMs = (e as { delayMs: number }).delayMs;
          assert.ok(
            delayMs >= v / 2 && delayMs <= v,
            `backoff ${n} was ${delayMs} ms, expected [${v / 2}, ${v}]`,
          );
        });
        const trail = states(events);
        assert.deepEqual(trail.slice(0, 2), [
          "disconnected>resolving",
          "resolving>connecting",
        ]);
        assert.ok(
          trail.includes("connecting>backoff") &&
            trail.includes("backoff>resolving"),
        );
        assert.equal(trail[trail.length - 1], "connecting>connected");
        const stats = client.stats;
        assert.equal(stats.connects, 1);
        assert.equal(stats.connectFailures, failures.length);
        assert.equal(stats.retries, failures.length);
        assert.equal(
          stats.bytesOut,
          sent.reduce((n, s) => n + 4 + s.length, 0),
        );
        assert.equal(stats.framesOut, 15);
        assert.equal(stats.state, "connected");
        assert.equal(stats.errors.ECONNREFUSED, failures.length);
        assert.ok(events.every((e) => e.connectionId === client.id));

        // The connection drops and the server stays away for a while: new sends are buffered
        // and reach the next connection exactly once.
        const closing = server.closeListener();
        server.connections[0].stream.reset();
        await closing;
        await until(
          () => client.state !== "connected",
          5000,
          "the client to see the drop",
        );
        const second: string[] = [];
        for (let i = 0; i < 5; i++) {
          second.push(`after-drop-${i}`);
          send(`after-drop-${i}`);
        }
        await sleep(60);
        await server.open();
        await until(
          () =>
            server.connections.length === 2 &&
            server.connections[1].frames.length >= 5,
          5000,
          "the second connection",
        );
        await sleep(30);
        assert.deepEqual(server.connections[1].frames, second);
        assert.deepEqual(server.frames, sent);
        assert.equal(client.stats.connects, 2);
        assert.equal(client.stats.disconnects, 1);
      } finally {
        await client.stop();
        await server.close();
      }
      assert.equal(client.state, "disconnected");
      assert.equal(await client.finished, undefined);
      assert.throws(
        () => client.send(encoder.encode("late")),
        (e: unknown) => e instanceof NetError && e.code === "ENOTCONN",
      );
    });

    test("a peer goes silent: the heartbeat closes the connection and reconnects", async () => {
      const transport = await transportFor(name);
      const server = new FrameServer(transport, 0);
      await server.open();
      const port = server.listener!.addr.port;
      const events: ResilienceEvent[] = [];
      const clock = new CountingClock();
      const client = new ReconnectingClient({
        addresses: [{ hostname: "127.0.0.1", port }],
        transport,
        framing: codec,
        clock,
        heartbeat: {
          intervalMs: 40,
          timeoutMs: 120,
          ping: () => PING,
          isPong: isPing,
        },
        backoff: { baseMs: 10, capMs: 20 },
        onEvent: (e) => events.push(e),
      });
      try {
        client.start();
        await within(client.connected(), 5000, "the first connection");
        await until(
          () => events.filter((e) => e.type === "rtt").length >= 2,
          5000,
          "two round trips",
        );
        server.answerPings = false;
        server.connections[0].answerPings = false;
        const silentAt = performance.now();
        await until(
          () => server.connections.length >= 2,
          5000,
          "the reconnect",
        );
        const elapsed = performance.now() - silentAt;
        assert.ok(
          elapsed >= 100 && elapsed < 2000,
          `reconnected ${elapsed} ms after the peer went silent`,
        );
        const timeout = events.find((e) => e.type === "timeout");
        assert.ok(
          timeout && timeout.type === "timeout" &&
            timeout.kind === "heartbeat" && timeout.timeoutMs === 120,
        );
        const drop = events.find((e) => e.type === "state" && e.from === "connected");
        assert.ok(drop && drop.type === "state" && drop.to === "backoff");
        assert.ok(drop.error instanceof TimeoutError);
        assert.match(drop.error.message, /no pong within 120 ms/);
        await until(
          () => server.connections[0].closed,
          5000,
          "the silent connection to be closed",
        );
        await until(
          () => client.state === "connected",
          5000,
          "connected again",
        );
        const stats = client.stats;
        assert.ok(
          stats.rttMs !== undefined && stats.rttMs >= 0 && stats.rttMs < 1000,
        );
        assert.ok(stats.rttMinMs! <= stats.rttMaxMs!);
        assert.ok(stats.pingsSent >= 3 && stats.pongsReceived >= 2);
        assert.equal(stats.timeouts, 1);
        assert.equal(stats.errors.ETIMEDOUT, 1);
        assert.equal(stats.connects, 2);
      } finally {
        await client.stop();
        await server.close();
      }
      assert.equal(clock.live.size, 0, "a timer was left behind");
    });
  });
}

describe("ReconnectingClient (memory transport)", () => {
  test("fails over to the next address at once, and backs off only after a full round", async () => {
    const memory = createMemoryTransport();
    const dead = await freePort(memory);
    const server = new FrameServer(memory, 0);
    await server.open();
    const events: ResilienceEvent[] = [];
    const client = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: dead }, {
        hostname: "127.0.0.1",
        port: server.listener!.addr.port,
      }],
      transport: memory,
      onEvent: (e) => events.push(e),
    });
    client.start();
    await within(client.connected(), 2000, "failover");
    const backoffs = events.filter((e) => e.type === "state" && e.to === "backoff");
    assert.equal(backoffs.length, 1);
    assert.equal((backoffs[0] as { delayMs: number }).delayMs, 0);
    const connected = events.find((e) => e.type === "state" && e.to === "connected");
    assert.ok(
      connected?.type === "state" &&
        connected.address === `127.0.0.1:${server.listener!.addr.port}`,
    );
    await client.stop();
    await server.close();
  });

  test("sends past maxBufferedBytes raise ENOBUFS; stopping reports the dropped ones", async () => {
    const events: ResilienceEvent[] = [];
    const client = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: 9 }],
      transport: createMemoryTransport(),
      framing: codec,
      maxBufferedBytes: 20,
      onEvent: (e) => events.push(e),
    });
    assert.equal(client.send(encoder.encode("0123456789")), false);
    assert.throws(
      () => client.send(encoder.encode("abcdefghij")),
      (e: unknown) =>
        e instanceof NetError && e.code === "ENOBUFS" &&
        e.message ===
          "Cannot buffer a 14-byte send while disconnected: 14 of the 20-byte limit (maxBufferedBytes) are already in use",
    );
    assert.equal(client.bufferedBytes, 14);
    await client.stop();
    const dropped = events.find((e) => e.type === "dropped");
    assert.ok(
      dropped?.type === "dropped" && dropped.messages === 1 &&
        dropped.bytes === 14,
    );
    await assert.rejects(
      client.connected(),
      (e: unknown) => e instanceof NetError && e.code === "ENOTCONN",
    );
  });

  test("stop() during backoff ends at once and leaves no timer (manual clock)", async () => {
    const clock = new ManualClock();
    const events: ResilienceEvent[] = [];
    const client = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: 9 }],
      transport: createMemoryTransport(),
      clock,
      backoff: { baseMs: 60_000, capMs: 60_000, jitter: "none" },
      onEvent: (e) => events.push(e),
    });
    client.start();
    await clock.advance(0);
    assert.equal(client.state, "backoff");
    assert.equal(clock.pendingTimers, 1);
    await client.stop();
    assert.equal(client.state, "disconnected");
    assert.equal(clock.pendingTimers, 0);
    assert.equal(events.filter((e) => e.type === "retry").length, 1);
  });

  test("the global cancel signal stops the client (real clock, no timer left)", async () => {
    const clock = new CountingClock();
    const controller = new AbortController();
    const client = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: 9 }],
      transport: createMemoryTransport(),
      clock,
      backoff: { baseMs: 30_000, capMs: 30_000 },
      signal: controller.signal,
    });
    client.start();
    await until(() => client.state === "backoff", 2000, "backoff");
    const waiting = rejection(client.connected());
    const started = performance.now();
    controller.abort();
    assert.equal(await within(client.finished, 2000, "the stop"), undefined);
    assert.ok(performance.now() - started < 1000);
    assert.ok((await waiting) instanceof NetError);
    assert.equal(clock.live.size, 0);
  });

  test("a protocol error is never retried: the client gives up", async () => {
    const memory = createMemoryTransport();
    let accepted = 0;
    const listener = await memory.listen({
      port: 0,
      onAccept(stream) {
        accepted++;
        stream.setHandlers({});
        stream.write(lengthPrefixed().encode(new Uint8Array(4096)));
      },
    });
    const client = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: listener.addr.port }],
      transport: memory,
      framing: codec,
      backoff: { baseMs: 5, capMs: 10 },
    });
    client.start();
    const failure = await within(
      client.finished,
      2000,
      "the client to give up",
    );
    assert.ok(failure instanceof FrameTooLargeError);
    assert.equal(accepted, 1);
    assert.equal(client.state, "disconnected");
    await listener.close();
  });

  test("non-retryable connect errors and maxAttempts end the client", async () => {
    const noSuchHost: Resolver = () =>
      Promise.reject(
        Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.invalid"), {
          code: "ENOTFOUND",
        }),
      );
    const lost = new ReconnectingClient({
      addresses: [{ hostname: "nowhere.invalid", port: 80 }],
      transport: createMemoryTransport(),
      resolver: noSuchHost,
    });
    lost.start();
    const failure = await within(lost.finished, 2000, "the give-up");
    assert.ok(
      failure instanceof NetError && failure.code === "ENOTFOUND",
      String(failure),
    );
    assert.equal(lost.stats.connectFailures, 1);

    const limited = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: 9 }],
      transport: createMemoryTransport(),
      maxAttempts: 3,
      backoff: { baseMs: 1, capMs: 2 },
    });
    limited.start();
    const exhausted = await within(limited.finished, 2000, "the give-up");
    assert.ok(exhausted instanceof RetryError);
    assert.equal(exhausted.attempts, 3);
    assert.equal(exhausted.errors.length, 3);
  });

  test("an idle connection is closed with a read idle timeout and replaced", async () => {
    const memory = createMemoryTransport();
    const server = new FrameServer(memory, 0);
    await server.open();
    const events: ResilienceEvent[] = [];
    const client = new ReconnectingClient({
      addresses: [{ hostname: "127.0.0.1", port: server.listener!.addr.port }],
      transport: memory,
      idleTimeout: { readMs: 60 },
      backoff: { baseMs: 5, capMs: 10 },
      onEvent: (e) => events.push(e),
    });
    client.start();
    await until(
      () => server.connections.length >= 2,
      3000,
      "the replacement connection",
    );
    const timeout = events.find((e) => e.type === "timeout");
    assert.ok(
      timeout?.type === "timeout" && timeout.kind === "read-idle" &&
        timeout.timeoutMs === 60,
    );
    const drop = events.find((e) => e.type === "state" && e.from === "connected");
    assert.ok(drop?.type === "state" && drop.error instanceof TimeoutError);
    assert.match(
      (drop.error as Error).message,
      /Read idle timeout: nothing was received for 60 ms/,
    );
    await client.stop();
    await server.close();
  });

  test("bad options get clear errors", () => {
    const memory = createMemoryTransport();
    assert.throws(() => new ReconnectingClient({ addresses: [] }), TypeError);
    assert.throws(
      () =>
        new ReconnectingClient({
          addresses: [{ hostname: "a", port: 70_000 }],
        }),
      (e: unknown) => e instanceof RangeError && /got 70000/.test(e.message),
    );
    assert.throws(
      () =>
        new ReconnectingClient({
          addresses: [{ hostname: "a", port: 1 }],
          maxBufferedBytes: -1,
        }),
      (e: unknown) => e instanceof RangeError && /got -1/.test(e.message),
    );
    assert.throws(
      () =>
        new ReconnectingClient({
          addresses: [{ hostname: "a", port: 1 }],
          transport: memory,
          heartbeat: {
            intervalMs: 10,
            timeoutMs: 10,
            ping: () => PING,
            isPong: isPing,
          },
        }),
      /heartbeat needs framing/,
    );
    assert.throws(
      () =>
        new ReconnectingClient({
          addresses: [{ hostname: "a", port: 1 }],
          framing: codec,
          heartbeat: {
            intervalMs: 0,
            timeoutMs: 10,
            ping: () => PING,
            isPong: isPing,
          },
        }),
      /Heartbeat interval must be > 0 ms, got 0/,
    );
  });
});

describe("Heartbeat (manual clock)", () => {
  test("pings every interval, measures the round trip, and reports a missing pong once", async () => {
    const clock = new ManualClock();
    const sent: number[] = [];
    const rtts: number[] = [];
    const timeouts: TimeoutError[] = [];
    const hb = new Heartbeat({
      intervalMs: 100,
      timeoutMs: 30,
      ping: () => PING,
      isPong: isPing,
      send: () => sent.push(clock.now()),
      onRtt: (ms) => rtts.push(ms),
      onTimeout: (e) => timeouts.push(e),
      clock,
    });
    hb.start();
    await clock.advance(100);
    assert.deepEqual(sent, [100]);
    assert.equal(hb.awaitingPong, true);
    await clock.advance(12);
    assert.equal(hb.receive(PING), true);
    assert.equal(hb.receive(encoder.encode("data")), false);
    assert.deepEqual(rtts, [12]);
    await clock.advance(88);
    assert.deepEqual(sent, [100, 200]);
    await clock.advance(29);
    assert.equal(timeouts.length, 0);
    await clock.advance(1);
    assert.equal(timeouts.length, 1);
    assert.equal(timeouts[0].kind, "heartbeat");
    assert.equal(
      timeouts[0].message,
      "Heartbeat timeout: no pong within 30 ms of the ping",
    );
    assert.equal(hb.running, false);
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(1000);
    assert.equal(sent.length, 2);
  });

  test("stop() clears the timer", () => {
    const clock = new ManualClock();
    const hb = new Heartbeat({
      intervalMs: 100,
      timeoutMs: 30,
      ping: () => PING,
      isPong: isPing,
      send: () => {},
      onTimeout: () => {},
      clock,
    });
    hb.start();
    assert.equal(clock.pendingTimers, 1);
    hb.stop();
    assert.equal(clock.pendingTimers, 0);
  });
});

describe("ConnectionMetrics", () => {
  test("keeps RTT, retries, timeouts and bytes, and stamps events", () => {
    const clock = new ManualClock(500);
    const events: ResilienceEvent[] = [];
    const m = new ConnectionMetrics({
      clock,
      onEvent: (e) => events.push(e),
      connectionId: 42,
    });
    m.recordRtt(10);
    m.recordRtt(2);
    m.recordRtt(18);
    m.recordRetry(1, 250, new NetError("ECONNRESET"));
    m.recordTimeout("request", 5000);
    m.recordSent(100, 2);
    m.recordReceived(7);
    m.recordState("resolving", { address: "a:1" });
    const s = m.snapshot();
    assert.equal(s.connectionId, 42);
    assert.deepEqual([s.rttMs, s.rttMinMs, s.rttMaxMs], [18, 2, 18]);
    assert.equal(
      s.rttSmoothedMs,
      10 + (2 - 10) / 8 + (18 - (10 + (2 - 10) / 8)) / 8,
    );
    assert.deepEqual([
      s.retries,
      s.timeouts,
      s.bytesOut,
      s.framesOut,
      s.bytesIn,
    ], [1, 1, 100, 2, 7]);
    assert.equal(s.state, "resolving");
    assert.deepEqual(events.map((e) => e.type), [
      "rtt",
      "rtt",
      "rtt",
      "retry",
      "timeout",
      "state",
    ]);
    assert.ok(events.every((e) => e.connectionId === 42 && e.time === 500));
  });
});
