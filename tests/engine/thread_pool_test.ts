import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  moduleUrl,
  ownBytes,
  PoolClosedError,
  QueueFullError,
  TaskError,
  ThreadCrashedError,
  ThreadPool,
  type ThreadPoolOptions,
  ThreadStartError,
} from "../../src/engine/thread_pool.ts";
import type { FixtureTask } from "./fixtures/tasks.ts";

const TASKS = moduleUrl("./fixtures/tasks.ts", import.meta.url);
const RUNTIME = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** Runs `body` with a fresh pool and always terminates the pool afterwards. */
async function withPool(
  options: Partial<ThreadPoolOptions>,
  body: (pool: ThreadPool<FixtureTask, unknown>) => Promise<void>,
): Promise<void> {
  const pool = new ThreadPool<FixtureTask, unknown>({ module: TASKS, size: 2, ...options });
  try {
    await pool.ready();
    await body(pool);
  } finally {
    await pool.terminate();
  }
}

function isTaskError(message: string, errorName: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof TaskError, `expected a TaskError, got ${String(e)}`);
    assert.equal(e.code, "TASK_FAILED");
    assert.equal(e.message, message);
    assert.equal(e.errorName, errorName);
    return true;
  };
}

function isCrash(e: unknown): boolean {
  assert.ok(e instanceof ThreadCrashedError, `expected a ThreadCrashedError, got ${String(e)}`);
  assert.equal(e.code, "THREAD_CRASHED");
  assert.equal(typeof e.threadId, "number");
  return true;
}

describe("ThreadPool", () => {
  test("runs tasks on threads and returns their results", async () => {
    await withPool({}, async (pool) => {
      assert.equal(await pool.run(41), 42);
      assert.deepEqual(await pool.run({ op: "echo", value: { a: [1, "two"], b: null } }), {
        a: [1, "two"],
        b: null,
      });
      assert.equal(await pool.run({ op: "sleep", ms: 5, value: "late" }), "late");
      const stats = pool.stats;
      assert.equal(stats.threads, 2);
      assert.equal(stats.completed, 3);
      assert.equal(stats.failed, 0);
      assert.equal(stats.queueSize, 0);
      assert.equal(stats.inFlight, 0);
    });
  });

  test("a handler that throws or rejects fails only its own task, with its message", async () => {
    await withPool({}, async (pool) => {
      const results = await Promise.allSettled([
        pool.run(1),
        pool.run({ op: "throw", value: 7 }),
        pool.run(2),
        pool.run({ op: "reject", value: 8 }),
        pool.run(3),
      ]);
      assert.deepEqual(results.map((r) => r.status), [
        "fulfilled",
        "rejected",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      await assert.rejects(pool.run({ op: "throw", value: 7 }), isTaskError("Bad value 7", "TypeError"));
      await assert.rejects(
        pool.run({ op: "reject", value: 8 }),
        isTaskError("Rejected value 8", "RangeError"),
      );
      await assert.rejects(pool.run({ op: "function" }), (e: unknown) => {
        assert.ok(e instanceof TaskError);
        assert.match(e.message, /could not be sent back from thread/);
        return true;
      });
      assert.equal(await pool.run(9), 10);
      assert.equal(pool.stats.restarts, 0);
    });
  });

  test("transferred buffers move: the sender's ArrayBuffer is detached", async () => {
    await withPool({}, async (pool) => {
      const bytes = new Uint8Array(4096).fill(3);
      const pending = pool.run({ op: "sum", bytes, reply: 100 }, { transfer: [bytes.buffer] });
      await Promise.resolve();
      await Promise.resolve();
      assert.equal(bytes.buffer.byteLength, 0, "the buffer should be detached once sent");
      assert.equal(bytes.byteLength, 0);
      const result = await pending as { sum: number; length: number; out: Uint8Array };
      assert.equal(result.sum, 3 * 4096);
      assert.equal(result.length, 4096);
      assert.equal(result.out.byteLength, 100);
      assert.equal(result.out[99], 7);

      // A whole view may be listed itself; a partial view may not.
      const whole = new Uint8Array(8).fill(1);
      assert.equal(
        (await pool.run({ op: "sum", bytes: whole, reply: 1 }, { transfer: [whole] }) as { sum: number }).sum,
        8,
      );
      assert.equal(whole.buffer.byteLength, 0);
      const chunk = new Uint8Array(1024).fill(2);
      const frame = chunk.subarray(16, 80);
      await assert.rejects(
        pool.run({ op: "sum", bytes: frame, reply: 1 }, { transfer: [frame] }),
        (e: unknown) => e instanceof TypeError && /64 bytes at offset 16 of a 1024-byte buffer/.test(e.message),
      );
      const own = ownBytes(frame);
      assert.notEqual(own.buffer, chunk.buffer);
      assert.equal(own.byteLength, 64);
      assert.equal(ownBytes(own), own);
      assert.equal(
        (await pool.run({ op: "sum", bytes: own, reply: 1 }, { transfer: [own.buffer] }) as { sum: number })
          .sum,
        128,
      );
      assert.equal(own.buffer.byteLength, 0);
      assert.equal(chunk.buffer.byteLength, 1024, "the chunk around the frame is untouched");
      // A buffer that was already moved fails that task only.
      const results = await Promise.allSettled([
        pool.run(1),
        pool.run({ op: "sum", bytes: own, reply: 1 }, { transfer: [own.buffer] }),
        pool.run(2),
      ]);
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    });
  });

  test("tasks of one key run in order and never overlap, across threads and under load", async () => {
    await withPool({ size: 3, maxInFlightPerThread: 16 }, async (pool) => {
      const keys = 24;
      const perKey = 150;
      const runs: Promise<unknown>[] = [];
      const threadsOfKey = new Map<number, Set<unknown>>();
      for (let seq = 0; seq < perKey; seq++) {
        for (let key = 0; key < keys; key++) {
          runs.push(
            pool.run({ op: "ordered", seq, asyncEvery: 5 }, { key: `conn-${key}` }).then((threadId) => {
              let set = threadsOfKey.get(key);
              if (!set) threadsOfKey.set(key, set = new Set());
              set.add(threadId);
            }),
          );
          if (key % 7 === 0) runs.push(pool.run(seq));
        }
        if (seq % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(runs);
      const allThreads = new Set<unknown>();
      for (const [key, set] of threadsOfKey) {
        assert.equal(set.size, 1, `key ${key} ran on ${set.size} threads`);
        for (const t of set) allThreads.add(t);
      }
      assert.ok(allThreads.size >= 2, `the keys should spread over the threads; used ${allThreads.size}`);
      assert.equal(pool.stats.failed, 0);
    });
  });

  for (const op of ["crash", "unhandled"] as const) {
    const what = op === "crash" ? "an uncaught error" : "an unhandled rejection";
    test(`a thread killed by ${what} is replaced; its in-flight tasks fail, others succeed`, async () => {
      await withPool({ size: 2 }, async (pool) => {
        // Numeric keys go to thread slot key % size: key 0 to the first thread, key 1 to the other.
        const before = await pool.run({ op: "thread" }, { key: 0 });
        const other = Array.from(
          { length: 50 },
          (_, i) => pool.run({ op: "sleep", ms: i % 3, value: i }, { key: 1 }),
        );
        const crash = assert.rejects(pool.run({ op, value: "A" }, { key: 0 }), (e: unknown) => {
          isCrash(e);
          assert.equal((e as ThreadCrashedError).threadId, before);
          assert.match((e as Error).message, /Thread crash A/);
          return true;
        });
        const behind = assert.rejects(pool.run({ op: "echo", value: "behind" }, { key: 0 }), isCrash);
        await crash;
        await behind;
        assert.deepEqual(await Promise.all(other), Array.from({ length: 50 }, (_, i) => i));
        const after = await pool.run({ op: "thread" }, { key: 0 });
        assert.notEqual(after, before, "a new thread runs key 0");
        assert.equal(await pool.run(1, { key: 0 }), 2);
        assert.equal(pool.stats.restarts, 1);
      });
    });
  }

  const exits: ("process" | "deno" | "close")[] = RUNTIME === "deno"
    ? ["process", "deno", "close"]
    : RUNTIME === "bun"
    ? ["process", "close"]
    : ["process"];
  for (const how of exits) {
    const call = how === "process" ? "process.exit" : how === "deno" ? "Deno.exit" : "self.close";
    test(`a thread that calls ${call} is replaced, and its in-flight tasks fail`, async () => {
      await withPool({ size: 2 }, async (pool) => {
        const before = await pool.run({ op: "thread" }, { key: 0 });
        const other = Array.from({ length: 20 }, (_, i) => pool.run(i, { key: 1 }));
        const pending = assert.rejects(
          pool.run({ op: "sleep", ms: 500, value: "never" }, { key: 2 }),
          isCrash,
        );
        const exit = assert.rejects(pool.run({ op: "exit", how, code: 7 }, { key: 0 }), (e: unknown) => {
          isCrash(e);
          if (how !== "close") assert.equal((e as ThreadCrashedError).exitCode, 7);
          return true;
        });
        await exit;
        await pending;
        assert.deepEqual(await Promise.all(other), Array.from({ length: 20 }, (_, i) => i + 1));
        assert.notEqual(await pool.run({ op: "thread" }, { key: 0 }), before);
        assert.equal(await pool.run(5, { key: 2 }), 6);
        assert.equal(pool.stats.restarts, 1);
      });
    });
  }

  test("a full queue rejects with QueueFullError, and whenQueueBelow resolves as it drains", async () => {
    await withPool({ size: 1, maxQueue: 10, maxInFlightPerThread: 1 }, async (pool) => {
      const runs = Array.from({ length: 10 }, (_, i) => pool.run({ op: "sleep", ms: 2, value: i }));
      assert.equal(pool.queueSize, 10);
      await assert.rejects(pool.run(1), (e: unknown) => {
        assert.ok(e instanceof QueueFullError);
        assert.equal(e.code, "QUEUE_FULL");
        assert.equal(e.queueSize, 10);
        assert.equal(e.maxQueue, 10);
        assert.match(e.message, /10 tasks wait and maxQueue is 10/);
        return true;
      });
      await pool.whenQueueBelow(5);
      assert.ok(pool.queueSize < 5);
      assert.equal(await pool.run({ op: "echo", value: "fits" }), "fits");
      assert.deepEqual(await Promise.all(runs), Array.from({ length: 10 }, (_, i) => i));
      await pool.whenQueueBelow(1);
    });
  });

  test("an aborted task stops waiting; a queued one never runs", async () => {
    await withPool({ size: 1, maxInFlightPerThread: 1 }, async (pool) => {
      const first = pool.run({ op: "sleep", ms: 30, value: "first" });
      const controller = new AbortController();
      const queued = pool.run({ op: "echo", value: "queued" }, { signal: controller.signal });
      controller.abort(new Error("Not needed any more"));
      await assert.rejects(queued, /Not needed any more/);
      assert.equal(pool.queueSize, 0);
      assert.equal(await first, "first");
      assert.equal(await pool.run(1), 2);
    });
  });

  test("close() lets queued and in-flight tasks finish, then refuses new ones", async () => {
    const pool = new ThreadPool<FixtureTask, unknown>({ module: TASKS, size: 2, maxInFlightPerThread: 2 });
    const runs = Array.from({ length: 20 }, (_, i) => pool.run({ op: "sleep", ms: 5, value: i }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(pool.stats.inFlight > 0 || pool.queueSize > 0);
    await pool.close();
    assert.deepEqual(await Promise.all(runs), Array.from({ length: 20 }, (_, i) => i));
    await assert.rejects(
      pool.run(1),
      (e: unknown) => e instanceof PoolClosedError && e.code === "POOL_CLOSED",
    );
    await pool.close();
  });

  test("terminate() and the pool's signal fail queued and running tasks with PoolClosedError", async () => {
    const pool = new ThreadPool<FixtureTask, unknown>({ module: TASKS, size: 1, maxInFlightPerThread: 2 });
    await pool.ready();
    const runs = Array.from({ length: 6 }, () => pool.run({ op: "sleep", ms: 10_000, value: 0 }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(pool.stats.inFlight, 2);
    assert.equal(pool.queueSize, 4);
    const settled = Promise.allSettled(runs);
    await pool.terminate();
    const results = await settled;
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.ok(r.reason instanceof PoolClosedError);
    }
    assert.match(
      String((results[0] as PromiseRejectedResult).reason.message),
      /while the task ran on thread/,
    );
    assert.match(String((results[5] as PromiseRejectedResult).reason.message), /before the task started/);

    const controller = new AbortController();
    const pool2 = new ThreadPool<FixtureTask, unknown>({ module: TASKS, size: 1, signal: controller.signal });
    const pending = assert.rejects(pool2.run({ op: "sleep", ms: 10_000, value: 0 }), PoolClosedError);
    await pool2.ready();
    controller.abort();
    await pending;
    // A graceful close stuck on a task that never ends is cut short by its signal.
    const pool3 = new ThreadPool<FixtureTask, unknown>({ module: TASKS, size: 1 });
    const stuck = assert.rejects(pool3.run({ op: "sleep", ms: 10_000, value: 0 }), PoolClosedError);
    await pool3.close({ signal: AbortSignal.timeout(100) });
    await stuck;
  });

  test("a pool whose signal is already aborted starts no thread and refuses tasks", async () => {
    const pool = new ThreadPool({ module: TASKS, size: 2, signal: AbortSignal.abort() });
    assert.equal(pool.stats.threads, 0);
    await assert.rejects(pool.run(1), PoolClosedError);
    await assert.rejects(pool.ready(), PoolClosedError);
    await pool.close();
  });

  test("10,000 trivial tasks all complete", async () => {
    await withPool({}, async (pool) => {
      const runs: Promise<unknown>[] = [];
      for (let i = 0; i < 10_000; i++) runs.push(pool.run(i));
      const results = await Promise.all(runs);
      for (let i = 0; i < 10_000; i++) assert.equal(results[i], i + 1);
      assert.equal(pool.stats.completed, 10_000);
    });
  });

  test("a module that cannot load fails every task with ThreadStartError", async () => {
    const modules = [
      moduleUrl("./fixtures/no_such_module.ts", import.meta.url),
      moduleUrl("./fixtures/no_handler.ts", import.meta.url),
    ];
    for (const module of modules) {
      const pool = new ThreadPool({ module, size: 1 });
      const run = pool.run(1);
      await assert.rejects(
        run,
        (e: unknown) => e instanceof ThreadStartError && e.code === "THREAD_START_FAILED",
      );
      await assert.rejects(pool.ready(), ThreadStartError);
      await assert.rejects(pool.run(2), ThreadStartError);
      await pool.close();
    }
  });

  test("bad options get clear errors", () => {
    assert.throws(
      () => new ThreadPool({ module: TASKS, size: 0 }),
      /Thread pool size must be a whole number, 1 or more, got 0/,
    );
    assert.throws(
      () => new ThreadPool({ module: TASKS, maxQueue: -1 }),
      /maxQueue\) must be a whole number, 0 or more, or Infinity, got -1/,
    );
    assert.throws(
      () => new ThreadPool({ module: TASKS, maxInFlightPerThread: 1.5 }),
      /maxInFlightPerThread\) .*, got 1\.5/,
    );
    assert.throws(
      () => new ThreadPool({ module: "./tasks.ts" }),
      /Thread pool module must be a URL or an absolute path, got "\.\/tasks\.ts"/,
    );
    assert.throws(
      () => new ThreadPool({ module: TASKS, size: 1, signal: 5 as unknown as AbortSignal }),
      TypeError,
    );
  });

  test("moduleUrl keeps the file extension in step with the caller", () => {
    assert.equal(moduleUrl("./h.ts", "file:///app/main.ts").href, "file:///app/h.ts");
    assert.equal(moduleUrl("./h.ts", "file:///app/main.js").href, "file:///app/h.js");
    assert.equal(moduleUrl("../lib/h.mts", "file:///app/src/main.mjs").href, "file:///app/lib/h.mjs");
    assert.equal(moduleUrl("./h.js", "file:///app/main.ts").href, "file:///app/h.js");
  });
});
