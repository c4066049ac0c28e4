/**
 * Argument checks shared by the resilience modules.
 *
 * @module
 */

/**
 * Checks a duration in milliseconds: a finite number >= 0 (or Infinity when `allowInfinity`).
 *
 * @example
 * ```ts
 * checkMs(250, "Attempt delay"); // ok
 * checkMs(-1, "Attempt delay"); // throws RangeError
 * ```
 */
export function checkMs(
  value: unknown,
  what: string,
  allowInfinity: boolean = false,
): number {
  if (
    typeof value !== "number" || Number.isNaN(value) || value < 0 ||
    (!allowInfinity && !Number.isFinite(value))
  ) {
    const range = allowInfinity
      ? "a number of milliseconds >= 0 (or Infinity)"
      : "a finite number of milliseconds >= 0";
    throw new RangeError(`${what} must be ${range}, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks that an optional value is an AbortSignal.
 *
 * @example
 * ```ts
 * checkSignal(new AbortController().signal); // ok
 * ```
 */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (
    typeof signal !== "object" || signal === null ||
    typeof (signal as AbortSignal).aborted !== "boolean"
  ) {
    throw new TypeError(`Signal must be an AbortSignal, got ${String(signal)}`);
  }
  return signal as AbortSignal;
}

/**
 * Checks that a value is a function.
 *
 * @example
 * ```ts
 * checkFunction(() => {}, "onRetry"); // ok
 * ```
 */
export function checkFunction(value: unknown, what: string): void {
  if (typeof value !== "function") {
    throw new TypeError(
      `${what} must be a function, got ${value === null ? "null" : typeof value}`,
    );
  }
}
