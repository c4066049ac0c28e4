import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { NetError } from "../../src/runtime/errors.ts";
import { FrameTooLargeError, MalformedFrameError } from "../../src/framing/errors.ts";
import { ManualClock } from "../../src/resilience/clock.ts";
import { RetryError, TimeoutError } from "../../src/resilience/errors.ts";
import { isRetryableError, retry, type RetryInfo } from "../../src/resilience/retry.ts";
import { Backoff } from "../../src/resilience/backoff.ts";
import { seededRandom } from "../../src/resilience/random.ts";
import { withTimeout } from "../../src/resilience/timeout.ts";
import { detectRuntime, loadTransport } from "../../src/runtime/detect.ts";
import { createMemoryTransport } from "../../src/runtime/memory.ts";
import type { Stream, Transport } from "../../src/runtime/types.ts";
import { CountingClock, rejection } from "./_helpers.ts";

const refused = () => new NetError("ECONNREFUSED", "Connection to 127.0.0.1:1 was refused");

describe("retry", () => {
  test("retries transient failures with backoff and returns the result", async () => {
    const clock = new ManualClock();
    const seen: RetryInfo[] = [];
    let calls = 0;
    const p = retry(({ attempt }) => {
      calls++;
      assert.equal(attempt, calls);
      if (calls < 3) throw refused();
      return "ok";
    }, {
      clock,
      backoff: { baseMs: 100, capMs: 1000, jitter: "none" },
      onRetry: (info) => seen.push(info),
    });
    await clock.advance(99);
    assert.equal(calls, 1);
    await clock.advance(1);
    assert.equal(calls, 2);
    await clock.advance(200);
    assert.equal(await p, "ok");
    assert.deepEqual(seen.map((s) => [s.attempt, s.delayMs]), [[1, 100], [
      2,
      200,
    ]]);
    assert.equal(clock.pendingTimers, 0);
  });

  test("the attempt budget runs out: RetryError with every cause", async () => {
    const clock = new ManualClock();
    const causes = [
      refused(),
      new NetError("ECONNRESET"),
      new NetError("ETIMEDOUT"),
    ];
    let calls = 0;
    const p = rejection(retry(() => Promise.reject(causes[calls++]), {
      clock,
      maxAttempts: 3,
      backoff: new Backoff({ baseMs: 10, random: seededRandom(3) }),
    }));
    await clock.advance(1000);
    const error = await p;
    assert.ok(error instanceof RetryError);
    assert.equal(error.attempts, 3);
    assert.equal(error.reason, "attempts");
    assert.deepEqual(error.errors, causes);
    assert.equal(error.cause, causes[2]);
    assert.match(
      error.message,
      /Gave up after 3 attempts.*limit of 3 attempts.*ETIMEDOUT/,
    );
    assert.equal(clock.pendingTimers, 0);
  });

  test("the time budget runs out: no wait is begun past it", async () => {
    const clock = new ManualClock();
    let calls = 0;
    const p = rejection(retry(() => {
      calls++;
      throw refused();
    }, {
      clock,
      maxAttempts: Infinity,
      maxElapsedMs: 1000,
      backoff: { baseMs: 100, jitter: "none" },
    }));
    await clock.advance(2000);
    const error = await p;
    assert.ok(error instanceof RetryError);
    assert.equal(error.reason, "elapsed");
    // Waits of 100, 200 and 400 ms fit in 1000 ms; the next one (800 ms) would not.
    assert.equal(calls, 4);
    assert.equal(error.errors.length, 4);
    assert.ok(
      error.errors.every((e) => e instanceof NetError && e.code === "ECONNREFUSED"),
    );
    assert.match(error.message, /time budget of 1000 ms ran out/);
    assert.equal(clock.pendingTimers, 0);
  });

  test("the time budget aborts a running attempt and keeps its cause", async () => {
    const clock = new ManualClock();
    const signals: AbortSignal[] = [];
    let calls = 0;
    const p = rejection(retry(({ signal }) => {
      signals.push(signal);
      if (++calls === 1) return Promise.reject(new NetError("ECONNRESET"));
      return new Promise<never>(() => {});
    }, { clock, maxElapsedMs: 500, backoff: { baseMs: 100, jitter: "none" } }));
    await clock.advance(600);
    const error = await p;
    assert.ok(error instanceof RetryError);
    assert.equal(error.reason, "elapsed");
    assert.equal(error.attempts, 2);
    assert.ok(error.errors[1] instanceof TimeoutError);
    assert.equal((error.errors[1] as TimeoutError).kind, "budget");
    assert.equal(signals[1].aborted, true);
    assert.equal(clock.pendingTimers, 0);
  });

  test("a non-retryable error is not retried and is thrown as it is", async () => {
    const fatal: unknown[] = [
      new FrameTooLargeError(9_000_000, 1024),
      new MalformedFrameError("varint", "Varint is longer than 10 bytes"),
      Object.assign(new Error("Not found"), { status: 404 }),
      Object.assign(new Error("Bad credentials"), {
        name: "AuthenticationError",
        code: "ECONNRESET",
      }),
      new TypeError("x is not a function"),
      new NetError("ENOTFOUND"),
    ];
    for (const error of fatal) {
      let calls = 0;
      const clock = new ManualClock();
      const thrown = await rejection(retry(() => {
        calls++;
        throw error;
      }, { clock, maxAttempts: 5 }));
      assert.equal(thrown, error);
      assert.equal(calls, 1, `${String(error)} was retried`);
      assert.equal(clock.pendingTimers, 0);
    }
  });

  test("the default classifier", () => {
    for (
      const code of [
        "ETIMEDOUT",
        "ECONNRESET",
        "ECONNREFUSED",
        "EPIPE",
        "EHOSTUNREACH",
        "ENETUNREACH",
        "EAI_AGAIN",
        "TLS_HANDSHAKE_TIMEOUT",
      ]
    ) {
      assert.equal(
        isRetryableError(new NetError(code as "ETIMEDOUT")),
        true,
        code,
      );
      assert.equal(
        isRetryableError(Object.assign(new Error(code), { code })),
        true,
        `plain ${code}`,
      );
    }
    assert.equal(
      isRetryableError(
        new TimeoutError("Request timed out after 5 ms", {
          kind: "request",
          timeoutMs: 5,
        }),
      ),
      true,
    );
    assert.equal(
      isRetryableError(
        Object.assign(new Error("Unavailable"), { status: 503 }),
      ),
      true,
    );
    assert.equal(
      isRetryableError(
        Object.assign(new Error("Forbidden"), { statusCode: 403 }),
      ),
      false,
    );
    assert.equal(
      isRetryableError(
        new AggregateError([new NetError("EADDRNOTAVAIL"), refused()]),
      ),
      true,
    );
    assert.equal(
      isRetryableError(new AggregateError([new NetError("EACCES")])),
      false,
    );
    assert.equal(
      isRetryableError(
        new RetryError("x", {
          errors: [refused()],
          attempts: 1,
          reason: "attempts",
          elapsedMs: 0,
        }),
      ),
      false,
    );
    assert.equal(isRetryableError(new NetError("ECANCELED")), false);
    assert.equal(isRetryableError("ECONNRESET"), false);
    assert.equal(isRetryableError(undefined), false);
  });

  test("an abort during backoff stops at once and leaves no timer (manual clock)", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    let calls = 0;
    const p = rejection(retry(() => {
      calls++;
      throw refused();
    }, {
      clock,
      signal: controller.signal,
      backoff: { baseMs: 60_000, capMs: 60_000, jitter: "none" },
    }));
    await clock.advance(0);
    assert.equal(calls, 1);
    assert.equal(clock.pendingTimers, 1, "a backoff timer should be waiting");
    const reason = new Error("user cancelled");
    controller.abort(reason);
    assert.equal(await p, reason);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(calls, 1);
  });

  test("an abort during backoff stops at once and leaves no timer (real clock)", async () => {
    const clock = new CountingClock();
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(new Error("stop")), 50);
    const error = await rejection(retry(() => Promise.reject(refused()), {
      clock,
      signal: controller.signal,
      maxElapsedMs: 120_000,
      backoff: { baseMs: 30_000, jitter: "none" },
    }));
    assert.match((error as Error).message, /stop/);
    assert.ok(
      performance.now() - started < 2000,
      "the abort did not stop the wait at once",
    );
    assert.equal(clock.live.size, 0, "a timer was left behind");
  });

  test("an abort during backoff lets the process exit by itself", async () => {
    const fixture = "tests/resilience/fixtures/abort_during_backoff";
    let command: string[];
    switch (detectRuntime()) {
      case "deno":
        command = [process.execPath, "run", "-A", `${fixture}.ts`];
        break;
      case "bun":
        command = [process.execPath, `${fixture}.ts`];
        break;
      default: {
        const built = `npm/esm/${fixture}.js`;
        assert.ok(
          existsSync(built),
          `${built} is missing; run the npm build first`,
        );
        command = [process.execPath, built];
      }
    }
    const started = performance.now();
    const child = spawn(command[0], command.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on(
      "data",
      (d: Uint8Array) => (out += new TextDecoder().decode(d)),
    );
    child.stderr!.on(
      "data",
      (d: Uint8Array) => (out += new TextDecoder().decode(d)),
    );
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    clearTimeout(killer);
    const elapsed = performance.now() - started;
    assert.equal(code, 0, `the fixture failed: ${out}`);
    assert.match(out, /aborted after \d+ ms/);
    // The backoff was 10 minutes: the process exited because nothing was left pending.
    assert.ok(
      elapsed < 15_000,
      `the process took ${Math.round(elapsed)} ms to exit`,
    );
  });

  test("bad options get clear errors", async () => {
    await assert.rejects(
      retry(() => 1, { maxAttempts: 0 }),
      (e: unknown) => e instanceof RangeError && /got 0/.test(e.message),
    );
    await assert.rejects(
      retry(() => 1, { maxElapsedMs: -1 }),
      (e: unknown) => e instanceof RangeError && /got -1/.test(e.message),
    );
    await assert.rejects(
      retry(() => 1, { attemptTimeoutMs: Number.NaN }),
      RangeError,
    );
    await assert.rejects(retry("nope" as unknown as () => number), TypeError);
    await assert.rejects(
      retry(() => 1, { backoff: { capMs: 1, baseMs: 5 } }),
      /got 1/,
    );
  });
});

/** A server that accepts and reads but never answers. */
async function silentServer(
  transport: Transport,
): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  const open = new Set<Stream>();
  let accepted = 0;
  const listener = await transport.listen({
    hostname: "127.0.0.1",
    port: 0,
    onAccept(stream) {
      accepted++;
      open.add(stream);
      stream.setHandlers({ onClose: () => open.delete(stream) });
    },
  });
  return {
    port: listener.addr.port,
    accepted: () => accepted,
    async close() {
      const closing = listener.close();
      for (const s of open) s.reset();
      await closing;
    },
  };
}

/** One request: connect, send, wait for the first reply bytes. */
async function request(
  transport: Transport,
  port: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const stream = await transport.connect({
    hostname: "127.0.0.1",
    port,
    signal,
  });
  return await new Promise<Uint8Array>((resolve, reject) => {
    const onAbort = () => stream.reset();
    signal.addEventListener("abort", onAbort, { once: true });
    stream.setHandlers({
      onData: (chunk) => {
        resolve(chunk);
        void stream.close();
      },
      onClose: (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error ?? new NetError("ECONNRESET", "Closed without a reply"));
      },
    });
    stream.write(new TextEncoder().encode("GET\n"));
  });
}

for (const name of ["native", "memory"] as const) {
  describe(`request timeout against a server that accepts but never answers (${name})`, () => {
    test("withTimeout fires with a request TimeoutError and the connection is dropped", async () => {
      const transport = name === "memory" ? createMemoryTransport() : await loadTransport(detectRuntime());
      const server = await silentServer(transport);
      const clock = new CountingClock();
      try {
        const started = performance.now();
        const error = await rejection(
          withTimeout(
            (signal) => request(transport, server.port, signal),
            150,
            { clock, what: "Request GET" },
          ),
        );
        const elapsed = performance.now() - started;
        assert.ok(error instanceof TimeoutError, `got ${String(error)}`);
        assert.equal(error.kind, "request");
        assert.equal(error.code, "ETIMEDOUT");
        assert.equal(error.message, "Request GET timed out after 150 ms");
        assert.ok(
          elapsed >= 140 && elapsed < 3000,
          `fired after ${elapsed} ms`,
        );
        assert.equal(server.accepted(), 1);
        assert.equal(clock.live.size, 0);
      } finally {
        await server.close();
      }
    });

    test("retry with attemptTimeoutMs retries the silent request and reports every timeout", async () => {
      const transport = name === "memory" ? createMemoryTransport() : await loadTransport(detectRuntime());
      const server = await silentServer(transport);
      try {
        const error = await rejection(
          retry(({ signal }) => request(transport, server.port, signal), {
            maxAttempts: 3,
            attemptTimeoutMs: 80,
            backoff: { baseMs: 10, capMs: 20 },
          }),
        );
        assert.ok(error instanceof RetryError);
        assert.equal(error.attempts, 3);
        for (const e of error.errors) {
          assert.ok(
            e instanceof TimeoutError && e.kind === "request",
            String(e),
          );
          assert.match(
            (e as Error).message,
            /Attempt \d timed out after 80 ms/,
          );
        }
        assert.equal(server.accepted(), 3);
      } finally {
        await server.close();
      }
    });
  });
}
