/**
 * Errors that describe what a peer sent or did, built without a stack trace.
 *
 * Such an error's stack shows only the decoder or the read callback that noticed, never a
 * caller's mistake, and capturing it costs several microseconds: more than the rest of the
 * handling of a connection that sends half a frame and resets. Under a churn of such
 * connections that cost decides how fast the server drains its accept queue.
 *
 * @module
 */

type StackLimited = { stackTraceLimit?: number };

const engineError = Error as unknown as StackLimited;
// `Error.stackTraceLimit` is V8's and JavaScriptCore's; a frozen `Error` keeps its stacks.
const limitWritable = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit")?.writable === true;

/**
 * Returns what `make` returns; an error it builds has no stack trace.
 *
 * @example
 * ```ts
 * import { stackless } from "./stackless.ts";
 * const error = stackless(() => new RangeError("Length 9 exceeds the limit of 4"));
 * console.log(error.message); // "Length 9 exceeds the limit of 4"
 * ```
 */
export function stackless<T>(make: () => T): T {
  if (!limitWritable) return make();
  const limit = engineError.stackTraceLimit;
  engineError.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    engineError.stackTraceLimit = limit;
  }
}
