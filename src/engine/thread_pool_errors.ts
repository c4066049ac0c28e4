/**
 * The thread pool's errors, each with a stable `code`.
 *
 * @module
 */

import type { SerializedError } from "./thread_pool_types.ts";

/**
 * The codes of the pool's errors.
 *
 * @example
 * ```ts
 * const code: ThreadPoolErrorCode = "QUEUE_FULL";
 * ```
 */
export type ThreadPoolErrorCode =
  | "TASK_FAILED"
  | "THREAD_CRASHED"
  | "THREAD_START_FAILED"
  | "QUEUE_FULL"
  | "POOL_CLOSED";

/**
 * The base of the pool's errors, with a stable `code`.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool<number, number>;
 * try {
 *   await pool.run(1);
 * } catch (e) {
 *   if (e instanceof ThreadPoolError) console.log(e.code);
 * }
 * ```
 */
export class ThreadPoolError extends Error {
  /** The stable code. */
  readonly code: ThreadPoolErrorCode;

  /** Creates an error with a code. */
  constructor(code: ThreadPoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ThreadPoolError";
    this.code = code;
  }
}

/**
 * The handler threw or rejected. The message is the handler's; `stack` is the thread's.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool<string, string>;
 * try {
 *   await pool.run("bad");
 * } catch (e) {
 *   if (e instanceof TaskError) console.log(e.errorName, e.message); // "TypeError" "..."
 * }
 * ```
 */
export class TaskError extends ThreadPoolError {
  /** The name of the handler's error, such as `TypeError`. */
  readonly errorName: string;
  /** The handler error's own `code` property, when it had one. */
  readonly errorCode?: string | number;
  /** The thread that ran the task. */
  readonly threadId: number;

  /** Rebuilds a handler's error from what the thread sent. */
  constructor(error: SerializedError, threadId: number) {
    super("TASK_FAILED", error.message);
    this.name = "TaskError";
    this.errorName = error.name;
    if (error.code !== undefined) this.errorCode = error.code;
    this.threadId = threadId;
    if (error.stack !== undefined) this.stack = error.stack;
  }
}

/**
 * The thread running the task crashed (an uncaught error) or ended itself (`process.exit`,
 * `Deno.exit`, `self.close`) before answering. The pool replaces the thread.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool<string, string>;
 * declare const task: string;
 * try {
 *   await pool.run(task);
 * } catch (e) {
 *   if (e instanceof ThreadCrashedError) console.log(e.threadId, e.exitCode, e.cause);
 * }
 * ```
 */
export class ThreadCrashedError extends ThreadPoolError {
  /** The thread that crashed. */
  readonly threadId: number;
  /** Its exit code, when it ended itself or the runtime reports one. */
  readonly exitCode?: number;

  /** Creates the error for thread `threadId`. */
  constructor(threadId: number, cause: unknown, exitCode?: number) {
    const why = cause !== undefined
      ? `crashed: ${cause instanceof Error ? cause.message : String(cause)}`
      : `exited with code ${exitCode ?? "unknown"}`;
    super("THREAD_CRASHED", `Thread ${threadId} ${why}; its unfinished tasks failed`, { cause });
    this.name = "ThreadCrashedError";
    this.threadId = threadId;
    if (exitCode !== undefined) this.exitCode = exitCode;
  }
}

/**
 * A thread could not start: the module failed to load, has no handler, or its threads keep
 * dying before they get any task. The pool stops, and every task fails with this error.
 *
 * @example
 * ```ts
 * import { ThreadPool } from "sockmodels/engine";
 * const pool = new ThreadPool({ module: "/no/such/module.js", size: 1 });
 * await pool.run(1).catch((e) => console.log(e instanceof ThreadStartError)); // true
 * ```
 */
export class ThreadStartError extends ThreadPoolError {
  /** The module the threads run. */
  readonly module: string;

  /** Creates the error for `module`. */
  constructor(module: string, reason: string, cause?: unknown) {
    super("THREAD_START_FAILED", `Thread pool module ${module} could not start: ${reason}`, { cause });
    this.name = "ThreadStartError";
    this.module = module;
  }
}

/**
 * `run` was called while `maxQueue` tasks were already waiting.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool<string, string>;
 * declare const task: string;
 * try {
 *   await pool.run(task);
 * } catch (e) {
 *   if (e instanceof QueueFullError) await pool.whenQueueBelow(e.maxQueue / 2);
 * }
 * ```
 */
export class QueueFullError extends ThreadPoolError {
  /** The tasks waiting when the call was refused. */
  readonly queueSize: number;
  /** The limit. */
  readonly maxQueue: number;

  /** Creates the error for a full queue. */
  constructor(queueSize: number, maxQueue: number) {
    super("QUEUE_FULL", `The thread pool queue is full: ${queueSize} tasks wait and maxQueue is ${maxQueue}`);
    this.name = "QueueFullError";
    this.queueSize = queueSize;
    this.maxQueue = maxQueue;
  }
}

/**
 * The pool was closing or terminated: the task was refused, dropped before it started, or
 * abandoned while it ran.
 *
 * @example
 * ```ts
 * import type { ThreadPool } from "sockmodels/engine";
 * declare const pool: ThreadPool<number, number>;
 * await pool.close();
 * await pool.run(1).catch((e) => console.log(e instanceof PoolClosedError)); // true
 * ```
 */
export class PoolClosedError extends ThreadPoolError {
  /** Creates the error. */
  constructor(message: string) {
    super("POOL_CLOSED", message);
    this.name = "PoolClosedError";
  }
}
