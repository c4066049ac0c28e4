import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Backoff, backoffDelay, type Jitter } from "../../src/resilience/backoff.ts";
import { seededRandom } from "../../src/resilience/random.ts";

const N = 20_000;

/** Mean and the share of samples in each tenth of [low, high). */
function profile(
  samples: number[],
  low: number,
  high: number,
): { mean: number; deciles: number[] } {
  const deciles = new Array(10).fill(0);
  let sum = 0;
  for (const s of samples) {
    sum += s;
    const bin = Math.min(9, Math.floor(((s - low) / (high - low)) * 10));
    deciles[bin]++;
  }
  return {
    mean: sum / samples.length,
    deciles: deciles.map((d) => d / samples.length),
  };
}

function assertUniform(
  samples: number[],
  low: number,
  high: number,
  label: string,
): void {
  for (const s of samples) {
    assert.ok(s >= low && s < high, `${label}: ${s} outside [${low}, ${high})`);
  }
  const { mean, deciles } = profile(samples, low, high);
  const expected = (low + high) / 2;
  assert.ok(
    Math.abs(mean - expected) < (high - low) * 0.01,
    `${label}: mean ${mean}, expected ${expected}`,
  );
  for (const [i, share] of deciles.entries()) {
    assert.ok(
      Math.abs(share - 0.1) < 0.012,
      `${label}: decile ${i} holds ${share}`,
    );
  }
}

function sample(jitter: Jitter, n: number, seed: number): number[] {
  const random = seededRandom(seed);
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    out.push(backoffDelay(n, { baseMs: 100, capMs: 10_000, jitter, random }));
  }
  return out;
}

describe("seededRandom", () => {
  test("the same seed gives the same sequence, in [0, 1)", () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const c = seededRandom(8);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
    assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, () => c()));
    for (const x of xs) assert.ok(x >= 0 && x < 1);
    assertUniform(
      Array.from({ length: N }, seededRandom(1)),
      0,
      1,
      "seededRandom",
    );
  });

  test("rejects a non-integer seed", () => {
    assert.throws(
      () => seededRandom(1.5),
      (e: unknown) => e instanceof RangeError && /got 1.5/.test(e.message),
    );
  });
});

describe("backoff jitter formulas, v = min(cap, base * 2^n)", () => {
  test("none: exactly v, doubling up to the cap", () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000, jitter: "none" });
    assert.deepEqual(Array.from({ length: 6 }, () => b.next()), [
      100,
      200,
      400,
      800,
      1000,
      1000,
    ]);
    assert.equal(b.attempt, 6);
    b.reset();
    assert.equal(b.next(), 100);
    assert.equal(
      backoffDelay(2000, {
        baseMs: 100,
        capMs: 5000,
        jitter: "none",
        random: Math.random,
      }),
      5000,
    );
  });

  test("full: uniform on [0, v)", () => {
    for (const n of [0, 3, 10]) {
      const v = Math.min(10_000, 100 * 2 ** n);
      assertUniform(sample("full", n, 11 + n), 0, v, `full n=${n}`);
    }
  });

  test("equal: v/2 + U(0, v/2), the seed's rand(0.5..1)", () => {
    for (const n of [0, 3, 10]) {
      const v = Math.min(10_000, 100 * 2 ** n);
      assertUniform(sample("equal", n, 21 + n), v / 2, v, `equal n=${n}`);
    }
  });

  test("decorrelated: min(cap, U(base, previous * 3)), from previous = base", () => {
    const random = seededRandom(99);
    const base = 100;
    const cap = 10_000;
    const b = new Backoff({
      baseMs: base,
      capMs: cap,
      jitter: "decorrelated",
      random,
    });
    const normalised: number[] = [];
    let previous = base;
    let capped = 0;
    for (let i = 0; i < N; i++) {
      if (i % 8 === 0) {
        b.reset();
        previous = base;
      }
      const d = b.next();
      const high = previous * 3;
      assert.ok(
        d >= base && d <= Math.min(cap, high),
        `delay ${d} outside [${base}, ${Math.min(cap, high)}]`,
      );
      if (d === cap) capped++;
      else normalised.push((d - base) / (high - base));
      previous = d;
    }
    assert.ok(capped > 0, "the cap was never reached");
    // The uncapped samples, scaled to [0, 1), are uniform (samples near the cap are missing,
    // so only the lower part of the range is compared).
    const low = normalised.filter((u) => u < 0.3);
    const { deciles } = profile(low, 0, 0.3);
    for (const [i, share] of deciles.entries()) {
      assert.ok(Math.abs(share - 0.1) < 0.02, `decile ${i}: ${share}`);
    }
  });

  test("the seeded schedule is reproducible", () => {
    const a = new Backoff({ jitter: "equal", random: seededRandom(5) });
    const b = new Backoff({ jitter: "equal", random: seededRandom(5) });
    assert.deepEqual(
      Array.from({ length: 10 }, () => a.next()),
      Array.from({ length: 10 }, () => b.next()),
    );
  });

  test("defaults: base 250 ms, cap 30 s, equal jitter", () => {
    const b = new Backoff({ random: () => 0 });
    assert.deepEqual([b.baseMs, b.capMs, b.jitter], [250, 30_000, "equal"]);
    assert.deepEqual(Array.from({ length: 3 }, () => b.next()), [
      125,
      250,
      500,
    ]);
  });

  test("bad options get errors that state the value", () => {
    assert.throws(
      () => new Backoff({ baseMs: 0 }),
      (e: unknown) => e instanceof RangeError && /got 0/.test(e.message),
    );
    assert.throws(
      () => new Backoff({ baseMs: 100, capMs: 50 }),
      (e: unknown) => e instanceof RangeError && /got 50/.test(e.message),
    );
    assert.throws(
      () => new Backoff({ jitter: "half" as Jitter }),
      (e: unknown) => e instanceof RangeError && /"half"/.test(e.message),
    );
    assert.throws(
      () => new Backoff({ random: 3 as unknown as () => number }),
      TypeError,
    );
  });
});
