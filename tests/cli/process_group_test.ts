/**
 * `serve … --processes 2`: a supervisor and two workers on one port, as separate processes
 * of this runtime (SO_REUSEPORT on Deno and Bun, node:cluster on Node 20). The spread of
 * connections, a worker killed with SIGKILL, a drain on SIGTERM with frames in flight, and a
 * SIGHUP that replaces the workers while a client keeps connecting.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnCli, waitFor } from "./_helpers.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { sleep } from "../helpers/net.ts";
import process from "node:process";
import { listenerMigration } from "../../src/platform/process.ts";
import { workerArguments } from "../../src/cli/serve_group.ts";
import { formatStatsLine } from "../../src/cli/server_output.ts";
import { sumTotals, type TrafficTotals } from "../../src/cli/traffic_counter.ts";

type Record = { event: string; message: string; [field: string]: unknown };

/** A group started with `serve echo --framing lines --processes 2`, read as JSON lines. */
function startGroup(extra: string[] = []) {
  const running = spawnCli([
    "serve",
    "echo",
    "--framing",
    "lines",
    "--processes",
    "2",
    "--port",
    "0",
    "--json",
    ...extra,
  ]);
  const records = (): Record[] =>
    running.result.out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record);
  const find = (event: string, where: (r: Record) => boolean = () => true) =>
    records().find((r) => r.event === event && where(r));
  const describeState = () => `stdout ${running.result.out.slice(-3000)}\nstderr ${running.result.err.slice(-2000)}`;
  return {
    ...running,
    records,
    find,
    describeState,
    async listening(): Promise<{ port: number; pids: number[] }> {
      await waitFor(() => find("listening") !== undefined, `the group's listening line; ${describeState()}`, 60_000);
      const line = find("listening")!;
      return { port: line.port as number, pids: (line.workers as { pid: number }[]).map((w) => w.pid) };
    },
    async stop(): Promise<void> {
      if (running.result.code === undefined) process.kill(running.result.child.pid!, "SIGTERM");
      await running.exited;
    },
  };
}

/** A line client that counts the lines it got back. */
class EchoClient {
  received = 0;
  closed = false;
  #text = "";
  readonly stream: Stream;
  constructor(stream: Stream) {
    this.stream = stream;
    const decoder = new TextDecoder();
    stream.setHandlers({
      onData: (chunk) => {
        this.#text += decoder.decode(chunk, { stream: true });
        const lines = this.#text.split("\n");
        this.#text = lines.pop()!;
        this.received += lines.length;
      },
      onClose: () => (this.closed = true),
    });
  }
  static async connect(port: number): Promise<EchoClient> {
    const transport = await defaultTransport();
    return new EchoClient(await transport.connect({ hostname: "127.0.0.1", port, timeoutMs: 5000 }));
  }
  get localPort(): number {
    return this.stream.localAddr.port;
  }
  async echo(line = "ping", ms = 5000): Promise<void> {
    const before = this.received;
    this.stream.write(new TextEncoder().encode(line + "\n"));
    await waitFor(() => this.received > before, `the echo of ${line} on :${this.localPort}`, ms);
  }
}

/** The worker that each client port was accepted by, from the group's `open` records. */
function workersByPort(records: Record[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of records) {
    if (r.event !== "open") continue;
    out.set(Number(String(r.remote).split(":").pop()), r.worker as number);
  }
  return out;
}

describe("serve --processes", { timeout: 180_000 }, () => {
  test("200 connections spread over 2 workers, with metrics per worker and for the group", async () => {
    const group = startGroup(["--metrics-port", "0"]);
    try {
      const { port } = await group.listening();
      await waitFor(() => group.find("metrics") !== undefined, `the metrics line; ${group.describeState()}`);
      const metricsUrl = `http://${group.find("metrics")!.address}/metrics`;
      for (let batch = 0; batch < 10; batch++) {
        const clients = await Promise.all(Array.from({ length: 20 }, () => EchoClient.connect(port)));
        await Promise.all(clients.map((c) => c.echo()));
        for (const c of clients) c.stream.reset();
      }
      await waitFor(() => group.records().filter((r) => r.event === "open").length === 200, "200 open records");
      const perWorker = [1, 2].map((id) => group.records().filter((r) => r.event === "open" && r.worker === id).length);
      for (const count of perWorker) assert.ok(count >= 70, `each worker gets at least 35% of 200; got ${perWorker}`);

      // Each worker reports its totals once a second; the group's sum is what the client did.
      let metrics = "";
      for (let tries = 0; tries < 30 && !/sockmodels_accepted_total\{worker="all"\} 200\n/.test(metrics); tries++) {
        metrics = await (await fetch(metricsUrl)).text();
        await sleep(500);
      }
      assert.match(metrics, /sockmodels_accepted_total\{worker="all"\} 200\n/);
      assert.match(metrics, /sockmodels_frames_in_total\{worker="all"\} 200\n/);
      assert.match(metrics, /sockmodels_frames_out_total\{worker="all"\} 200\n/);
      for (const [index, count] of perWorker.entries()) {
        assert.match(metrics, new RegExp(`sockmodels_accepted_total\\{worker="${index + 1}"\\} ${count}\\n`));
      }
      assert.match(metrics, /sockmodels_handler_seconds_count\{worker="all"\} 200\n/);
      assert.match(metrics, /sockmodels_handler_seconds_bucket\{worker="1",le="\+Inf"\} \d+\n/);
    } finally {
      await group.stop();
    }
    const stopped = group.find("stopped", (r) => r.worker === undefined);
    assert.ok(stopped, `a stopped record; ${group.describeState()}`);
    assert.equal(stopped.accepted, 200);
    assert.equal(group.result.code, 0);
  });

  test("kill -9 of one worker: the other keeps its connections, and the worker is replaced", async () => {
    const group = startGroup();
    try {
      const { port, pids } = await group.listening();
      const clients = await Promise.all(Array.from({ length: 30 }, () => EchoClient.connect(port)));
      await Promise.all(clients.map((c) => c.echo()));
      await waitFor(() => workersByPort(group.records()).size === 30, "30 open records");
      const byPort = workersByPort(group.records());
      const survivors = clients.filter((c) => byPort.get(c.localPort) === 1);
      const victims = clients.filter((c) => byPort.get(c.localPort) === 2);
      assert.ok(survivors.length > 0 && victims.length > 0, `both workers got clients: ${survivors.length}/30 on 1`);

      process.kill(pids[1], "SIGKILL");
      await waitFor(() => group.find("worker-died") !== undefined, `the death report; ${group.describeState()}`);
      const died = group.find("worker-died")!;
      assert.equal(died.worker, 2);
      assert.equal(died.signal, "SIGKILL");
      assert.match(died.message, /worker 2 \(pid \d+\) died \(signal SIGKILL\); restarting it in \d+ ms/);
      await waitFor(() => victims.every((c) => c.closed), "the killed worker's clients to see their connections end");

      // Every connection on the survivor still works, many times over.
      for (let round = 0; round < 5; round++) await Promise.all(survivors.map((c) => c.echo(`after ${round}`)));
      assert.ok(survivors.every((c) => !c.closed));

      await waitFor(
        () => group.find("worker-ready", (r) => r.worker === 2 && r.pid !== pids[1]) !== undefined,
        `a new worker 2; ${group.describeState()}`,
        30_000,
      );
      const replacement = group.find("worker-ready", (r) => r.worker === 2 && r.pid !== pids[1])!;
      assert.equal(replacement.generation, 2);
      // New connections reach the replacement too.
      let onReplacement = 0;
      for (let i = 0; i < 60 && onReplacement === 0; i++) {
        const c = await EchoClient.connect(port);
        await c.echo();
        await waitFor(() => workersByPort(group.records()).has(c.localPort), "its open record");
        if (group.records().some((r) => r.event === "open" && r.pid === replacement.pid)) onReplacement++;
        c.stream.reset();
      }
      assert.equal(onReplacement, 1, "a new connection reached the replacement worker");
      for (const c of survivors) c.stream.reset();
    } finally {
      await group.stop();
    }
    assert.equal(group.result.code, 0);
  });

  test("SIGTERM with frames in flight: every frame the workers received is answered before they exit", async () => {
    const group = startGroup();
    const { port } = await group.listening();
    const clients = await Promise.all(Array.from({ length: 20 }, () => EchoClient.connect(port)));
    await Promise.all(clients.map((c) => c.echo()));
    const line = new TextEncoder().encode("x".repeat(99) + "\n");
    for (const c of clients) for (let i = 0; i < 400; i++) c.stream.write(line);
    await waitFor(() => clients.some((c) => c.received > 50), "replies to start");
    process.kill(group.result.child.pid!, "SIGTERM");
    await group.exited;
    await waitFor(() => clients.every((c) => c.closed), "every connection to be closed by the drain", 15_000);
    const stopped = group.find("stopped", (r) => r.worker === undefined);
    assert.ok(stopped, `a stopped record; ${group.describeState()}`);
    const received = clients.reduce((n, c) => n + c.received, 0);
    assert.equal(stopped.messagesOut, stopped.messagesIn, "each frame received was answered");
    assert.equal(received, stopped.messagesOut, "each answer reached its client");
    assert.ok(received >= 20 + 50, `frames were in flight: ${received} answered`);
    assert.equal(group.result.code, 0);
  });

  test("SIGTERM to every process at once, as a service manager sends it: each worker still drains", async () => {
    const group = startGroup();
    const { port, pids } = await group.listening();
    const clients = await Promise.all(Array.from({ length: 10 }, () => EchoClient.connect(port)));
    await Promise.all(clients.map((c) => c.echo()));
    const line = new TextEncoder().encode("y".repeat(99) + "\n");
    for (const c of clients) for (let i = 0; i < 300; i++) c.stream.write(line);
    await waitFor(() => clients.some((c) => c.received > 20), "replies to start");
    for (const pid of [group.result.child.pid!, ...pids]) process.kill(pid, "SIGTERM");
    await group.exited;
    await waitFor(() => clients.every((c) => c.closed), "every connection to be closed by the drain", 15_000);
    const stopped = group.find("stopped", (r) => r.worker === undefined);
    assert.ok(stopped, `a stopped record; ${group.describeState()}`);
    assert.equal(stopped.messagesOut, stopped.messagesIn);
    assert.equal(clients.reduce((n, c) => n + c.received, 0), stopped.messagesOut);
    assert.equal(group.result.code, 0);
    assert.equal(group.find("worker-died"), undefined);
  });

  test("kill -9 of the supervisor: the orphaned workers drain and exit", async () => {
    const group = startGroup();
    const { pids } = await group.listening();
    process.kill(group.result.child.pid!, "SIGKILL");
    await group.exited;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => pids.every((pid) => !alive(pid)), `workers ${pids} to exit`, 10_000);
  });

  test("SIGHUP replaces the workers while a client connects in a loop, and no connect is refused", async () => {
    const group = startGroup();
    let looping = true;
    try {
      const { port, pids } = await group.listening();
      let served = 0;
      const failures: string[] = [];
      const loop = async () => {
        while (looping) {
          try {
            const c = await EchoClient.connect(port);
            await c.echo("hello", 10_000);
            c.stream.reset();
            served++;
          } catch (error) {
            failures.push((error as Error).message);
          }
        }
      };
      if (group.find("listening")!.sharing === "reuse-port") {
        assert.equal(
          listenerMigration(),
          true,
          "a closing SO_REUSEPORT listener resets its queued connections unless: sysctl -w net.ipv4.tcp_migrate_req=1",
        );
      }
      const loops = [loop(), loop(), loop(), loop()];
      await waitFor(() => served > 20, "the loop to get going");
      process.kill(group.result.child.pid!, "SIGHUP");
      await waitFor(
        () => group.find("rolled") !== undefined,
        `the workers to be replaced; ${group.describeState()}`,
        60_000,
      );
      const before = served;
      await waitFor(() => served > before + 20, "the loop to go on after the roll");
      looping = false;
      await Promise.all(loops);
      assert.deepEqual(failures, []);
      const rolled = group.find("rolled")!;
      const newPids = (rolled.workers as { pid: number }[]).map((w) => w.pid);
      assert.equal(newPids.length, 2);
      for (const pid of newPids) assert.ok(!pids.includes(pid), `worker pid ${pid} is new`);
      assert.ok(
        group.records().some((r) => r.event === "open" && newPids.includes(r.pid as number)),
        "the new workers served the loop",
      );
      assert.equal(group.find("worker-died"), undefined, "no worker died");
    } finally {
      looping = false;
      await group.stop();
    }
    assert.equal(group.result.code, 0);
  });

  test("a group that cannot listen exits with code 1 and says why, leaving no worker behind", async () => {
    const transport = await defaultTransport();
    const taken = await transport.listen({ hostname: "127.0.0.1", port: 0, onAccept: (s) => s.reset() });
    try {
      const running = spawnCli(["serve", "echo", "--processes", "2", "--port", String(taken.addr.port)]);
      assert.equal(await running.exited, 1);
      assert.match(
        running.result.err,
        new RegExp(`Cannot start 2 workers: Worker 1 ended before it listened: .*127\\.0\\.0\\.1:${taken.addr.port}`),
      );
      assert.doesNotMatch(running.result.out, /restarting/);
    } finally {
      await taken.close();
    }
  });

  test("chat says how its rooms span the workers", async () => {
    const running = spawnCli(["serve", "chat", "--processes", "2", "--port", "0", "--json"]);
    try {
      await waitFor(() => /"event":"listening".*"processes":2/.test(running.result.out), "the group's listening line");
      assert.match(running.result.out, /chat rooms span the 2 workers through the group's channel/);
    } finally {
      process.kill(running.result.child.pid!, "SIGTERM");
      await running.exited;
    }
  });

  test("bad --processes values are refused", async () => {
    for (const value of ["0", "1.5", "two"]) {
      const running = spawnCli(["serve", "echo", "--processes", value]);
      assert.equal(await running.exited, 2);
      assert.match(running.result.err, new RegExp(`Processes must be .*got "${value.replace(".", "\\.")}"`));
    }
  });

  test("omok refuses --processes, since a game lives in one process", async () => {
    const running = spawnCli(["serve", "omok", "--processes", "2", "--port", "0"]);
    assert.equal(await running.exited, 2);
    assert.match(running.result.err, /Omok keeps each game in one process.*--processes must be 1, got 2/);
  });
});

describe("process group helpers", () => {
  test("workerArguments drops the group's own options and listens on the group's port", () => {
    assert.deepEqual(
      workerArguments(
        ["echo", "--processes", "2", "--port=0", "--json", "--metrics-port", "9100", "--quiet", "-h"],
        4100,
      ),
      ["serve", "echo", "-h", "--port", "4100", "--json"],
    );
    assert.deepEqual(
      workerArguments(["chat", "--framing", "lp4", "--processes=auto", "--port", "9000"], 9000),
      ["serve", "chat", "--framing", "lp4", "--port", "9000", "--json"],
    );
  });

  test("sumTotals adds counts, keyed counts and histograms; the stats line breaks down by worker", () => {
    const one = (n: number): TrafficTotals => ({
      connections: n,
      accepted: n * 2,
      messagesIn: n * 10,
      messagesOut: n * 10,
      bytesIn: n * 100,
      bytesOut: n * 100,
      errors: 1,
      errorsByCode: { ECONNRESET: 1 },
      queuedBytes: 0,
      tls: { "TLSv1.3": n },
      handler: { counts: [n, 0, 1], count: n + 1, sumSeconds: 0.5 },
    });
    const sum = sumTotals([one(3), one(4)]);
    assert.equal(sum.connections, 7);
    assert.equal(sum.accepted, 14);
    assert.deepEqual(sum.errorsByCode, { ECONNRESET: 2 });
    assert.deepEqual(sum.tls, { "TLSv1.3": 7 });
    assert.deepEqual(sum.handler!.counts.slice(0, 3), [7, 0, 2]);
    assert.equal(sum.handler!.count, 9);
    const line = formatStatsLine(
      {
        ...sum,
        workers: [
          { worker: 1, pid: 10, connections: 3, accepted: 6, messagesIn: 30, messagesOut: 30 },
          { worker: 2, pid: 11, connections: 4, accepted: 8, messagesIn: 40, messagesOut: 40 },
        ],
      },
      70,
      70,
    );
    assert.match(line, /^7 connections \| .* \| per worker: \[1\] 3, \[2\] 4$/);
  });
});
