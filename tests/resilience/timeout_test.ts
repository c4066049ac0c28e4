import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { ManualClock } from "../../src/resilience/clock.ts";
import { TimeoutError } from "../../src/resilience/errors.ts";
import { timeoutSignal, withTimeout } from "../../src/resilience/timeout.ts";
import { type IdleEvent, withIdleTimeout } from "../../src/resilience/idle_timeout.ts";
import { connectWithTimeout } from "../../src/resilience/connect.ts";
import type { Resolver } from "../../src/resilience/resolve.ts";
import { detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport, type MemoryTransport } from "../../src/runtime/memory.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import { observe, sleep, within } from "../helpers/net.ts";
import { startStalledListenerOn } from "../helpers/stalled_listener.ts";
import { CountingClock, deferred, encoder, rejection } from "./_helpers.ts";

describe("timeoutSignal and withTimeout", () => {
  test("the scope aborts with a TimeoutError at the limit", async () => {
    const clock = new ManualClock();
    const scope = timeoutSignal(100, {
      clock,
      kind: "connect",
      what: "Connect to a:1",
    });
    await clock.advance(99);
    assert.equal(scope.signal.aborted, false);
    await clock.advance(1);
    assert.equal(scope.signal.aborted, true);
    assert.equal(scope.timedOut, true);
    const reason = scope.signal.reason as TimeoutError;
    assert.ok(reason instanceof TimeoutError);
    assert.equal(reason.kind, "connect");
    assert.equal(reason.message, "Connect to a:1 timed out after 100 ms");
    assert.equal(clock.pendingTimers, 0);
  });

  test("the outer signal (global cancel) aborts the scope with its reason", () => {
    const clock = new ManualClock();
    const outer = new AbortController();
    const scope = timeoutSignal(100, { clock, signal: outer.signal });
    outer.abort(new Error("shutdown"));
    assert.equal((scope.signal.reason as Error).message, "shutdown");
    assert.equal(scope.timedOut, false);
    assert.equal(clock.pendingTimers, 0);
    const never = timeoutSignal(Infinity, { clock });
    assert.equal(clock.pendingTimers, 0);
    never.clear();
  });

  test("withTimeout resolves in time, clears its timer and closes a late value", async () => {
    const clock = new ManualClock();
    assert.equal(
      await withTimeout(() => Promise.resolve(5), 100, { clock }),
      5,
    );
    assert.equal(clock.pendingTimers, 0);
    const late = deferred<{ closed: boolean }>();
    const disposed: unknown[] = [];
    const p = rejection(
      withTimeout(() => late.promise, 50, {
        clock,
        dispose: (v) => disposed.push(v),
      }),
    );
    await clock.advance(50);
    assert.ok((await p) instanceof TimeoutError);
    const value = { closed: false };
    late.resolve(value);
    await sleep(1);
    assert.deepEqual(disposed, [value]);
  });

  test("withTimeout passes its signal to the work, and rejects bad input", async () => {
    const clock = new ManualClock();
    let seen: AbortSignal | undefined;
    const p = rejection(withTimeout(
      (signal) => {
        seen = signal;
        return new Promise(() => {});
      },
      10,
      { clock },
    ));
    await clock.advance(10);
    await p;
    assert.equal(seen?.aborted, true);
    await assert.rejects(
      withTimeout(() => 1, -1),
      (e: unknown) => e instanceof RangeError && /got -1/.test(e.message),
    );
    await assert.rejects(
      withTimeout(42 as unknown as () => number, 10),
      TypeError,
    );
  });
});

/** A connected pair on a memory transport; `server` is the accepted end. */
async function memoryPair(
  transport: MemoryTransport = createMemoryTransport(),
): Promise<{ client: Stream; server: Stream }> {
  const accepted = deferred<Stream>();
  const listener = await transport.listen({
    port: 0,
    onAccept: (s) => accepted.resolve(s),
  });
  const client = await transport.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await accepted.promise;
  await listener.close();
  return { client, server };
}

describe("idle timeouts (memory transport, manual clock)", () => {
  test("read idle: data keeps it open; silence closes it with ETIMEDOUT naming the kind and limit", async () => {
    const clock = new ManualClock();
    const { client, server } = await memoryPair();
    const serverSide = observe(server);
    const stream = withIdleTimeout(client, { readMs: 100, clock });
    const side = observe(stream);
    await clock.advance(60);
    server.write(encoder.encode("x"));
    await sleep(5);
    assert.equal(side.bytes, 1);
    await clock.advance(99);
    assert.equal(side.closeCount, 0, "closed although data arrived 99 ms ago");
    await clock.advance(1);
    const error = await within(side.closed, 2000, "the idle close");
    assert.ok(error instanceof TimeoutError);
    assert.equal(error.code, "ETIMEDOUT");
    assert.equal(error.kind, "read-idle");
    assert.equal(error.timeoutMs, 100);
    assert.equal(
      error.message,
      "Read idle timeout: nothing was received for 100 ms",
    );
    assert.equal(stream.idleError, error);
    await within(serverSide.closed, 2000, "the peer to see the close");
    assert.equal(clock.pendingTimers, 0);
  });

  test("write idle and all idle", async () => {
    const clock = new ManualClock();
    const { client, server } = await memoryPair();
    observe(server);
    const w = withIdleTimeout(client, { writeMs: 50, clock });
    const side = observe(w);
    await clock.advance(40);
    w.write(encoder.encode("a"));
    await clock.advance(40);
    assert.equal(side.closeCount, 0);
    await clock.advance(10);
    const error = await within(side.closed, 2000, "the write idle close");
    assert.equal((error as TimeoutError).kind, "write-idle");
    assert.match(
      error!.message,
      /^Write idle timeout: nothing was written for 50 ms$/,
    );

    const pair = await memoryPair();
    const peer = observe(pair.server);
    const all = withIdleTimeout(pair.client, { allMs: 30, clock });
    const allSide = observe(all);
    await clock.advance(20);
    pair.server.write(encoder.encode("r")); // a read counts as activity
    await sleep(5);
    await clock.advance(20);
    all.write(encoder.encode("w")); // so does a write
    await clock.advance(20);
    assert.equal(allSide.closeCount, 0);
    await clock.advance(10);
    const allError = await within(allSide.closed, 2000, "the all idle close");
    assert.equal((allError as TimeoutError).kind, "all-idle");
    assert.match(
      allError!.message,
      /nothing was received or written for 30 ms/,
    );
    await within(peer.closed, 2000, "peer close");
    assert.equal(clock.pendingTimers, 0);
  });

  test("onIdle can keep the stream open, and then fires again a period later", async () => {
    const clock = new ManualClock();
    const { client, server } = await memoryPair();
    const serverSide = observe(server);
    const events: IdleEvent[] = [];
    const stream = withIdleTimeout(client, {
      writeMs: 100,
      clock,
      onIdle(event) {
        events.push(event);
        if (events.length < 3) {
          stream.write(encoder.encode("k"));
          event.keepOpen();
        }
      },
    });
    const side = observe(stream);
    await clock.advance(100);
    await clock.advance(100);
    assert.equal(events.length, 2);
    assert.equal(side.closeCount, 0);
    await clock.advance(100);
    assert.equal(events.length, 3);
    await within(side.closed, 2000, "the idle close");
    await sleep(5);
    assert.equal(serverSide.bytes, 2);
    assert.deepEqual(events.map((e) => e.kind), ["write", "write", "write"]);
    assert.equal(clock.pendingTimers, 0);
  });

  test("read idleness is not counted while paused", async () => {
    const clock = new ManualClock();
    const { client, server } = await memoryPair();
    observe(server);
    const stream = withIdleTimeout(client, { readMs: 50, clock });
    const side = observe(stream);
    stream.pause();
    await clock.advance(200);
    assert.equal(side.closeCount, 0);
    stream.resume();
    await clock.advance(49);
    assert.equal(side.closeCount, 0);
    await clock.advance(1);
    await within(side.closed, 2000, "the idle close");
    assert.equal(clock.pendingTimers, 0);
  });

  test("a normal close stops the timers; bad options are rejected", async () => {
    const clock = new ManualClock();
    const { client, server } = await memoryPair();
    observe(server);
    const stream = withIdleTimeout(client, {
      readMs: 50,
      writeMs: 50,
      allMs: 50,
      clock,
    });
    const side = observe(stream);
    assert.equal(clock.pendingTimers, 3);
    await stream.close();
    assert.equal(await side.closed, undefined);
    assert.equal(clock.pendingTimers, 0);
    assert.throws(() => withIdleTimeout(client, {}), TypeError);
    assert.throws(
      () => withIdleTimeout(client, { readMs: -3 }),
      (e: unknown) => e instanceof RangeError && /got -3/.test(e.message),
    );
  });
});

describe("idle timeouts (real sockets, real clock)", () => {
  test("an activity timeout that resets on every byte received", async () => {
    const transport = await loadTransport(detectRuntime());
    let server!: Stream;
    const accepted = deferred();
    const listener = await transport.listen({
      hostname: "127.0.0.1",
      port: 0,
      onAccept(s) {
        server = s;
        observe(s);
        accepted.resolve();
      },
    });
    const clock = new CountingClock();
    try {
      const raw = await transport.connect({
        hostname: "127.0.0.1",
        port: listener.addr.port,
      });
      await accepted.promise;
      const stream = withIdleTimeout(raw, { readMs: 200, clock });
      const side = observe(stream);
      const started = performance.now();
      for (let i = 0; i < 6; i++) {
        await sleep(60);
        server.write(encoder.encode("."));
      }
      const lastByteAt = performance.now();
      assert.equal(side.closeCount, 0, "closed while bytes kept arriving");
      const error = await within(side.closed, 5000, "the idle close");
      const now = performance.now();
      assert.ok(
        error instanceof TimeoutError && error.kind === "read-idle",
        String(error),
      );
      assert.ok(
        now - started > 400,
        "the timeout did not reset on received bytes",
      );
      assert.ok(
        now - lastByteAt >= 150 && now - lastByteAt < 2000,
        `closed ${now - lastByteAt} ms after the last byte`,
      );
      assert.equal(side.bytes, 6);
      assert.equal(clock.live.size, 0);
    } finally {
      server?.reset();
      await listener.close();
    }
  });
});

describe("connect timeout: name resolution plus connect", () => {
  for (const name of ["native", "memory"] as const) {
    test(`a black-holed connect times out with a connect TimeoutError (${name})`, async () => {
      let transport: Transport;
      let port: number;
      let stop: () => Promise<void>;
      if (name === "memory") {
        const memory = createMemoryTransport();
        const listener = await memory.listen({
          port: 0,
          neverAccept: true,
          onAccept() {},
        });
        transport = memory;
        port = listener.addr.port;
        stop = () => listener.close();
      } else {
        transport = await loadTransport(detectRuntime());
        const stalled = await startStalledListenerOn("127.0.0.1");
        port = stalled.port;
        stop = stalled.close;
      }
      const clock = new CountingClock();
      try {
        const started = performance.now();
        const error = await rejection(
          connectWithTimeout("127.0.0.1", port, {
            transport,
            timeoutMs: 200,
            clock,
          }),
        );
        const elapsed = performance.now() - started;
        assert.ok(error instanceof TimeoutError, String(error));
        assert.equal(error.kind, "connect");
        assert.equal(
          error.message,
          `Connect to 127.0.0.1:${port} timed out after 200 ms`,
        );
        assert.ok(
          elapsed >= 190 && elapsed < 3000,
          `timed out after ${elapsed} ms`,
        );
        assert.equal(clock.live.size, 0);
      } finally {
        await stop();
      }
    });
  }

  test("the limit covers name resolution", async () => {
    const memory = createMemoryTransport();
    const listener = await memory.listen({
      port: 0,
      onAccept: (s) => s.reset(),
    });
    const slowDns: Resolver = (_host, { signal }) =>
      new Promise((_resolve, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));
    const clock = new ManualClock();
    const p = rejection(
      connectWithTimeout("db.internal", listener.addr.port, {
        transport: memory,
        resolver: slowDns,
        timeoutMs: 300,
        clock,
      }),
    );
    await clock.advance(300);
    const error = await p;
    assert.ok(error instanceof TimeoutError && error.kind === "connect");
    assert.match(
      error.message,
      /Connect to db\.internal:\d+ timed out after 300 ms/,
    );
    assert.equal(clock.pendingTimers, 0);
    await listener.close();
  });

  test("a global cancel rejects with ECANCELED", async () => {
    const memory = createMemoryTransport();
    const listener = await memory.listen({
      port: 0,
      neverAccept: true,
      onAccept() {},
    });
    const controller = new AbortController();
    const p = rejection(
      connectWithTimeout("127.0.0.1", listener.addr.port, {
        transport: memory,
        signal: controller.signal,
      }),
    );
    await sleep(10);
    controller.abort(new Error("shutting down"));
    const error = await p;
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ECANCELED");
    assert.equal((error.cause as Error).message, "shutting down");
    await listener.close();
  });

  test("localhost connects without DNS", async () => {
    const transport = await loadTransport(detectRuntime());
    const listener = await transport.listen({
      hostname: "127.0.0.1",
      port: 0,
      onAccept: (s) => observe(s),
    });
    const noDns: Resolver = () => Promise.reject(new Error("DNS must not be used for localhost"));
    try {
      const stream = await connectWithTimeout("localhost", listener.addr.port, {
        transport,
        resolver: noDns,
        timeoutMs: 5000,
      });
      assert.equal(stream.remoteAddr.port, listener.addr.port);
      stream.reset();
    } finally {
      await listener.close();
    }
  });
});
