/**
 * `pooledMap`: maps an iterable through an async function with at most `limit` calls running
 * at once, yielding the results in input order.
 *
 * @module
 */

type Slot<R> = { state: "pending" } | { state: "ok"; value: R } | {
  state: "error";
  error: unknown;
};

/**
 * Calls `fn` on each item of `items`, with at most `limit` calls in flight, and yields the
 * results in the order of the input. A new call starts as soon as any running call finishes.
 *
 * If a call fails, no new calls start; the calls already running are awaited, the results
 * before the first failure are still yielded, and then an `AggregateError` with every error is
 * thrown. Breaking out of the loop early stops starting new calls and closes the source.
 *
 * @example
 * ```ts
 * const lengths = pooledMap(2, ["a", "bb", "ccc"], async (s) => s.length);
 * for await (const n of lengths) console.log(n); // 1, 2, 3
 * ```
 */
export async function* pooledMap<T, R>(
  limit: number,
  items: Iterable<T> | AsyncIterable<T>,
  fn: (item: T) => Promise<R> | R,
): AsyncGenerator<R, void, undefined> {
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
    throw new RangeError(
      `Pool limit must be an integer >= 1, got ${String(limit)}`,
    );
  }
  if (typeof fn !== "function") {
    throw new TypeError(`Pooled map needs a function, got ${typeof fn}`);
  }
  const iterator = toAsyncIterator(items);
  // Results by input index; yielded ones are deleted, so memory follows the window in flight.
  const slots = new Map<number, Slot<R>>();
  let count = 0;
  let head = 0;
  let running = 0;
  let exhausted = false;
  let failed = false;
  let wake: (() => void) | undefined;
  let signaled = false;
  const notify = () => {
    signaled = true;
    const w = wake;
    wake = undefined;
    w?.();
  };

  try {
    for (;;) {
      while (!exhausted && !failed && running < limit) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const index = count++;
        slots.set(index, { state: "pending" });
        running++;
        Promise.resolve()
          .then(() => fn(next.value))
          .then(
            (value) => slots.set(index, { state: "ok", value }),
            (error) => {
              slots.set(index, { state: "error", error });
              failed = true;
            },
          )
          .finally(() => {
            running--;
            notify();
          });
      }
      for (
        let slot = slots.get(head);
        slot?.state === "ok";
        slot = slots.get(head)
      ) {
        slots.delete(head++);
        yield slot.value;
      }
      if (running === 0 && (exhausted || failed)) break;
      if (!signaled) await new Promise<void>((resolve) => (wake = resolve));
      signaled = false;
    }
    const errors: unknown[] = [];
    for (let i = head; i < count; i++) {
      const slot = slots.get(i);
      if (slot?.state === "error") errors.push(slot.error);
    }
    if (errors.length > 0) {
      throw new AggregateError(
        errors,
        `Pooled map stopped: ${errors.length} call${errors.length === 1 ? "" : "s"} failed`,
      );
    }
  } finally {
    if (!exhausted) await iterator.return?.();
  }
}

function toAsyncIterator<T>(
  items: Iterable<T> | AsyncIterable<T>,
): AsyncIterator<T> | Iterator<T> {
  if (
    items !== null && typeof items === "object" && Symbol.asyncIterator in items
  ) {
    return (items as AsyncIterable<T>)[Symbol.asyncIterator]();
  }
  if (
    items !== null && items !== undefined &&
    typeof (items as Iterable<T>)[Symbol.iterator] === "function"
  ) {
    return (items as Iterable<T>)[Symbol.iterator]();
  }
  throw new TypeError(
    `Pooled map needs an iterable or an async iterable, got ${String(items)}`,
  );
}
