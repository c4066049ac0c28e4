import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NetError } from "../../src/runtime/errors.ts";
import { ManualClock } from "../../src/resilience/clock.ts";
import { type AttemptInfo, happyEyeballs } from "../../src/resilience/happy_eyeballs.ts";
import { ipFamily, type Resolver, staticAddresses, systemResolver } from "../../src/resilience/resolve.ts";
import { detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { ConnectOptions, Listener, Stream, Transport } from "../../src/runtime/types.ts";
import { observe, sleep } from "../helpers/net.ts";
import { type StalledListener, startStalledListenerOn } from "../helpers/stalled_listener.ts";
import { CountingClock, hasIpv6, rejection } from "./_helpers.ts";

interface FakeAttempt {
  hostname: string;
  at: number;
  signal: AbortSignal;
  succeed(): FakeStream;
  fail(error: NetError): void;
}

interface FakeStream {
  hostname: string;
  resets: number;
  reset(): void;
}

/** A transport whose connects wait until the test settles them (or they are aborted). */
function fakeTransport(
  clock: ManualClock,
  ignoreAbort = false,
): { transport: Transport; attempts: FakeAttempt[] } {
  const attempts: FakeAttempt[] = [];
  const transport = {
    name: "memory",
    capabilities: {
      reset: true,
      reusePort: false,
      backlog: false,
      cancelConnect: true,
      tls: false,
      tlsClientCert: false,
      serverStartTls: false,
    },
    listen: () => Promise.reject(new Error("not used")),
    bindDatagram: () => Promise.reject(new Error("not used")),
    connect(options: ConnectOptions): Promise<Stream> {
      return new Promise<Stream>((resolve, reject) => {
        const signal = options.signal!;
        if (!ignoreAbort) {
          signal.addEventListener(
            "abort",
            () =>
              reject(
                new NetError(
                  "ECANCELED",
                  `Connect to ${options.hostname} was cancelled`,
                ),
              ),
          );
        }
        attempts.push({
          hostname: options.hostname,
          at: clock.now(),
          signal,
          succeed() {
            const stream: FakeStream = {
              hostname: options.hostname,
              resets: 0,
              reset: () => stream.resets++,
            };
            resolve(stream as unknown as Stream);
            return stream;
          },
          fail: (error) => reject(error),
        });
      });
    },
  } as unknown as Transport;
  return { transport, attempts };
}

const dualStack: Resolver = (_host, { family }) =>
  Promise.resolve(
    family === 6 ? ["2001:db8::a", "2001:db8::b"] : ["192.0.2.1", "192.0.2.2"],
  );

describe("happyEyeballs: the RFC 8305 race (manual clock)", () => {
  test("interleaves the families, staggers attempts every attemptDelayMs, keeps the earlier ones running", async () => {
    const clock = new ManualClock();
    // This transport cannot cancel a pending connect, like a runtime without cancelConnect.
    const { transport, attempts } = fakeTransport(clock, true);
    const started: AttemptInfo[] = [];
    const p = happyEyeballs("example.test", 443, {
      transport,
      clock,
      resolver: dualStack,
      onAttempt: (a) => started.push(a),
    });
    await clock.advance(0);
    assert.deepEqual(attempts.map((a) => [a.hostname, a.at]), [[
      "2001:db8::a",
      0,
    ]]);
    await clock.advance(249);
    assert.equal(attempts.length, 1);
    await clock.advance(1);
    await clock.advance(500);
    assert.deepEqual(attempts.map((a) => [a.hostname, a.at]), [
      ["2001:db8::a", 0],
      ["192.0.2.1", 250],
      ["2001:db8::b", 500],
      ["192.0.2.2", 750],
    ]);
    assert.ok(
      attempts.every((a) => !a.signal.aborted),
      "an earlier attempt was stopped by a later one",
    );
    assert.deepEqual(started.map((a) => a.family), [6, 4, 6, 4]);
    const winner = attempts[2].succeed();
    const stream = await p;
    assert.equal(stream as unknown, winner);
    assert.deepEqual(attempts.map((a) => a.signal.aborted), [
      true,
      true,
      false,
      true,
    ]);
    // A loser that connects anyway is closed at once.
    const late = attempts[0].succeed();
    await sleep(1);
    assert.equal(late.resets, 1, "a late connection was not closed");
    assert.equal(winner.resets, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  test("a failed attempt starts the next one at once", async () => {
    const clock = new ManualClock();
    const { transport, attempts } = fakeTransport(clock);
    const p = happyEyeballs("example.test", 443, {
      transport,
      clock,
      resolver: dualStack,
    });
    await clock.advance(10);
    attempts[0].fail(
      new NetError(
        "ECONNREFUSED",
        "Connection to [2001:db8::a]:443 was refused",
      ),
    );
    await clock.advance(0);
    assert.deepEqual(attempts.map((a) => [a.hostname, a.at]), [[
      "2001:db8::a",
      0,
    ], ["192.0.2.1", 10]]);
    await clock.advance(250);
    assert.equal(attempts.length, 3);
    assert.equal(attempts[2].at, 260);
    attempts[1].succeed();
    await p;
    assert.equal(clock.pendingTimers, 0);
  });

  test("waits resolutionDelayMs for IPv6 after IPv4 answers, and late IPv6 addresses still join", async () => {
    for (
      const [aaaaAfter, firstFamily, firstAt] of [[30, 6, 30], [
        200,
        4,
        50,
      ]] as const
    ) {
      const clock = new ManualClock();
      const { transport, attempts } = fakeTransport(clock);
      const resolver: Resolver = (_host, { family }) =>
        family === 4
          ? Promise.resolve(["192.0.2.1"])
          : new Promise((resolve) => clock.setTimeout(() => resolve(["2001:db8::a"]), aaaaAfter));
      const p = happyEyeballs("example.test", 80, {
        transport,
        clock,
        resolver,
      });
      await clock.advance(400);
      assert.equal(attempts[0].at, firstAt, `AAAA after ${aaaaAfter} ms`);
      assert.equal(ipFamily(attempts[0].hostname), firstFamily);
      assert.equal(attempts.length, 2);
      if (aaaaAfter === 200) {
        assert.deepEqual([attempts[1].hostname, attempts[1].at], [
          "2001:db8::a",
          300,
        ]);
      }
      attempts[1].succeed();
      await p;
      assert.equal(clock.pendingTimers, 0);
    }
  });

  test("when every attempt fails, an AggregateError holds each attempt's error", async () => {
    const clock = new ManualClock();
    const { transport, attempts } = fakeTransport(clock);
    const p = rejection(
      happyEyeballs("example.test", 443, {
        transport,
        clock,
        resolver: dualStack,
      }),
    );
    await clock.advance(0);
    const codes = [
      "ECONNREFUSED",
      "EHOSTUNREACH",
      "ECONNREFUSED",
      "ENETUNREACH",
    ] as const;
    for (let i = 0; i < 4; i++) {
      attempts[i].fail(new NetError(codes[i], `attempt ${i} failed`));
      await clock.advance(0);
    }
    const error = await p;
    assert.ok(error instanceof AggregateError);
    assert.deepEqual(error.errors.map((e) => (e as NetError).code), codes);
    assert.match(
      error.message,
      /All 4 connection attempts to example\.test:443 failed: .*attempt 0 failed/,
    );
    assert.equal(clock.pendingTimers, 0);
  });

  test("an abort cancels the lookups and every attempt", async () => {
    const clock = new ManualClock();
    const { transport, attempts } = fakeTransport(clock);
    const controller = new AbortController();
    const p = rejection(
      happyEyeballs("example.test", 443, {
        transport,
        clock,
        resolver: dualStack,
        signal: controller.signal,
      }),
    );
    await clock.advance(300);
    assert.equal(attempts.length, 2);
    controller.abort(new Error("user"));
    const error = await p;
    assert.ok(error instanceof NetError && error.code === "ECANCELED");
    assert.ok(attempts.every((a) => a.signal.aborted));
    assert.equal(clock.pendingTimers, 0);
  });

  test("name errors: one family failing is fine, both failing rejects with the lookup error", async () => {
    const clock = new ManualClock();
    const { transport, attempts } = fakeTransport(clock);
    const v4only: Resolver = (_h, { family }) =>
      family === 6
        ? Promise.reject(
          Object.assign(new Error("no AAAA"), { code: "EAI_AGAIN" }),
        )
        : Promise.resolve(["192.0.2.9"]);
    const p = happyEyeballs("example.test", 80, {
      transport,
      clock,
      resolver: v4only,
    });
    await clock.advance(0);
    assert.deepEqual(attempts.map((a) => [a.hostname, a.at]), [[
      "192.0.2.9",
      0,
    ]]);
    attempts[0].succeed();
    await p;

    const broken: Resolver = () =>
      Promise.reject(
        Object.assign(new Error("getaddrinfo EAI_AGAIN example.test"), {
          code: "EAI_AGAIN",
        }),
      );
    const error = await rejection(
      happyEyeballs("example.test", 80, { transport, clock, resolver: broken }),
    );
    assert.ok(
      error instanceof NetError && error.code === "EAI_AGAIN",
      String(error),
    );
    const empty: Resolver = () => Promise.resolve([]);
    const none = await rejection(
      happyEyeballs("example.test", 80, { transport, clock, resolver: empty }),
    );
    assert.ok(none instanceof NetError && none.code === "ENOTFOUND");
    assert.equal(clock.pendingTimers, 0);
  });

  test("bad arguments get clear errors", async () => {
    await assert.rejects(happyEyeballs("", 80), TypeError);
    await assert.rejects(
      happyEyeballs("localhost", 0),
      (e: unknown) => e instanceof RangeError && /got 0/.test(e.message),
    );
    await assert.rejects(
      happyEyeballs("localhost", 80, { attemptDelayMs: -1 }),
      /got -1/,
    );
  });
});

describe("name resolution", () => {
  test("IP literals and localhost need no DNS", () => {
    assert.deepEqual(staticAddresses("127.0.0.1"), [{
      address: "127.0.0.1",
      family: 4,
    }]);
    assert.deepEqual(staticAddresses("[::1]"), [{ address: "::1", family: 6 }]);
    assert.deepEqual(staticAddresses("LOCALHOST"), [{
      address: "::1",
      family: 6,
    }, { address: "127.0.0.1", family: 4 }]);
    assert.deepEqual(
      staticAddresses("app.localhost"),
      staticAddresses("localhost"),
    );
    assert.equal(staticAddresses("example.com"), undefined);
    assert.equal(ipFamily("256.1.1.1"), undefined);
    assert.equal(ipFamily("fe80::1%eth0"), 6);
  });

  test("the system resolver (node:dns, loaded lazily) answers for localhost", async () => {
    const v4 = await systemResolver("localhost", { family: 4 });
    assert.ok(v4.includes("127.0.0.1"), `got ${v4}`);
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(
      systemResolver("localhost", { family: 4, signal: controller.signal }),
    );
    assert.ok(error instanceof NetError && error.code === "ECANCELED");
  });
});

/** A memory transport where each IP address maps to its own listener port. */
function routed(memory: Transport, routes: Map<string, number>): Transport {
  return {
    name: memory.name,
    capabilities: memory.capabilities,
    listen: (o) => memory.listen(o),
    bindDatagram: (o) => memory.bindDatagram(o),
    connect: (o) => memory.connect({ ...o, port: routes.get(o.hostname) ?? o.port }),
  };
}

describe("happyEyeballs with one family black-holed (memory transport)", () => {
  for (const dead of [6, 4] as const) {
    test(`IPv${dead} drops SYNs: it connects through IPv${dead === 6 ? 4 : 6}`, async () => {
      const memory = createMemoryTransport();
      const hole = await memory.listen({
        port: 0,
        neverAccept: true,
        onAccept() {},
      });
      const live = await memory.listen({
        port: 0,
        onAccept: (s) => observe(s),
      });
      const routes = new Map([
        ["::1", dead === 6 ? hole.addr.port : live.addr.port],
        ["127.0.0.1", dead === 4 ? hole.addr.port : live.addr.port],
      ]);
      const clock = new CountingClock();
      const attempts: AttemptInfo[] = [];
      const started = performance.now();
      const stream = await happyEyeballs("localhost", 9, {
        transport: routed(memory, routes),
        attemptDelayMs: 100,
        clock,
        onAttempt: (a) => attempts.push(a),
      });
      const elapsed = performance.now() - started;
      if (dead === 6) {
        assert.ok(
          elapsed >= 95 && elapsed < 100 + 500,
          `connected after ${elapsed} ms`,
        );
        assert.deepEqual(attempts.map((a) => a.address), ["::1", "127.0.0.1"]);
      } else {
        assert.ok(elapsed < 95, `connected after ${elapsed} ms`);
        assert.deepEqual(attempts.map((a) => a.address), ["::1"]);
      }
      assert.equal(stream.remoteAddr.port, live.addr.port);
      assert.equal(clock.live.size, 0);
      stream.reset();
      await hole.close();
      await live.close();
    });
  }
});

/** Real listeners on one port: a black hole on one loopback address, an open one on the other. */
async function splitLoopback(
  transport: Transport,
  dead: "::1" | "127.0.0.1",
): Promise<{ port: number; stalled: StalledListener; live: Listener }> {
  const other = dead === "::1" ? "127.0.0.1" : "::1";
  let lastError: unknown;
  for (let i = 0; i < 5; i++) {
    const stalled = await startStalledListenerOn(dead);
    try {
      const live = await transport.listen({
        hostname: other,
        port: stalled.port,
        onAccept: (s) => observe(s),
      });
      return { port: stalled.port, stalled, live };
    } catch (error) {
      lastError = error; // that port is taken on the other address: try another one
      await stalled.close();
    }
  }
  throw lastError;
}

describe("happyEyeballs with one family black-holed (real sockets on ::1 and 127.0.0.1)", () => {
  for (const dead of ["::1", "127.0.0.1"] as const) {
    test(`${dead} black-holed by a full accept backlog`, async (t) => {
      const transport = await loadTransport(detectRuntime());
      if (!(await hasIpv6(transport))) {
        t.diagnostic?.("skipped: no IPv6 loopback here");
        return;
      }
      const { port, stalled, live } = await splitLoopback(transport, dead);
      const attemptDelayMs = 150;
      const clock = new CountingClock();
      const attempts: AttemptInfo[] = [];
      try {
        const started = performance.now();
        const stream = await happyEyeballs("localhost", port, {
          transport,
          attemptDelayMs,
          clock,
          onAttempt: (a) => attempts.push(a),
        });
        const elapsed = performance.now() - started;
        const expected = dead === "::1" ? "IPv4" : "IPv6";
        assert.equal(stream.remoteAddr.family, expected);
        if (dead === "::1") {
          assert.ok(
            elapsed >= attemptDelayMs - 10,
            `connected after ${elapsed} ms, before the stagger`,
          );
          assert.ok(
            elapsed < attemptDelayMs + 1000,
            `connected after ${elapsed} ms`,
          );
          assert.deepEqual(attempts.map((a) => a.address), [
            "::1",
            "127.0.0.1",
          ]);
        } else {
          assert.ok(elapsed < attemptDelayMs, `connected after ${elapsed} ms`);
        }
        assert.equal(clock.live.size, 0);
        stream.reset();
      } finally {
        await live.close();
        await stalled.close();
      }
    });
  }
});
