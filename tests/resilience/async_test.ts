import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/resilience/clock.ts";
import { delay } from "../../src/resilience/delay.ts";
import { deadline } from "../../src/resilience/deadline.ts";
import { abortable } from "../../src/resilience/abortable.ts";
import { pooledMap } from "../../src/resilience/pooled_map.ts";
import { TimeoutError } from "../../src/resilience/errors.ts";
import { NetError } from "../../src/runtime/errors.ts";
import { CountingClock, deferred, rejection } from "./_helpers.ts";

describe("ManualClock", () => {
  test("fires timers in due order, only when advanced", async () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b"), 20);
    clock.setTimeout(() => fired.push("a"), 10);
    const c = clock.setTimeout(() => fired.push("c"), 15);
    clock.setTimeout(() => fired.push("a2"), 10);
    clock.clearTimeout(c);
    assert.equal(clock.pendingTimers, 3);
    assert.equal(clock.nextDue, 1010);
    await clock.advance(9);
    assert.deepEqual(fired, []);
    await clock.advance(1);
    assert.deepEqual(fired, ["a", "a2"]);
    assert.equal(clock.now(), 1010);
    assert.equal(await clock.runNext(), 1020);
    assert.deepEqual(fired, ["a", "a2", "b"]);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(await clock.runNext(), undefined);
  });

  test("lets promise jobs run between timers", async () => {
    const clock = new ManualClock();
    const steps: number[] = [];
    const chain = (async () => {
      await delay(10, { clock });
      steps.push(clock.now());
      await delay(10, { clock });
      steps.push(clock.now());
    })();
    await clock.advance(25);
    await chain;
    assert.deepEqual(steps, [10, 20]);
  });

  test("rejects bad arguments", async () => {
    assert.throws(() => new ManualClock(Number.NaN), RangeError);
    const clock = new ManualClock();
    await assert.rejects(clock.advance(-1), /got -1/);
    assert.throws(
      () => clock.setTimeout("x" as unknown as () => void, 1),
      TypeError,
    );
  });
});

describe("delay", () => {
  test("resolves after the time on the manual clock", async () => {
    const clock = new ManualClock();
    let done = false;
    const p = delay(100, { clock }).then(() => (done = true));
    await clock.advance(99);
    assert.equal(done, false);
    await clock.advance(1);
    await p;
    assert.equal(done, true);
  });

  test("an abort rejects at once with the reason and clears the timer", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const p = delay(60_000, { clock, signal: controller.signal });
    assert.equal(clock.pendingTimers, 1);
    const reason = new Error("stop");
    controller.abort(reason);
    assert.equal(await rejection(p), reason);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(
      await rejection(delay(10, { signal: controller.signal, clock })),
      reason,
    );
    assert.equal(clock.pendingTimers, 0);
  });

  test("with the real clock an abort leaves no timer", async () => {
    const clock = new CountingClock();
    const controller = new AbortController();
    const started = performance.now();
    const p = delay(60_000, { clock, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await rejection(p);
    assert.ok(performance.now() - started < 2000);
    assert.equal(clock.live.size, 0);
  });

  test("rejects a bad duration with a RangeError naming it", async () => {
    await assert.rejects(
      delay(-5),
      (e: unknown) => e instanceof RangeError && /got -5/.test(e.message),
    );
    await assert.rejects(delay(Number.NaN), RangeError);
  });
});

describe("deadline", () => {
  test("passes the value through when in time", async () => {
    const clock = new ManualClock();
    const p = deadline(Promise.resolve(7), 100, { clock });
    assert.equal(await p, 7);
    assert.equal(clock.pendingTimers, 0);
  });

  test("rejects with a TimeoutError (ETIMEDOUT) when late", async () => {
    const clock = new ManualClock();
    const slow = deferred<number>();
    const p = deadline(slow.promise, 100, { clock });
    const caught = rejection(p);
    await clock.advance(100);
    const error = await caught;
    assert.ok(error instanceof TimeoutError);
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ETIMEDOUT");
    assert.equal(error.kind, "deadline");
    assert.match(error.message, /100 ms/);
    slow.resolve(1);
    assert.equal(clock.pendingTimers, 0);
  });

  test("passes a rejection through and honours the signal", async () => {
    const clock = new ManualClock();
    await assert.rejects(
      deadline(Promise.reject(new Error("inner")), 100, { clock }),
      /inner/,
    );
    const controller = new AbortController();
    const p = deadline(new Promise(() => {}), 100, {
      clock,
      signal: controller.signal,
    });
    controller.abort(new Error("cancel"));
    await assert.rejects(p, /cancel/);
    assert.equal(clock.pendingTimers, 0);
  });
});

describe("abortable", () => {
  test("a promise rejects with the reason when the signal aborts", async () => {
    const controller = new AbortController();
    const p = abortable(new Promise<number>(() => {}), controller.signal);
    controller.abort(new Error("gone"));
    await assert.rejects(p, /gone/);
    assert.equal(
      await abortable(Promise.resolve(3), new AbortController().signal),
      3,
    );
  });

  test("an async iterable stops at the abort and its source is closed", async () => {
    let closed = false;
    async function* source() {
      try {
        for (let i = 0;; i++) {
          yield i;
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        closed = true;
      }
    }
    const controller = new AbortController();
    const seen: number[] = [];
    const error = await rejection((async () => {
      for await (const n of abortable(source(), controller.signal)) {
        seen.push(n);
        if (n === 3) controller.abort(new Error("enough"));
      }
    })());
    assert.match((error as Error).message, /enough/);
    assert.deepEqual(seen, [0, 1, 2, 3]);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(closed, true);
  });

  test("a pending next() rejects at once when the signal aborts", async () => {
    async function* stuck() {
      yield 1;
      await new Promise(() => {});
    }
    const controller = new AbortController();
    const it = abortable(stuck(), controller.signal);
    assert.deepEqual(await it.next(), { value: 1, done: false });
    const pending = it.next();
    controller.abort(new Error("now"));
    await assert.rejects(pending, /now/);
  });

  test("rejects bad input", () => {
    assert.throws(
      () =>
        abortable(
          42 as unknown as Promise<number>,
          new AbortController().signal,
        ),
      TypeError,
    );
  });
});

describe("pooledMap", () => {
  test("keeps at most `limit` calls running and yields in input order", async () => {
    let running = 0;
    let peak = 0;
    const out: number[] = [];
    const delays = [30, 5, 20, 1, 10, 2, 15, 3];
    for await (
      const value of pooledMap(
        3,
        delays.map((d, i) => [d, i] as const),
        async ([d, i]) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, d));
          running--;
          return i;
        },
      )
    ) out.push(value);
    assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(peak, 3);
  });

  test("starts a new call when any call finishes, not only the oldest", async () => {
    const gate = deferred();
    const started: number[] = [];
    const iter = pooledMap(2, [0, 1, 2, 3], async (i) => {
      started.push(i);
      if (i === 0) await gate.promise;
      return i;
    });
    const first = iter.next();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(started, [0, 1, 2, 3]);
    gate.resolve();
    assert.deepEqual(await first, { value: 0, done: false });
    const rest: number[] = [];
    for await (const v of iter) rest.push(v);
    assert.deepEqual(rest, [1, 2, 3]);
  });

  test("works on async iterables", async () => {
    async function* gen() {
      for (let i = 1; i <= 5; i++) yield i;
    }
    const out: number[] = [];
    for await (const v of pooledMap(2, gen(), (x) => x * x)) out.push(v);
    assert.deepEqual(out, [1, 4, 9, 16, 25]);
  });

  test("a failure stops new calls and throws an AggregateError after the earlier results", async () => {
    const calls: number[] = [];
    const out: number[] = [];
    const error = await rejection((async () => {
      for await (
        const v of pooledMap(2, [1, 2, 3, 4, 5, 6], async (x) => {
          calls.push(x);
          await new Promise((r) => setTimeout(r, 5));
          if (x === 3) throw new Error("three");
          return x;
        })
      ) out.push(v);
    })());
    assert.ok(error instanceof AggregateError);
    assert.equal(error.errors.length, 1);
    assert.match((error.errors[0] as Error).message, /three/);
    assert.deepEqual(out, [1, 2]);
    assert.ok(calls.length <= 5, `calls ${calls}`);
  });

  test("rejects a bad limit", async () => {
    await assert.rejects(
      pooledMap(0, [1], (x) => x).next(),
      (e: unknown) => e instanceof RangeError && /got 0/.test(e.message),
    );
  });
});
