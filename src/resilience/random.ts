/**
 * A small seeded random source, so that jittered delays can be reproduced in tests.
 *
 * @module
 */

/**
 * A random source: returns numbers in [0, 1), like `Math.random`.
 *
 * @example
 * ```ts
 * const random: RandomSource = Math.random;
 * ```
 */
export type RandomSource = () => number;

/**
 * A deterministic random source (mulberry32) seeded with a 32-bit integer. The same seed gives
 * the same sequence on every runtime. It is not for cryptography.
 *
 * @example
 * ```ts
 * const a = seededRandom(42);
 * const b = seededRandom(42);
 * console.log(a() === b()); // true
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  if (typeof seed !== "number" || !Number.isInteger(seed)) {
    throw new RangeError(`Random seed must be an integer, got ${String(seed)}`);
  }
  let state = seed >>> 0;
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
