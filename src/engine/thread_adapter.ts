/**
 * The per-runtime part of the thread pool: starting a thread, and the thread's own end of the
 * channel. It is the only engine module that touches runtime globals or
 * `node:worker_threads`: Deno and Bun get a Web `Worker` (`type: "module"`), Node gets a
 * `worker_threads` `Worker`.
 *
 * How each runtime reports a thread that ends:
 * - Node: an `error` event for an uncaught error, then `exit` with the exit code (also after
 *   `process.exit` inside the thread, which ends only that thread).
 * - Bun: an `error` event for an uncaught error and a `close` event with the exit code.
 * - Deno: an `error` event for an uncaught error, and nothing at all when the thread calls
 *   `self.close()`, `Deno.exit()` or `process.exit()`. {@linkcode onThreadExit} therefore wraps
 *   those functions inside the thread so that the thread reports its own end first.
 *
 * @module
 */

import type { Worker as NodeWorker } from "node:worker_threads";

/** The runtimes the thread pool tells apart. */
type ThreadRuntime = "deno" | "bun" | "node";

function threadRuntime(): ThreadRuntime {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (typeof g.Deno === "object" && g.Deno !== null) return "deno";
  if (typeof g.Bun === "object" && g.Bun !== null) return "bun";
  return "node";
}

const RUNTIME: ThreadRuntime = threadRuntime();

/**
 * The callbacks of one thread, as seen from the thread that started it.
 *
 * @example
 * ```ts
 * const events: ThreadEvents = {
 *   onMessage: (data) => console.log(data),
 *   onError: (error) => console.error(error),
 *   onExit: (code) => console.log("thread ended", code),
 * };
 * ```
 */
export interface ThreadEvents {
  /** A message from the thread. */
  onMessage(data: unknown): void;
  /** The thread raised an error nobody caught, or sent a message that could not be read. */
  onError(error: unknown): void;
  /** The thread ended; `code` is its exit code where the runtime tells it. */
  onExit(code: number | undefined): void;
}

/**
 * A started thread.
 *
 * @example
 * ```ts
 * const thread = await startThread(new URL("./thread_worker.ts", import.meta.url), {
 *   onMessage: (data) => console.log(data),
 *   onError: (error) => console.error(error),
 *   onExit: () => {},
 * });
 * thread.post({ hello: "thread" });
 * await thread.terminate();
 * ```
 */
export interface ThreadHandle {
  /** Posts a message, moving the buffers in `transfer` to the thread. */
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  /** Stops the thread. No event fires after this is called. */
  terminate(): Promise<void>;
}

/**
 * Node silently drops a message whose transfer list holds a detached ArrayBuffer (one already
 * moved), where Deno and Bun throw. Detached and empty buffers look alike on Node 20, and an
 * empty one costs nothing to copy, so they leave the list: a message that still holds a
 * detached buffer then fails to clone with an error instead of vanishing.
 */
function nodeTransfer(list: ArrayBuffer[] | undefined): ArrayBuffer[] | undefined {
  if (list === undefined) return undefined;
  for (const item of list) {
    if (item instanceof ArrayBuffer && item.byteLength === 0) {
      return list.filter((t) => !(t instanceof ArrayBuffer && t.byteLength === 0));
    }
  }
  return list;
}

type NodeThreads = typeof import("node:worker_threads");
let nodeThreads: Promise<NodeThreads> | undefined;

function loadNodeThreads(): Promise<NodeThreads> {
  nodeThreads ??= import("node:worker_threads");
  return nodeThreads;
}

/**
 * Under `deno test` (and `--check`) Deno type-checks a worker's entry module, and the modules
 * it imports, every time a worker starts: seconds per thread and per restart, and not cached
 * when the project has a `node_modules` directory. The thread code is checked with the rest of
 * the package, so the thread starts from a one-line JavaScript module that imports it through a
 * specifier the checker does not follow.
 */
function denoEntry(url: URL): string {
  return "data:text/javascript," +
    encodeURIComponent(`const url = ${JSON.stringify(url.href)}; await import(url);`);
}

/**
 * Starts a thread running the ES module at `url`.
 *
 * @example
 * ```ts
 * const thread = await startThread(new URL("./thread_worker.ts", import.meta.url), {
 *   onMessage: (data) => console.log(data),
 *   onError: (error) => console.error(error),
 *   onExit: (code) => console.log("ended with", code),
 * }, "pool thread 1");
 * await thread.terminate();
 * ```
 */
export async function startThread(
  url: URL,
  events: ThreadEvents,
  name?: string,
): Promise<ThreadHandle> {
  if (RUNTIME === "node") {
    const { Worker } = await loadNodeThreads();
    const worker: NodeWorker = new Worker(url, { name });
    let live = true;
    worker.on("message", (data: unknown) => {
      if (live) events.onMessage(data);
    });
    worker.on("error", (error: unknown) => {
      if (live) events.onError(error);
    });
    worker.on("messageerror", (error: unknown) => {
      if (live) events.onError(error);
    });
    worker.on("exit", (code: number) => {
      if (!live) return;
      live = false;
      events.onExit(code);
    });
    return {
      post: (message, transfer) => worker.postMessage(message, nodeTransfer(transfer) as never),
      terminate: async () => {
        live = false;
        await worker.terminate();
      },
    };
  }
  const worker = new Worker(RUNTIME === "deno" ? denoEntry(url) : url, { type: "module", name });
  let live = true;
  worker.onmessage = (event: { data: unknown }) => {
    if (live) events.onMessage(event.data);
  };
  worker.onerror = (event: ErrorEvent) => {
    // Left alone, the runtime rethrows the thread's error in this thread.
    event.preventDefault();
    if (live) events.onError(event.error ?? new Error(event.message));
  };
  worker.onmessageerror = (event: { data: unknown }) => {
    if (live) {
      events.onError(new TypeError(`A message from the thread could not be read: ${String(event.data)}`));
    }
  };
  if (RUNTIME === "bun") {
    worker.addEventListener("close", (event: Event) => {
      if (!live) return;
      live = false;
      events.onExit((event as Event & { code?: number }).code);
    });
  }
  return {
    post: (message, transfer) => worker.postMessage(message, transfer ?? []),
    terminate: () => {
      live = false;
      worker.terminate();
      return Promise.resolve();
    },
  };
}

/**
 * The thread's end of the channel to the thread that started it.
 *
 * @example
 * ```ts
 * const parent = await connectToParent();
 * parent.onMessage((data) => parent.post(data));
 * ```
 */
export interface ParentPort {
  /** Posts a message to the starting thread, moving the buffers in `transfer`. */
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  /** Sets the one message callback. */
  onMessage(callback: (data: unknown) => void): void;
}

interface WorkerScope {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/**
 * Connects to the thread that started this one. It throws when called outside a thread.
 *
 * @example
 * ```ts
 * const parent = await connectToParent();
 * parent.post({ ready: true });
 * ```
 */
export async function connectToParent(): Promise<ParentPort> {
  if (RUNTIME === "node") {
    const { parentPort } = await loadNodeThreads();
    if (parentPort === null) throw new Error("connectToParent() was called outside a thread");
    const port = parentPort;
    return {
      post: (message, transfer) => port.postMessage(message, nodeTransfer(transfer) as never),
      onMessage: (callback) => {
        port.removeAllListeners("message");
        port.on("message", callback);
      },
    };
  }
  const scope = globalThis as unknown as WorkerScope;
  if (typeof scope.postMessage !== "function" || !("onmessage" in scope)) {
    throw new Error("connectToParent() was called outside a thread");
  }
  return {
    post: (message, transfer) => scope.postMessage(message, transfer ?? []),
    onMessage: (callback) => {
      scope.onmessage = (event: { data: unknown }) => callback(event.data);
    },
  };
}

/**
 * Inside a thread: calls `before(code)` when the thread is about to end on purpose, through
 * `process.exit`, `Deno.exit` or `self.close`, before it ends. The functions still end the
 * thread afterwards.
 *
 * @example
 * ```ts
 * onThreadExit((code) => console.log("this thread ends with", code));
 * ```
 */
export function onThreadExit(before: (code: number | undefined) => void): void {
  let reported = false;
  const report = (code: unknown): void => {
    if (reported) return;
    reported = true;
    before(typeof code === "number" ? code : undefined);
  };
  const g = globalThis as {
    process?: { exit?: (code?: number) => never; exitCode?: unknown };
    Deno?: { exit?: (code?: number) => never };
    close?: () => void;
  };
  const process = g.process;
  if (process && typeof process.exit === "function") {
    const exit = process.exit;
    process.exit = function (code?: number): never {
      report(code ?? process.exitCode ?? 0);
      return exit.call(process, code);
    };
  }
  const deno = g.Deno;
  if (deno && typeof deno.exit === "function") {
    const exit = deno.exit;
    deno.exit = function (code?: number): never {
      report(code ?? 0);
      return exit.call(deno, code);
    };
  }
  if (RUNTIME !== "node") {
    const close = g.close;
    g.close = function (): void {
      report(0);
      // Bun's thread scope has no `close`; end the thread the way it does support.
      if (typeof close === "function") close.call(globalThis);
      else process?.exit?.(0);
    };
  }
}

/**
 * Inside a thread: calls `report(error)` when an error or a rejection nobody handled reaches
 * the top, before the runtime ends the thread for it. The thread may live on if the module
 * itself handles such errors (`process.on("uncaughtException")`, `preventDefault()`).
 *
 * @example
 * ```ts
 * onThreadError((error) => console.error("this thread is about to die:", error));
 * ```
 */
export function onThreadError(report: (error: unknown) => void): void {
  if (RUNTIME === "node") {
    // The monitor sees the error before Node ends the thread, without changing what happens.
    const process = (globalThis as {
      process?: { on(event: "uncaughtExceptionMonitor", listener: (error: unknown) => void): void };
    }).process;
    process?.on("uncaughtExceptionMonitor", report);
    return;
  }
  const scope = globalThis as unknown as {
    addEventListener(type: string, listener: (event: Event) => void): void;
  };
  scope.addEventListener("error", (event) => {
    const e = event as ErrorEvent;
    report(e.error ?? new Error(e.message));
  });
  scope.addEventListener("unhandledrejection", (event) => {
    report((event as PromiseRejectionEvent).reason);
  });
}
