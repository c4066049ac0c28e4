/**
 * A pool of real threads for CPU-heavy handlers: Web `Worker` on Deno and Bun,
 * `worker_threads` on Node.
 *
 * - Tasks submitted in the same tick go to each thread in one message, and each thread sends
 *   its results back in batches, so a task costs the main thread a few microseconds.
 * - The queue is O(1) (ring buffers). `maxQueue` bounds the tasks that wait for a thread, not
 *   the tasks that run; {@linkcode ThreadPool.queueSize} and
 *   {@linkcode ThreadPool.whenQueueBelow} let a producer pause and resume.
 * - Tasks with the same `key` run in submission order and never at the same time: a key always
 *   goes to the same thread (a hash of the key picks it), and inside it the key's tasks wait
 *   for each other. Few busy keys may therefore load the threads unevenly.
 * - A thread that crashes or exits is replaced; its running tasks fail with
 *   {@linkcode ThreadCrashedError}.
 * - Buffers listed in `transfer` are moved to the thread, not copied. A view only moves when it
 *   spans its whole `ArrayBuffer`; see {@linkcode ownBytes}.
 *
 * @example
 * ```ts
 * // handler.ts: export default (n: number) => n + 1;
 * await using pool = new ThreadPool<number, number>({
 *   module: new URL("./handler.ts", import.meta.url),
 *   size: 2,
 * });
 * console.log(await pool.run(41)); // 42
 * ```
 *
 * @module
 */

import { availableParallelism } from "../runtime/detect.ts";
import { startThread, type ThreadHandle } from "./thread_adapter.ts";
import { Ring } from "../_internal/ring.ts";
import { moduleUrl } from "./thread_handoff.ts";
import {
  PoolClosedError,
  QueueFullError,
  TaskError,
  ThreadCrashedError,
  ThreadStartError,
} from "./thread_pool_errors.ts";
import type { RunOptions, SerializedError, TaskKey, ThreadPoolOptions, ThreadPoolStats } from "./thread_pool_types.ts";

export * from "./thread_pool_types.ts";
export * from "./thread_pool_errors.ts";
export { moduleUrl, ownBytes } from "./thread_handoff.ts";

interface Job {
  id: number;
  task: unknown;
  key: TaskKey | undefined;
  transfer: ArrayBuffer[] | undefined;
  resolve: (value: never) => void;
  reject: (error: unknown) => void;
  /** 0 queued, 1 in flight, 2 settled. */
  state: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const QUEUED = 0;
const IN_FLIGHT = 1;
const SETTLED = 2;

const STARTING = 0;
const READY = 1;
const DEAD = 2;

interface Slot {
  index: number;
  threadId: number;
  state: number;
  handle: ThreadHandle | undefined;
  /** Keyed tasks routed to this slot, waiting for its thread. */
  queue: Ring<Job>;
  inFlight: Map<number, Job>;
  /** Whether the current thread was ever given a task. */
  used: boolean;
  /** Settles once the current thread exists (and is terminated, if it was no longer wanted). */
  starting: Promise<void> | undefined;
  /** The uncaught error the thread reported, which the runtime's own report may follow. */
  lastError: Error | undefined;
}

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/** Restarts in a row of threads that died before any task reached them, before giving up. */
const MAX_IDLE_CRASHES = 3;

function resolveModule(module: URL | string): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string") {
    throw new TypeError(`Thread pool module must be a URL or an absolute path, got ${String(module)}`);
  }
  if (/^[a-zA-Z]:[\\/]/.test(module)) return new URL("file:///" + module.replace(/\\/g, "/")).href;
  if (module.startsWith("/")) return new URL(module, "file:///").href;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(module)) return new URL(module).href;
  throw new TypeError(
    `Thread pool module must be a URL or an absolute path, got ${JSON.stringify(module)} ` +
      `(use new URL(${JSON.stringify(module)}, import.meta.url) or moduleUrl())`,
  );
}

function checkCount(
  label: string,
  value: number | undefined,
  fallback: number,
  min: number,
  allowInfinity: boolean,
): number {
  if (value === undefined) return fallback;
  const ok = typeof value === "number" &&
    (Number.isInteger(value) ? value >= min : allowInfinity && value === Infinity);
  if (!ok) {
    throw new RangeError(
      `${label} must be a whole number, ${min} or more${allowInfinity ? ", or Infinity" : ""}, got ${String(value)}`,
    );
  }
  return value;
}

function hashKey(key: TaskKey): number {
  if (typeof key === "number") {
    if (Number.isSafeInteger(key)) return Math.abs(key);
    key = String(key);
  } else if (typeof key !== "string") {
    throw new TypeError(`Task key must be a string or a number, got ${typeof key}`);
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function toTransferList(list: readonly (ArrayBuffer | ArrayBufferView)[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const item of list) {
    if (ArrayBuffer.isView(item)) {
      const buffer = item.buffer;
      if (!(buffer instanceof ArrayBuffer)) {
        throw new TypeError("A view of a SharedArrayBuffer cannot be transferred; it is shared already");
      }
      if (item.byteOffset !== 0 || item.byteLength !== buffer.byteLength) {
        throw new TypeError(
          `A view of ${item.byteLength} bytes at offset ${item.byteOffset} of a ` +
            `${buffer.byteLength}-byte buffer cannot be transferred alone; pass ownBytes(view) ` +
            `as the task, or list view.buffer to move the whole buffer`,
        );
      }
      out.push(buffer);
    } else {
      out.push(item);
    }
  }
  return out;
}

function threadWorkerUrl(): URL {
  return moduleUrl("./thread_worker.ts", import.meta.url);
}

/**
 * A pool of threads that run one module's handler.
 *
 * @example
 * ```ts
 * // square.ts: export default (n: number) => n * n;
 * await using pool = new ThreadPool<number, number>({
 *   module: moduleUrl("./square.ts", import.meta.url),
 *   size: 2,
 *   maxQueue: 1000,
 * });
 * const squares = await Promise.all([1, 2, 3].map((n) => pool.run(n)));
 * // Frames of one connection, in order:
 * await pool.run(7, { key: "conn-1" });
 * ```
 */
export class ThreadPool<T = unknown, R = unknown> implements AsyncDisposable {
  /** The handler module's URL. */
  readonly module: string;
  /** The number of threads. */
  readonly size: number;
  /** The queue limit. */
  readonly maxQueue: number;
  /** The most tasks in flight per thread. */
  readonly maxInFlightPerThread: number;

  #name: string;
  #slots: Slot[] = [];
  #shared = new Ring<Job>();
  /** Queued tasks that are still wanted (aborted ones may still sit in a ring). */
  #queued = 0;
  #inFlight = 0;
  #nextId = 1;
  #nextThreadId = 1;
  #completed = 0;
  #failed = 0;
  #restarts = 0;
  #idleCrashes = 0;
  #state = OPEN;
  #startError: ThreadStartError | undefined;
  #flushScheduled = false;
  #idleWaiters: (() => void)[] = [];
  #readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #queueWaiters: { limit: number; resolve: () => void }[] = [];
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  #terminating: Promise<void> | undefined;
  #workerUrl: URL;

  /** Starts `size` threads running `module`. */
  constructor(options: ThreadPoolOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(`Thread pool options must be an object, got ${String(options)}`);
    }
    this.module = resolveModule(options.module);
    this.size = checkCount("Thread pool size", options.size, availableParallelism(), 1, false);
    this.maxQueue = checkCount("Queue limit (maxQueue)", options.maxQueue, Infinity, 0, true);
    this.maxInFlightPerThread = checkCount(
      "Tasks in flight per thread (maxInFlightPerThread)",
      options.maxInFlightPerThread,
      64,
      1,
      false,
    );
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`Thread pool signal must be an AbortSignal, got ${typeof signal}`);
    }
    this.#name = options.name ?? "sockmodels thread";
    this.#workerUrl = threadWorkerUrl();
    for (let i = 0; i < this.size; i++) {
      this.#slots.push({
        index: i,
        threadId: 0,
        state: DEAD,
        handle: undefined,
        queue: new Ring<Job>(),
        inFlight: new Map(),
        used: false,
        starting: undefined,
        lastError: undefined,
      });
    }
    if (signal?.aborted) {
      this.#state = CLOSED;
      this.#terminating = Promise.resolve();
      return;
    }
    for (const slot of this.#slots) this.#spawn(slot);
    if (signal !== undefined) {
      this.#signal = signal;
      this.#onAbort = () => void this.terminate();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** Tasks waiting for a thread. */
  get queueSize(): number {
    return this.#queued;
  }

  /** A snapshot of the counters. */
  get stats(): ThreadPoolStats {
    let threads = 0;
    for (const slot of this.#slots) if (slot.state === READY) threads++;
    return {
      threads,
      queueSize: this.#queued,
      inFlight: this.#inFlight,
      completed: this.#completed,
      failed: this.#failed,
      restarts: this.#restarts,
    };
  }

  /**
   * Runs `task` on a thread and resolves with the handler's result. Calls made in the same tick
   * are sent together. It rejects with {@linkcode TaskError} when the handler throws,
   * {@linkcode ThreadCrashedError} when its thread dies, {@linkcode QueueFullError} when
   * `maxQueue` tasks already wait, and {@linkcode PoolClosedError} once the pool closes.
   *
   * @example
   * ```ts
   * import type { ThreadPool } from "sockmodels/engine";
   * declare const pool: ThreadPool<{ op: string; data: Uint8Array }, Uint8Array>;
   * declare const bytes: Uint8Array<ArrayBuffer>;
   * declare const connId: number;
   * const result = await pool.run(
   *   { op: "hash", data: bytes },
   *   { key: connId, transfer: [bytes.buffer] },
   * );
   * ```
   */
  run(task: T, options?: RunOptions): Promise<R> {
    if (this.#state !== OPEN) {
      return Promise.reject(
        this.#startError ?? new PoolClosedError("The thread pool is closed; the task was not run"),
      );
    }
    if (this.#queued >= this.maxQueue) {
      return Promise.reject(new QueueFullError(this.#queued, this.maxQueue));
    }
    let key: TaskKey | undefined;
    let slot = -1;
    let transfer: ArrayBuffer[] | undefined;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      key = options.key;
      signal = options.signal;
      try {
        if (key !== undefined) slot = hashKey(key) % this.size;
        if (options.transfer !== undefined && options.transfer.length > 0) {
          transfer = toTransferList(options.transfer);
        }
        if (signal !== undefined && !(signal instanceof AbortSignal)) {
          throw new TypeError(`Task signal must be an AbortSignal, got ${typeof signal}`);
        }
      } catch (error) {
        return Promise.reject(error);
      }
      if (signal?.aborted) return Promise.reject(signal.reason);
    }
    const job: Job = {
      id: this.#nextId++,
      task,
      key,
      transfer,
      resolve: undefined!,
      reject: undefined!,
      state: QUEUED,
      signal,
      onAbort: undefined,
    };
    const promise = new Promise<R>((resolve, reject) => {
      job.resolve = resolve as (value: never) => void;
      job.reject = reject;
    });
    if (signal !== undefined) {
      job.onAbort = () => this.#abortJob(job);
      signal.addEventListener("abort", job.onAbort, { once: true });
    }
    if (key === undefined) this.#shared.push(job);
    else this.#slots[slot].queue.push(job);
    this.#queued++;
    this.#scheduleFlush();
    return promise;
  }

  /**
   * Resolves when all threads are ready for tasks; rejects with {@linkcode ThreadStartError}
   * if they cannot start. Tasks may be submitted before.
   *
   * @example
   * ```ts
   * import type { ThreadPool } from "sockmodels/engine";
   * declare const pool: ThreadPool;
   * await pool.ready(); // start timing after the threads loaded the module
   * ```
   */
  ready(): Promise<void> {
    if (this.#startError) return Promise.reject(this.#startError);
    if (this.#slots.every((s) => s.state === READY)) return Promise.resolve();
    if (this.#state === CLOSED) return Promise.reject(new PoolClosedError("The thread pool is closed"));
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /**
   * Resolves once fewer than `limit` tasks wait for a thread (at once if that is already so):
   * the signal to resume a producer that paused when {@linkcode ThreadPool.queueSize} grew.
   *
   * @example
   * ```ts
   * import type { ThreadPool } from "sockmodels/engine";
   * import type { Stream } from "sockmodels/runtime";
   * declare const pool: ThreadPool;
   * declare const socket: Stream;
   * if (pool.queueSize >= 1000) {
   *   socket.pause();
   *   await pool.whenQueueBelow(500);
   *   socket.resume();
   * }
   * ```
   */
  whenQueueBelow(limit: number, signal?: AbortSignal): Promise<void> {
    if (typeof limit !== "number" || !(limit > 0)) {
      return Promise.reject(
        new RangeError(`Queue limit to wait for must be a number above 0, got ${String(limit)}`),
      );
    }
    if (this.#queued < limit) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter = {
        limit,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.#queueWaiters.indexOf(waiter);
        if (i >= 0) this.#queueWaiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queueWaiters.push(waiter);
    });
  }

  /**
   * Closes gracefully: new tasks are refused, queued and running tasks finish, then the
   * threads stop. Aborting `signal` turns it into {@linkcode ThreadPool.terminate}.
   *
   * @example
   * ```ts
   * import type { ThreadPool } from "sockmodels/engine";
   * declare const pool: ThreadPool;
   * await pool.close({ signal: AbortSignal.timeout(5000) });
   * ```
   */
  async close(options?: { signal?: AbortSignal }): Promise<void> {
    if (this.#state === OPEN) this.#state = CLOSING;
    const signal = options?.signal;
    if (this.#state === CLOSING && (this.#queued > 0 || this.#inFlight > 0)) {
      if (signal?.aborted) return this.terminate();
      const onAbort = () => void this.terminate();
      signal?.addEventListener("abort", onAbort, { once: true });
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
      signal?.removeEventListener("abort", onAbort);
    }
    await this.terminate();
  }

  /**
   * Stops at once: queued tasks and running tasks fail with {@linkcode PoolClosedError} and
   * the threads are terminated.
   *
   * @example
   * ```ts
   * import type { ThreadPool } from "sockmodels/engine";
   * declare const pool: ThreadPool;
   * await pool.terminate();
   * ```
   */
  terminate(): Promise<void> {
    if (this.#terminating) return this.#terminating;
    this.#state = CLOSED;
    if (this.#signal !== undefined && this.#onAbort !== undefined) {
      this.#signal.removeEventListener("abort", this.#onAbort);
    }
    const stops: Promise<void>[] = [];
    for (const slot of this.#slots) {
      slot.state = DEAD;
      // A thread still starting is terminated as soon as it exists.
      if (slot.starting) stops.push(slot.starting.catch(() => {}));
      if (slot.handle) stops.push(slot.handle.terminate().catch(() => {}));
      slot.handle = undefined;
      for (const job of slot.inFlight.values()) {
        this.#fail(
          job,
          new PoolClosedError(`The thread pool was terminated while the task ran on thread ${slot.threadId}`),
        );
      }
      slot.inFlight.clear();
    }
    this.#inFlight = 0;
    this.#dropQueued(() => new PoolClosedError("The thread pool was terminated before the task started"));
    for (const w of this.#readyWaiters.splice(0)) w.reject(new PoolClosedError("The thread pool is closed"));
    this.#settleWaiters();
    this.#terminating = Promise.all(stops).then(() => {});
    return this.#terminating;
  }

  /** Closes gracefully; the same as {@linkcode ThreadPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #abortJob(job: Job): void {
    if (job.state === SETTLED) return;
    if (job.state === QUEUED) this.#queued--;
    // A running task finishes in its thread; its answer is dropped.
    this.#fail(job, job.signal!.reason);
    this.#settleWaiters();
  }

  #fail(job: Job, error: unknown): void {
    if (job.state === SETTLED) return;
    job.state = SETTLED;
    if (job.onAbort !== undefined) job.signal!.removeEventListener("abort", job.onAbort);
    this.#failed++;
    job.reject(error);
  }

  #dropQueued(error: () => Error): void {
    const rings = [this.#shared, ...this.#slots.map((s) => s.queue)];
    for (const ring of rings) {
      for (let job = ring.shift(); job !== undefined; job = ring.shift()) {
        if (job.state === QUEUED) this.#fail(job, error());
      }
    }
    this.#queued = 0;
  }

  #spawn(slot: Slot): void {
    slot.threadId = this.#nextThreadId++;
    slot.state = STARTING;
    slot.used = false;
    const threadId = slot.threadId;
    const live = () => slot.threadId === threadId && slot.state !== DEAD;
    slot.starting = startThread(this.#workerUrl, {
      onMessage: (data) => {
        if (live()) this.#onMessage(slot, data);
      },
      onError: (error) => {
        if (live()) this.#crash(slot, error, undefined);
      },
      onExit: (code) => {
        if (live()) this.#crash(slot, undefined, code);
      },
    }, `${this.#name} ${threadId}`).then(
      async (handle) => {
        if (!live()) return await handle.terminate();
        slot.handle = handle;
        handle.post({ init: this.module, threadId });
      },
      (error) => {
        if (live()) this.#startFailed(new ThreadStartError(this.module, errorText(error), error));
      },
    );
  }

  #onMessage(slot: Slot, data: unknown): void {
    if (Array.isArray(data)) {
      this.#onResults(slot, data);
      return;
    }
    const message = data as {
      ready?: true;
      initError?: SerializedError;
      exit?: number;
      crash?: SerializedError;
    };
    if (message.ready) {
      slot.state = READY;
      if (this.#state === CLOSED) return;
      if (this.#slots.every((s) => s.state === READY)) {
        for (const w of this.#readyWaiters.splice(0)) w.resolve();
      }
      this.#scheduleFlush();
    } else if (message.initError) {
      const cause = new TaskError(message.initError, slot.threadId);
      this.#startFailed(new ThreadStartError(this.module, message.initError.message, cause));
    } else if (message.crash !== undefined) {
      // The runtime ends the thread next, unless the module handles the error itself.
      slot.lastError = remoteError(message.crash);
    } else if (message.exit !== undefined) {
      this.#crash(slot, undefined, message.exit);
    }
  }

  #onResults(slot: Slot, data: unknown[]): void {
    const inFlight = slot.inFlight;
    for (let i = 0; i < data.length; i += 3) {
      const id = data[i] as number;
      const job = inFlight.get(id);
      if (job === undefined) continue;
      inFlight.delete(id);
      this.#inFlight--;
      if (job.state === SETTLED) continue;
      job.state = SETTLED;
      if (job.onAbort !== undefined) job.signal!.removeEventListener("abort", job.onAbort);
      if (data[i + 1] === 0) {
        this.#completed++;
        job.resolve(data[i + 2] as never);
      } else {
        this.#failed++;
        job.reject(new TaskError(data[i + 2] as SerializedError, slot.threadId));
      }
    }
    this.#idleCrashes = 0;
    slot.lastError = undefined;
    this.#scheduleFlush();
    if (this.#inFlight === 0 && this.#queued === 0) this.#settleWaiters();
  }

  #crash(slot: Slot, cause: unknown, exitCode: number | undefined): void {
    cause = slot.lastError ?? cause;
    slot.lastError = undefined;
    const wasReady = slot.state === READY;
    slot.state = DEAD;
    void slot.handle?.terminate().catch(() => {});
    slot.handle = undefined;
    if (!wasReady) {
      this.#startFailed(
        new ThreadStartError(
          this.module,
          cause !== undefined
            ? `the thread crashed while starting: ${errorText(cause)}`
            : `the thread exited with code ${exitCode ?? "unknown"} while starting`,
          cause,
        ),
      );
      return;
    }
    if (slot.inFlight.size > 0) {
      const error = new ThreadCrashedError(slot.threadId, cause, exitCode);
      for (const job of slot.inFlight.values()) this.#fail(job, error);
      this.#inFlight -= slot.inFlight.size;
      slot.inFlight.clear();
    }
    if (this.#state === CLOSED) return;
    if (!slot.used && ++this.#idleCrashes >= MAX_IDLE_CRASHES) {
      this.#startFailed(
        new ThreadStartError(
          this.module,
          `${MAX_IDLE_CRASHES} threads in a row died before they were given a task`,
          cause ?? new ThreadCrashedError(slot.threadId, undefined, exitCode),
        ),
      );
      return;
    }
    if (this.#state === CLOSING && this.#queued === 0) {
      if (this.#inFlight === 0) this.#settleWaiters();
      return;
    }
    this.#restarts++;
    this.#spawn(slot);
  }

  #startFailed(error: ThreadStartError): void {
    if (this.#state === CLOSED) return;
    this.#startError = error;
    for (const w of this.#readyWaiters.splice(0)) w.reject(error);
    for (const slot of this.#slots) {
      for (const job of slot.inFlight.values()) this.#fail(job, error);
      slot.inFlight.clear();
    }
    this.#inFlight = 0;
    this.#dropQueued(() => error);
    void this.terminate();
  }

  #settleWaiters(): void {
    if (this.#queueWaiters.length > 0) {
      const waiters = this.#queueWaiters;
      this.#queueWaiters = [];
      for (const w of waiters) {
        if (this.#queued < w.limit) w.resolve();
        else this.#queueWaiters.push(w);
      }
    }
    if (this.#idleWaiters.length > 0 && this.#queued === 0 && this.#inFlight === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => this.#flush());
  }

  /**
   * Sends queued tasks to the ready threads with room, one message per thread. The oldest task
   * goes first. A keyed task goes to its key's thread. Unkeyed tasks go to the thread with the
   * fewest tasks in flight, and keep going there until it has a quarter of `maxInFlightPerThread`
   * more than the least busy one: threads stay balanced, and the tasks that follow a batch of
   * answers go back in one message instead of being split into ever smaller ones.
   */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#state === CLOSED || this.#queued === 0) return;
    const cap = this.maxInFlightPerThread;
    const slots = this.#slots;
    const n = slots.length;
    const loads: number[] = new Array(n);
    const batches: (unknown[] | undefined)[] = new Array(n);
    const transfers: (ArrayBuffer[] | undefined)[] = new Array(n);
    let room = 0;
    for (let i = 0; i < n; i++) {
      const slot = slots[i];
      loads[i] = slot.state === READY ? slot.inFlight.size : cap;
      if (loads[i] < cap) room++;
    }
    const shared = this.#shared;
    const before = this.#queued;
    const slack = Math.max(1, cap >> 2);
    let stick = -1;
    while (room > 0 && this.#queued > 0) {
      let head = shared.peek();
      while (head !== undefined && head.state !== QUEUED) {
        shared.shift();
        head = shared.peek();
      }
      let ownTarget = -1;
      let ownId = head === undefined ? Infinity : head.id;
      let least = -1;
      for (let i = 0; i < n; i++) {
        if (loads[i] >= cap) continue;
        const own = slots[i].queue;
        let mine = own.peek();
        while (mine !== undefined && mine.state !== QUEUED) {
          own.shift();
          mine = own.peek();
        }
        if (mine !== undefined && mine.id < ownId) {
          ownTarget = i;
          ownId = mine.id;
        }
        if (least < 0 || loads[i] < loads[least]) least = i;
      }
      let target: number;
      const fromOwn = ownTarget >= 0;
      if (fromOwn) target = ownTarget;
      else if (head !== undefined) {
        // Keep filling one thread while it is not far above the least busy one.
        target = stick >= 0 && loads[stick] < cap && loads[stick] <= loads[least] + slack ? stick : least;
        stick = target;
      } else break;
      const slot = slots[target];
      const job = fromOwn ? slot.queue.shift()! : shared.shift()!;
      if (++loads[target] === cap) room--;
      this.#queued--;
      this.#inFlight++;
      job.state = IN_FLIGHT;
      slot.inFlight.set(job.id, job);
      const batch = batches[target] ??= [];
      batch.push(job.id, job.key, job.task);
      job.task = undefined;
      if (job.transfer !== undefined) (transfers[target] ??= []).push(...job.transfer);
    }
    for (let i = 0; i < n; i++) {
      const batch = batches[i];
      if (batch === undefined) continue;
      slots[i].used = true;
      const transfer = transfers[i];
      this.#post(slots[i], batch, transfer && transfer.length > 1 ? [...new Set(transfer)] : transfer);
    }
    if (this.#queued < before) this.#settleWaiters();
  }

  #post(slot: Slot, batch: unknown[], transfer: ArrayBuffer[] | undefined): void {
    try {
      slot.handle!.post(batch, transfer);
      return;
    } catch {
      // A task cannot be cloned or a buffer cannot be moved; find which one below.
    }
    for (let i = 0; i < batch.length; i += 3) {
      const job = slot.inFlight.get(batch[i] as number)!;
      try {
        slot.handle!.post([batch[i], batch[i + 1], batch[i + 2]], job.transfer);
      } catch (error) {
        slot.inFlight.delete(job.id);
        this.#inFlight--;
        this.#fail(
          job,
          new TypeError(`Task ${job.id} could not be sent to thread ${slot.threadId}: ${errorText(error)}`, {
            cause: error,
          }),
        );
      }
    }
  }
}

/** Rebuilds an error that killed a thread, for {@linkcode ThreadCrashedError}'s `cause`. */
function remoteError(error: SerializedError): Error {
  const out = new Error(error.message);
  out.name = error.name;
  if (error.stack !== undefined) out.stack = error.stack;
  if (error.code !== undefined) (out as Error & { code?: unknown }).code = error.code;
  return out;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
