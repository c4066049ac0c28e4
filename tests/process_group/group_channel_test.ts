/**
 * The process group's channel: what any worker publishes, every worker receives, in one order
 * for all; a worker that stops reading is killed and replaced rather than buffered for.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { joinGroupChannel, type PortSharing, startProcessGroup } from "../../src/process_group/mod.ts";
import { detectRuntime } from "../../src/runtime/detect.ts";
import { runtimeExecutable } from "../../src/cli/cli_location.ts";
import { filePathOf } from "../../src/platform/process.ts";
import { until } from "../helpers/net.ts";

const runtime = detectRuntime();
const script = filePathOf(
  new URL(`../helpers/group_channel_worker${import.meta.url.endsWith(".js") ? ".js" : ".ts"}`, import.meta.url),
);
const sharing: PortSharing = runtime === "node" ? "cluster" : "reuse-port";
const command = (args: string[]) => () => ({
  command: runtimeExecutable(runtime),
  args: runtime === "deno" ? ["run", "-A", script, ...args] : [script, ...args],
});

describe("process group channel", { timeout: 120_000 }, () => {
  test("every worker receives every record once, in the same order", async () => {
    const got = new Map<number, { seq: number; from: number; n: number }[]>();
    const group = await startProcessGroup({
      processes: 3,
      port: 0,
      sharing,
      channel: {},
      command: command(["talk", "200", "50"]),
      onRecord(worker, record) {
        if (record.event !== "got") return;
        const data = record.data as { n: number };
        if (!got.has(worker.id)) got.set(worker.id, []);
        got.get(worker.id)!.push({ seq: record.seq as number, from: record.from as number, n: data.n });
      },
    });
    try {
      // Workers start one after another, so each sees what was published from its start on:
      // at least its own 200, and the same tail of the one log as every other worker.
      await until(() => [1, 2, 3].every((id) => (got.get(id)?.length ?? 0) >= 200), "records on every worker");
      // Worker 1, the first to start, gets all 600; the others end at the same record. The
      // supervisor's records of workers starting take sequence numbers of their own.
      await until(() => got.get(1)?.length === 600, "600 records on worker 1");
      const last = got.get(1)!.at(-1)!.seq;
      await until(() => [2, 3].every((id) => got.get(id)?.at(-1)?.seq === last), "the last record on every worker");
      const first = got.get(1)!;
      assert.ok(first.every((r, i) => i === 0 || r.seq > first[i - 1].seq), "sequence numbers rise");
      for (const from of [1, 2, 3]) {
        const own = first.filter((r) => r.from === from).map((r) => r.n);
        assert.deepEqual(own, Array.from({ length: 200 }, (_, i) => i), `worker ${from}'s records in its order`);
      }
      for (const id of [2, 3]) {
        const seen = got.get(id)!;
        const tail = first.slice(first.length - seen.length);
        assert.deepEqual(seen, tail, `worker ${id} saw the same order as worker 1`);
      }
    } finally {
      await group.stop();
    }
  });

  test("a worker that stops reading is killed and replaced, and says why", async () => {
    const exits: { id: number; stderr: string; expected: boolean }[] = [];
    let talkerStarted = false;
    const group = await startProcessGroup({
      processes: 2,
      port: 0,
      sharing,
      channel: { maxQueuedBytes: 256 * 1024 },
      restartBackoff: { baseMs: 50, capMs: 100 },
      // Worker 1 stalls; worker 2 talks, once, a megabyte's worth.
      command: () => {
        const talk = talkerStarted;
        talkerStarted = true;
        return command(talk ? ["talk", "100", "10000"] : ["stall"])();
      },
      onExit: (worker, exit) => exits.push({ id: worker.id, stderr: exit.stderr, expected: exit.expected }),
    });
    try {
      await until(() => exits.some((e) => e.id === 1), "the stalled worker to be killed");
      const killed = exits.find((e) => e.id === 1)!;
      assert.equal(killed.expected, false);
      assert.match(killed.stderr, /fell \d+ bytes behind the group channel, above 262144/);
      await until(() => group.workers.find((w) => w.id === 1)!.generation === 2, "its replacement");
    } finally {
      await group.stop();
    }
  });

  test("joinGroupChannel outside a group is a misuse", () => {
    assert.throws(() => joinGroupChannel(() => {}), /needs a worker of a process group started with a channel/);
  });
});
