/**
 * The types of the thread pool: its options, a task's key and context, a handler, and its
 * statistics.
 *
 * @module
 */

/**
 * The key of a task: tasks with the same key run in order, one at a time (a connection id,
 * for example).
 *
 * @example
 * ```ts
 * const key: TaskKey = 17;
 * ```
 */
export type TaskKey = string | number;

/**
 * What a handler receives beside its task.
 *
 * @example
 * ```ts
 * const handler: ThreadHandler<Uint8Array, Uint8Array> = (frame, ctx) => {
 *   const reply = frame.slice().reverse();
 *   ctx.transfer(reply.buffer);
 *   return reply;
 * };
 * ```
 */
export interface ThreadTaskContext {
  /** The id of the thread running the task (unique within the pool, new for each restart). */
  readonly threadId: number;
  /** The task's key, if it has one. */
  readonly key: TaskKey | undefined;
  /** Moves these buffers of the result to the main thread instead of copying them. */
  transfer(...buffers: ArrayBuffer[]): void;
}

/**
 * A task handler: the default export (or the export named `handler`) of a pool's module.
 *
 * @example
 * ```ts
 * export const handler: ThreadHandler<number, number> = (n) => n * 2;
 * ```
 */
// deno-lint-ignore no-explicit-any
export type ThreadHandler<T = any, R = any> = (task: T, ctx: ThreadTaskContext) => R | Promise<R>;

/**
 * An error as it crosses from a thread to the pool: what {@linkcode TaskError} is built from.
 *
 * @example
 * ```ts
 * const e: SerializedError = { name: "TypeError", message: "Bad input 3" };
 * ```
 */
export interface SerializedError {
  /** The error's `name`, such as `TypeError`. */
  name: string;
  /** The error's message. */
  message: string;
  /** The stack trace inside the thread. */
  stack?: string;
  /** The error's `code` property, when it has a string or number one. */
  code?: string | number;
}

/**
 * Options of a {@linkcode ThreadPool}.
 *
 * @example
 * ```ts
 * const options: ThreadPoolOptions = {
 *   module: new URL("./handler.ts", import.meta.url),
 *   size: 4,
 *   maxQueue: 10_000,
 * };
 * ```
 */
export interface ThreadPoolOptions {
  /**
   * The handler module: a URL, or an absolute file path. It must export the handler as its
   * default export or as `handler`. Use {@linkcode moduleUrl} for a module next to yours.
   */
  module: URL | string;
  /** The number of threads. Default: the number of CPUs. */
  size?: number;
  /**
   * The most tasks that may wait for a thread; `run` rejects with {@linkcode QueueFullError}
   * beyond it. Tasks already sent to a thread do not count. Default: `Infinity`.
   */
  maxQueue?: number;
  /**
   * The most tasks sent to one thread and not answered yet. Higher values batch more, lower
   * ones balance long tasks better and lose fewer tasks to a crash. Default: 64.
   */
  maxInFlightPerThread?: number;
  /** Terminates the pool (see {@linkcode ThreadPool.terminate}) when aborted. */
  signal?: AbortSignal;
  /** A name for the threads, shown by debuggers. Default: `"sockmodels thread"`. */
  name?: string;
}

/**
 * Options of one {@linkcode ThreadPool.run} call.
 *
 * @example
 * ```ts
 * const frame = new Uint8Array(64);
 * const options: RunOptions = { key: 7, transfer: [frame.buffer] };
 * ```
 */
export interface RunOptions {
  /** Tasks with the same key run in submission order and never at the same time. */
  key?: TaskKey;
  /**
   * Buffers to move to the thread instead of copying; the caller loses them. A typed array or
   * `DataView` here moves its buffer, and must span all of it (see {@linkcode ownBytes}).
   */
  transfer?: readonly (ArrayBuffer | ArrayBufferView)[];
  /** Stops waiting: a queued task is dropped, a running one finishes but is not awaited. */
  signal?: AbortSignal;
}

/**
 * Counters of a {@linkcode ThreadPool}.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool;
 * const { queueSize, inFlight, completed } = pool.stats;
 * ```
 */
export interface ThreadPoolStats {
  /** Threads running and ready for tasks. */
  threads: number;
  /** Tasks waiting for a thread. */
  queueSize: number;
  /** Tasks sent to threads and not answered yet. */
  inFlight: number;
  /** Tasks whose handler returned a value. */
  completed: number;
  /** Tasks that failed: handler errors, crashes, aborts and closing. */
  failed: number;
  /** Threads started to replace crashed ones. */
  restarts: number;
}
