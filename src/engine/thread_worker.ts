/**
 * The code that runs inside each thread of a `ThreadPool`. It loads the handler
 * module, runs the tasks of each batch the pool posts, and posts the results back in batches.
 *
 * The messages, kept in step with `thread_pool.ts`:
 * - pool to thread: `{ init: moduleUrl, threadId }` once, then batches
 *   `[id, key, task, id, key, task, ...]`;
 * - thread to pool: `{ ready: true }` or `{ initError }` once, `{ exit: code }` when the thread
 *   ends itself, `{ crash: error }` when an error nobody caught is about to end it (the pool
 *   keeps it as the cause for when the runtime reports the end), and result batches
 *   `[id, status, value, ...]` where status 0 is a value and 1 is an error (a
 *   `SerializedError`).
 *
 * Tasks of one key run in the order they arrived and never overlap: when a keyed handler
 * returns a promise, the key's next tasks wait for it.
 *
 * @module
 */

import { Ring } from "../_internal/ring.ts";
import { connectToParent, onThreadError, onThreadExit } from "./thread_adapter.ts";
import type { SerializedError, ThreadHandler, ThreadTaskContext } from "./thread_pool.ts";

/** Turns any thrown value into a {@linkcode SerializedError}, which always crosses threads. */
function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const out: SerializedError = { name: String(error.name), message: String(error.message) };
    if (typeof error.stack === "string") out.stack = error.stack;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" || typeof code === "number") out.code = code;
    return out;
  }
  let message: string;
  try {
    message = typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
  } catch {
    message = String(error);
  }
  return { name: "Error", message };
}

type Key = string | number;

/** A batch that runs longer than this sends the results it has so far. */
const SLICE_MS = 2;

class Context implements ThreadTaskContext {
  readonly threadId: number;
  readonly key: Key | undefined;
  transferList: ArrayBuffer[] | undefined;

  constructor(threadId: number, key: Key | undefined) {
    this.threadId = threadId;
    this.key = key;
    this.transferList = undefined;
  }

  transfer(...buffers: ArrayBuffer[]): void {
    (this.transferList ??= []).push(...buffers);
  }
}

const parent = await connectToParent();
let handler: ThreadHandler | undefined;
let threadId = 0;

let out: unknown[] = [];
/** Pairs of (index of a result in `out`, its transfer list). */
let outTransfers: [number, ArrayBuffer[]][] | undefined;
let flushScheduled = false;

/** Keys whose last task has not settled yet, with the tasks waiting behind it: id, task, id, task, … */
const busyKeys = new Map<Key, Ring<unknown>>();

function pushValue(id: number, value: unknown, ctx: Context): void {
  if (ctx.transferList !== undefined) (outTransfers ??= []).push([out.length, ctx.transferList]);
  out.push(id, 0, value);
}

function pushError(id: number, error: unknown): void {
  out.push(id, 1, serializeError(error));
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  queueMicrotask(flush);
}

function flush(): void {
  flushScheduled = false;
  if (out.length === 0) return;
  const batch = out;
  const transfers = outTransfers;
  out = [];
  outTransfers = undefined;
  if (transfers === undefined) {
    try {
      parent.post(batch);
      return;
    } catch {
      // One result cannot be cloned; send them one by one below.
    }
  } else {
    try {
      const list = transfers.length === 1 ? transfers[0][1] : [...new Set(transfers.flatMap((t) => t[1]))];
      parent.post(batch, list);
      return;
    } catch {
      // As above, or a buffer cannot be transferred.
    }
  }
  sendOneByOne(batch, transfers);
}

function sendOneByOne(batch: unknown[], transfers: [number, ArrayBuffer[]][] | undefined): void {
  const byIndex = new Map(transfers);
  for (let i = 0; i < batch.length; i += 3) {
    const id = batch[i] as number;
    try {
      parent.post([id, batch[i + 1], batch[i + 2]], byIndex.get(i));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      parent.post([
        id,
        1,
        serializeError(
          new TypeError(`The result of task ${id} could not be sent back from thread ${threadId}: ${reason}`),
        ),
      ]);
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/** Runs one task; returns true when it finished synchronously. */
function runTask(id: number, key: Key | undefined, task: unknown): boolean {
  const ctx = new Context(threadId, key);
  let result: unknown;
  try {
    result = handler!(task, ctx);
  } catch (error) {
    pushError(id, error);
    return true;
  }
  if (!isPromiseLike(result)) {
    pushValue(id, result, ctx);
    return true;
  }
  if (key !== undefined) busyKeys.set(key, new Ring());
  result.then(
    (value) => {
      pushValue(id, value, ctx);
      settled(key);
    },
    (error) => {
      pushError(id, error);
      settled(key);
    },
  );
  return false;
}

function settled(key: Key | undefined): void {
  scheduleFlush();
  if (key === undefined) return;
  const queue = busyKeys.get(key)!;
  busyKeys.delete(key);
  while (queue.length > 0) {
    const id = queue.shift() as number;
    if (!runTask(id, key, queue.shift())) {
      // The key is busy again: the rest of its queue waits behind this task.
      const next = busyKeys.get(key)!;
      while (queue.length > 0) next.push(queue.shift());
      return;
    }
  }
}

function runBatch(batch: unknown[]): void {
  let sliceStart = performance.now();
  for (let i = 0; i < batch.length; i += 3) {
    const id = batch[i] as number;
    const key = batch[i + 1] as Key | undefined;
    if (key !== undefined) {
      const waiting = busyKeys.get(key);
      if (waiting !== undefined) {
        waiting.push(id);
        waiting.push(batch[i + 2]);
        continue;
      }
    }
    runTask(id, key, batch[i + 2]);
    // Results of a long batch must not wait for its last task.
    if (out.length >= 3) {
      const now = performance.now();
      if (now - sliceStart >= SLICE_MS) {
        flush();
        sliceStart = now;
      }
    }
  }
  flush();
}

async function init(message: { init: string; threadId: number }): Promise<void> {
  threadId = message.threadId;
  try {
    // The handler module is the user's, named at run time, so `deno publish` warns that it cannot
    // analyze this import (a warning it has no way to silence: denoland/deno#22594).
    const mod = await import(message.init) as { default?: unknown; handler?: unknown };
    const candidate = typeof mod.default === "function" ? mod.default : mod.handler;
    if (typeof candidate !== "function") {
      throw new TypeError(
        `Module ${message.init} exports no task handler: expected a default export or an ` +
          `export named handler that is a function`,
      );
    }
    handler = candidate as ThreadHandler;
  } catch (error) {
    parent.post({ initError: serializeError(error) });
    return;
  }
  parent.post({ ready: true });
}

onThreadExit((code) => {
  flush();
  parent.post({ exit: code ?? 0 });
});

onThreadError((error) => {
  flush();
  parent.post({ crash: serializeError(error) });
});

parent.onMessage((data) => {
  if (Array.isArray(data)) runBatch(data);
  else if (data !== null && typeof data === "object" && "init" in data) {
    void init(data as { init: string; threadId: number });
  }
});
